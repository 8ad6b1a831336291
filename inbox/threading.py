"""Which conversation an inbound message belongs to: one pure decision.

`decide(message, facts)` holds every rule; `plan(messages, facts)` applies it to a batch,
in order, each message seeing what the ones before it did, so a batch comes out as if its
messages had come one by one. The inbox service gathers the facts for a whole batch before
(one query phase) and writes the plan after (one write phase). Pure: plain values in and
out, no database, no clock, no asyncio.

The rules, in order:
1. Duplicate: a message held with the same (inbox, channel, external id) is this one.
2. Thread key: a channel's own key (a chat session, a Slack thread) names its conversation.
   The channel authenticated the sender, so nothing more is asked.
3. Candidates, in this order: the conversations of the message ids it answers (In-Reply-To,
   then References newest first); for email, those of messages held that answer this one
   (mail arrives out of order), oldest first; for email, those of the ticket its subject
   names (`[#1234]`) in the same inbox, most recently active first.
4. It joins the first candidate its sender takes part in: the conversation's contact, or an
   address that was on To/Cc of a message in it. A sender whose domain failed DMARC by a
   trusted authentication service (`verified` false) takes part in none.
5. Otherwise it opens a conversation of its own, linked (`replies_to`) to the first
   conversation its headers or its ticket token pointed at, if any: a stranger's mail never
   lands in, reopens or re-times someone else's conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from inbox.messages import InboundMessage

TICKET_TOKEN = re.compile(r"\[#(\d{1,9})\]")
MAX_REFERENCES = 100
"""Message ids of one message used for threading (and kept): the most specific ones."""
MAX_PARTICIPANTS = 100
"""Addresses one message adds to its conversation's participants (sender, To, Cc)."""
MAX_ADDRESS = 254


def reference_ids(in_reply_to: str | None, references: Sequence[str]) -> tuple[str, ...]:
    """The ids a message answers, most specific first, without duplicates or blanks."""
    ordered = [in_reply_to] if in_reply_to else []
    ordered.extend(reversed(references))
    seen: dict[str, None] = {}
    for ref in ordered:
        ref = ref.strip()
        if ref and ref not in seen:
            seen[ref] = None
    return tuple(seen)


def ticket_token(subject: str) -> int | None:
    """The ticket number of the last `[#1234]` token in a subject, or None."""
    found = TICKET_TOKEN.findall(subject or "")
    return int(found[-1]) if found else None


@dataclass(frozen=True, slots=True, order=True)
class New:
    """A conversation or message the batch being planned creates: the one of the message
    at `place` (its index in the batch)."""

    place: int


Ref = int | New
"""A conversation or message: its id, or the place in the batch that creates it."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """What threading reads of one inbound message (see `incoming`)."""

    inbox_id: int
    channel: str
    external_id: str
    thread_key: str | None = None
    references: tuple[str, ...] = ()
    sender: str | None = None
    verified: bool = True
    ticket_number: int | None = None
    participants: tuple[str, ...] = ()


def incoming(msg: InboundMessage, inbox_id: int) -> Incoming:
    """The threading view of `msg`, received by inbox `inbox_id`: addresses lower-cased,
    references most specific first (MAX_REFERENCES at most), the participants it brings
    (its sender, then To and Cc; MAX_PARTICIPANTS at most, none longer than an address can
    be), and for email the ticket number its subject names."""
    sender = _address(msg.sender_email)
    addresses = [sender, *(_address(a) for a in (*msg.to, *msg.cc))]
    participants = tuple(dict.fromkeys(a for a in addresses if a))[:MAX_PARTICIPANTS]
    return Incoming(
        inbox_id=inbox_id, channel=msg.channel, external_id=msg.external_id,
        thread_key=msg.thread_key or None,
        references=reference_ids(msg.in_reply_to, msg.references)[:MAX_REFERENCES],
        sender=sender, verified=not msg.unverified_sender,
        ticket_number=ticket_token(msg.subject) if msg.channel == "email" else None,
        participants=participants)


def _address(value: str | None) -> str | None:
    address = (value or "").strip().lower()
    return address if address and len(address) <= MAX_ADDRESS else None


@dataclass(frozen=True, slots=True)
class Known:
    """A live conversation threading may lead to: its inbox and its participants."""

    inbox_id: int
    participants: frozenset[str] = frozenset()


@dataclass
class Facts:
    """What decides where messages go, about live conversations only (but `held`).

    - `held`: (inbox, channel, external id) of a message held -> (conversation, message).
    - `by_thread_key`: (inbox, channel, thread key) -> its conversation.
    - `by_message_id`: (inbox, message id) -> the conversation of the first message held
      that carries that id (in any channel of the inbox).
    - `answered_by`: (inbox, message id) -> conversations of messages held that answer that
      id, in the order of those messages.
    - `tickets`: ticket number -> its conversations, most recently active first.
    - `conversations`: inbox and participants of every conversation named above.
    """

    held: dict[tuple[int, str, str], tuple[Ref, Ref]] = field(default_factory=dict)
    by_thread_key: dict[tuple[int, str, str], Ref] = field(default_factory=dict)
    by_message_id: dict[tuple[int, str], Ref] = field(default_factory=dict)
    answered_by: dict[tuple[int, str], tuple[Ref, ...]] = field(default_factory=dict)
    tickets: dict[int, tuple[Ref, ...]] = field(default_factory=dict)
    conversations: dict[Ref, Known] = field(default_factory=dict)

    def copy(self) -> Facts:
        """A copy that can learn without changing this one (values are immutable)."""
        return Facts(dict(self.held), dict(self.by_thread_key), dict(self.by_message_id),
                     dict(self.answered_by), dict(self.tickets), dict(self.conversations))


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The message is held already: `message` in `conversation`."""

    conversation: Ref
    message: Ref


Rule = Literal["thread_key", "references", "answered_by", "ticket_token"]


@dataclass(frozen=True, slots=True)
class Join:
    """The message joins `conversation`, by `rule`."""

    conversation: Ref
    rule: Rule


@dataclass(frozen=True, slots=True)
class Open:
    """The message opens a conversation of its own, linked to `replies_to` (or to none)."""

    replies_to: Ref | None = None


Decision = Duplicate | Join | Open


def decide(message: Incoming, facts: Facts) -> Decision:
    """Where `message` goes, by the rules of this module (see its docstring)."""
    inbox = message.inbox_id
    held = facts.held.get((inbox, message.channel, message.external_id))
    if held is not None:
        return Duplicate(*held)
    if message.thread_key:
        keyed = facts.by_thread_key.get((inbox, message.channel, message.thread_key))
        if keyed is not None:
            return Join(keyed, "thread_key")
    pointed = _unique(facts.by_message_id.get((inbox, ref)) for ref in message.references)
    answering: tuple[Ref, ...] = ()
    by_token: list[Ref] = []
    if message.channel == "email":
        answering = facts.answered_by.get((inbox, message.external_id), ())
        if message.ticket_number is not None:
            by_token = [conversation for conversation
                        in facts.tickets.get(message.ticket_number, ())
                        if _inbox_of(facts, conversation) == inbox]
    rules: tuple[tuple[Rule, Sequence[Ref]], ...] = (
        ("references", pointed), ("answered_by", answering), ("ticket_token", by_token))
    for rule, candidates in rules:
        for conversation in candidates:
            if takes_part(message, facts.conversations.get(conversation)):
                return Join(conversation, rule)
    linked = [*pointed, *by_token]
    return Open(replies_to=linked[0] if linked else None)


def takes_part(message: Incoming, conversation: Known | None) -> bool:
    """Whether the message's sender takes part in `conversation` (a live one): a verified
    sender among its participants."""
    return (conversation is not None and message.verified and message.sender is not None
            and message.sender in conversation.participants)


def _inbox_of(facts: Facts, conversation: Ref) -> int | None:
    known = facts.conversations.get(conversation)
    return None if known is None else known.inbox_id


def _unique(refs: Iterable[Ref | None]) -> list[Ref]:
    return list(dict.fromkeys(ref for ref in refs if ref is not None))


@dataclass(frozen=True, slots=True)
class Plan:
    """Decisions for the first `len(decisions)` messages of a batch, and the participants
    they add: (conversation, address) pairs not known before."""

    decisions: tuple[Decision, ...]
    participants: tuple[tuple[Ref, str], ...]


def plan(messages: Sequence[Incoming], facts: Facts) -> Plan:
    """Decide each message in order, as if the ones before it were stored already:
    what they opened, joined and brought (ids, references, thread keys, participants) is
    learnt before the next is decided. `facts` is left unchanged.

    Stops early, before a message whose ticket token names a ticket `facts` do not know
    while messages before it open conversations: the tickets made for those when they are
    written may be that one. The caller writes the plan, gathers facts again and plans the
    rest.
    """
    work = facts.copy()
    decisions: list[Decision] = []
    participants: list[tuple[Ref, str]] = []
    for place, message in enumerate(messages):
        if _may_name_a_new_ticket(message, work) and any(
                isinstance(decision, Open) for decision in decisions):
            break
        decision = decide(message, work)
        decisions.append(decision)
        participants.extend(_learn(work, place, message, decision))
    return Plan(tuple(decisions), tuple(participants))


def _may_name_a_new_ticket(message: Incoming, facts: Facts) -> bool:
    return (message.channel == "email" and message.ticket_number is not None
            and message.ticket_number not in facts.tickets)


def _learn(facts: Facts, place: int, message: Incoming,
           decision: Decision) -> list[tuple[Ref, str]]:
    """Teach `facts` what storing `message` as decided does; returns the participants it
    adds."""
    if isinstance(decision, Duplicate):
        return []
    inbox = message.inbox_id
    if isinstance(decision, Open):
        conversation: Ref = New(place)
        known = Known(inbox)
        if message.thread_key:
            facts.by_thread_key[(inbox, message.channel, message.thread_key)] = conversation
    else:
        conversation = decision.conversation
        known = facts.conversations.get(conversation) or Known(inbox)
        _now_most_recent(facts, conversation)
    facts.held[(inbox, message.channel, message.external_id)] = (conversation, New(place))
    facts.by_message_id.setdefault((inbox, message.external_id), conversation)
    for ref in message.references:
        answering = facts.answered_by.get((inbox, ref), ())
        if conversation not in answering:
            facts.answered_by[(inbox, ref)] = (*answering, conversation)
    added = [a for a in message.participants if a not in known.participants]
    facts.conversations[conversation] = Known(known.inbox_id, known.participants | set(added))
    return [(conversation, address) for address in added]


def _now_most_recent(facts: Facts, conversation: Ref) -> None:
    """A conversation that got a message is its ticket's most recently active."""
    for number, conversations in facts.tickets.items():
        if conversation in conversations and conversations[0] != conversation:
            facts.tickets[number] = (conversation, *(c for c in conversations
                                                     if c != conversation))
