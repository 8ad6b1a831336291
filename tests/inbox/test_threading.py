"""Threading as a table: one row per rule of `inbox.threading` and per combination worth
telling apart. Pure values in, pure values out."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from inbox.messages import InboundMessage
from inbox.threading import (
    MAX_PARTICIPANTS,
    MAX_REFERENCES,
    Duplicate,
    Facts,
    Incoming,
    Join,
    Known,
    New,
    Open,
    decide,
    incoming,
    plan,
)

INBOX, OTHER_INBOX = 1, 2
ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
MALLORY = "mallory@evil.example"

# Conversations: 10 is alice's (bob was on Cc of a message in it), 30 a chat session, 40
# mallory's own, 50 carol's (merged into ticket 8 with alice's), 60 alice's in another inbox.
FACTS = Facts(
    held={(INBOX, "email", "held@x"): (10, 100)},
    by_thread_key={(INBOX, "chat", "session-1"): 30},
    by_message_id={(INBOX, "alice-1@x"): 10, (INBOX, "fd.m7.0123456789@ours"): 10,
                   (INBOX, "mallory-1@x"): 40, (INBOX, "carol-1@x"): 50},
    answered_by={(INBOX, "early@x"): (10,), (INBOX, "both@x"): (40, 10)},
    tickets={7: (10,), 8: (50, 10), 9: (60,)},
    conversations={10: Known(INBOX, frozenset({ALICE, BOB})), 30: Known(INBOX),
                   40: Known(INBOX, frozenset({MALLORY})), 50: Known(INBOX, frozenset({CAROL})),
                   60: Known(OTHER_INBOX, frozenset({ALICE}))},
)


def mail(external_id: str = "new@x", *, sender: str | None = ALICE, channel: str = "email",
         refs: tuple[str, ...] = (), ticket: int | None = None, verified: bool = True,
         thread_key: str | None = None, cc: tuple[str, ...] = ()) -> Incoming:
    participants = tuple(a for a in (sender, *cc) if a)
    return Incoming(INBOX, channel, external_id, thread_key=thread_key, references=refs,
                    sender=sender, verified=verified, ticket_number=ticket,
                    participants=participants)


@pytest.mark.parametrize("message, expected", [
    # Nothing relates to it.
    (mail(), Open()),
    (mail(refs=("unknown@x",)), Open()),
    # 1. Duplicates: the same (inbox, channel, id) is the message held, whoever sends it.
    (mail("held@x"), Duplicate(10, 100)),
    (mail("held@x", sender=MALLORY, refs=("mallory-1@x",)), Duplicate(10, 100)),
    (mail("held@x", channel="chat"), Open()),
    # 2. A channel's thread key is authoritative, whoever the sender is.
    (mail(channel="chat", thread_key="session-1", sender=None), Join(30, "thread_key")),
    (mail(channel="chat", thread_key="session-1", sender=MALLORY, refs=("alice-1@x",)),
     Join(30, "thread_key")),
    (mail(channel="slack", thread_key="session-1"), Open()),
    (mail(channel="chat", thread_key="session-2"), Open()),
    # 3-4. Headers join the conversation they name when the sender takes part in it:
    # its contact, or an address that was on To/Cc of a message in it.
    (mail(refs=("alice-1@x",)), Join(10, "references")),
    (mail(refs=("unknown@x", "alice-1@x")), Join(10, "references")),
    (mail(refs=("alice-1@x",), sender=BOB), Join(10, "references")),
    (mail(refs=("fd.m7.0123456789@ours",)), Join(10, "references")),
    # 5. A stranger's reply opens a conversation of its own, linked to the one it names:
    # to alice's message, or to the agent's genuine signed Message-ID.
    (mail(refs=("alice-1@x",), sender=MALLORY), Open(replies_to=10)),
    (mail(refs=("fd.m7.0123456789@ours",), sender=MALLORY), Open(replies_to=10)),
    (mail(refs=("alice-1@x",), sender=MALLORY, cc=(ALICE,)), Open(replies_to=10)),
    (mail(refs=("alice-1@x",), sender=None), Open(replies_to=10)),
    # ... unless it names one it takes part in too: the first such joins.
    (mail(refs=("alice-1@x", "mallory-1@x"), sender=MALLORY), Join(40, "references")),
    (mail(refs=("mallory-1@x", "carol-1@x")), Open(replies_to=40)),
    # A sender that failed DMARC (by a trusted service) takes part in nothing.
    (mail(refs=("alice-1@x",), verified=False), Open(replies_to=10)),
    # Order independence (email only): a held message that answers this one.
    (mail("early@x"), Join(10, "answered_by")),
    (mail("early@x", sender=BOB), Join(10, "answered_by")),
    (mail("early@x", sender=MALLORY), Open()),
    (mail("early@x", verified=False), Open()),
    (mail("both@x"), Join(10, "answered_by")),
    (mail("both@x", sender=MALLORY), Join(40, "answered_by")),
    (mail("early@x", channel="chat"), Open()),
    # Headers come before a held message that answers this one.
    (mail("early@x", refs=("mallory-1@x",), sender=MALLORY), Join(40, "references")),
    # Ticket tokens (email only), in the message's inbox, for those who take part.
    (mail(ticket=7), Join(10, "ticket_token")),
    (mail(ticket=7, sender=BOB), Join(10, "ticket_token")),
    (mail(ticket=7, sender=MALLORY), Open(replies_to=10)),
    (mail(ticket=7, verified=False), Open(replies_to=10)),
    (mail(ticket=8), Join(10, "ticket_token")),
    (mail(ticket=8, sender=CAROL), Join(50, "ticket_token")),
    (mail(ticket=8, sender=MALLORY), Open(replies_to=50)),
    (mail(ticket=9), Open()),
    (mail(ticket=404), Open()),
    (mail(ticket=7, channel="chat"), Open()),
    # Headers first, then the token; the link goes to what the headers named.
    (mail(refs=("mallory-1@x",), ticket=7), Join(10, "ticket_token")),
    (mail(refs=("carol-1@x",), ticket=7, sender=MALLORY), Open(replies_to=50)),
    (mail(refs=("alice-1@x",), ticket=8, sender=CAROL), Join(50, "ticket_token")),
])
def test_decide(message, expected):
    assert decide(message, FACTS) == expected


@pytest.mark.parametrize("batch, expected", [
    # Someone alice Cc'd answers her message of the same batch.
    ([mail("a@x", cc=(BOB,)), mail("b@x", sender=BOB, refs=("a@x",))],
     [Open(), Join(New(0), "references")]),
    # A stranger answering it gets a conversation of its own, linked to hers.
    ([mail("a@x"), mail("b@x", sender=MALLORY, refs=("a@x",))],
     [Open(), Open(replies_to=New(0))]),
    # The same message twice in one batch.
    ([mail("a@x"), mail("a@x")], [Open(), Duplicate(New(0), New(0))]),
    ([mail("a@x", refs=("alice-1@x",)), mail("a@x")], [Join(10, "references"),
                                                      Duplicate(10, New(0))]),
    # A reply before what it answers, from someone the reply Cc'd.
    ([mail("late@x", refs=("first@x",), cc=(CAROL,)), mail("first@x", sender=CAROL)],
     [Open(), Join(New(0), "answered_by")]),
    # Participants are learnt as they come: bob joins and Cc's carol, who then answers.
    ([mail("b@x", sender=BOB, refs=("alice-1@x",), cc=(CAROL,)),
      mail("c@x", sender=CAROL, refs=("b@x",))],
     [Join(10, "references"), Join(10, "references")]),
    # A stranger's own new conversation is hers to answer in.
    ([mail("m@x", sender=MALLORY, refs=("alice-1@x",)),
      mail("m2@x", sender=MALLORY, refs=("m@x",))],
     [Open(replies_to=10), Join(New(0), "references")]),
    # A chat session opened in the batch takes the next message of the session.
    ([mail("c1", channel="chat", thread_key="s9"), mail("c2", channel="chat", thread_key="s9")],
     [Open(), Join(New(0), "thread_key")]),
    # A conversation that gets a message becomes its ticket's most recently active:
    # bob, Cc'd into carol's conversation, takes part in both of ticket 8's.
    ([mail("x@x", sender=CAROL, refs=("carol-1@x",), cc=(BOB,)),
      mail("z@x", sender=BOB, ticket=8)],
     [Join(50, "references"), Join(50, "ticket_token")]),
    ([mail("x@x", sender=CAROL, refs=("carol-1@x",), cc=(BOB,)),
      mail("y@x", refs=("alice-1@x",)), mail("z@x", sender=BOB, ticket=8)],
     [Join(50, "references"), Join(10, "references"), Join(10, "ticket_token")]),
])
def test_plan_decides_each_as_if_the_ones_before_were_stored(batch, expected):
    assert list(plan(batch, FACTS).decisions) == expected


def test_plan_leaves_the_facts_alone_and_lists_new_participants():
    before = copy.deepcopy(FACTS)
    result = plan([mail("a@x", cc=(BOB,)), mail("b@x", sender=BOB, refs=("a@x",), cc=(CAROL,)),
                   mail("c@x", refs=("alice-1@x",), cc=(BOB, CAROL))], FACTS)
    assert FACTS == before
    assert result.participants == ((New(0), ALICE), (New(0), BOB), (New(0), CAROL),
                                   (10, CAROL))


def test_plan_stops_before_a_token_that_may_name_a_ticket_the_batch_makes():
    """A ticket token no ticket answers to, after a message that opens a conversation:
    that conversation's ticket, made when it is written, may be the one named."""
    batch = [mail("a@x"), mail("b@x", ticket=7), mail("c@x", ticket=404), mail("d@x")]
    assert plan(batch, FACTS).decisions == (Open(), Join(10, "ticket_token"))
    assert plan(batch[2:], FACTS).decisions == (Open(), Open())


def test_incoming_reads_what_threading_needs():
    msg = InboundMessage(
        inbox="support", channel="email", sender_email=" Alice@Example.ORG ",
        sender_name="Alice", subject="Re: [#12] printer [#34]", text="hi", external_id="e@x",
        to=("Bob@example.org", "x" * 250 + "@example.org"),
        cc=("alice@example.org", "carol@example.org"),
        in_reply_to="c@x", references=("a@x", "b@x", "c@x"), unverified_sender=True)
    seen = incoming(msg, INBOX)
    assert seen == Incoming(INBOX, "email", "e@x", thread_key=None,
                            references=("c@x", "b@x", "a@x"), sender=ALICE, verified=False,
                            ticket_number=34, participants=(ALICE, BOB, CAROL))
    chat = incoming(dataclasses.replace(msg, channel="chat", thread_key=""), INBOX)
    assert chat.ticket_number is None and chat.thread_key is None
    crowded = dataclasses.replace(
        msg, references=tuple(f"r{n}@x" for n in range(300)),
        cc=tuple(f"p{n}@example.org" for n in range(300)))
    assert len(incoming(crowded, INBOX).references) == MAX_REFERENCES
    assert len(incoming(crowded, INBOX).participants) == MAX_PARTICIPANTS
