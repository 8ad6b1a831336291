"""The only writer of conversations and messages (contacts: `inbox.contacts`).

Every function takes the caller's session, never commits, and publishes its domain events
on the session's event bus inside that transaction. `cause` names what moved a conversation
(`agent`, `inbound`, `ticket`, `system`) so subscribers can tell their own echoes apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.events import UserRenamed
from accounts.models import User
from core import clock, outbox
from core.db import insert_rows, savepoint
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventBus, publish, publish_many
from core.limits import Limits
from inbox import contacts, thread_facts, threading
from inbox.attachments import check_outgoing
from inbox.collision import Later, NewerMessages, unseen_blocking, valid_client_key
from inbox.events import (
    ConversationDeleted,
    ConversationMoved,
    ConversationOpened,
    ConversationOwnerChanged,
    ConversationStatusChanged,
    MessageAdded,
    MessageAmended,
)
from inbox.messages import Attachment, InboundMessage
from inbox.models import (
    CONVERSATION_STATUSES,
    NO_DEADLINE,
    Conversation,
    ConversationParticipant,
    Inbox,
    Message,
    MessageAttachment,
    MessageReference,
)
from inbox.truncation import as_kept


@dataclass(frozen=True)
class IngestResult:
    """What ingest did: the conversation and message, and whether either is new."""

    conversation_id: int
    message_id: int
    duplicate: bool
    opened: bool


async def inbox_id_by_slug(session: AsyncSession, slug: str) -> int:
    """The id of inbox `slug` (cached per runtime); InvalidInput when it is not configured."""
    cache = session.info.setdefault("cache", {})
    key = ("inbox", slug)
    if key not in cache:
        inbox_id = await session.scalar(select(Inbox.id).where(Inbox.slug == slug))
        if inbox_id is None:
            raise InvalidInput(f"no inbox {slug!r}", field="inbox")
        cache[key] = inbox_id
    cached: int = cache[key]
    return cached


def _reference_rows(message_id: int, message: threading.Incoming) -> list[dict[str, Any]]:
    """The ids the message answers, kept so that a message arriving after its answer can
    still find the answer's conversation."""
    return [{"message_id": message_id, "inbox_id": message.inbox_id, "ref": ref[:998]}
            for ref in message.references]


async def _attachment_rows(session: AsyncSession,
                           stored: Sequence[tuple[int, Any, InboundMessage]]
                           ) -> list[dict[str, Any]]:
    """Put the attachments of stored messages, (message id, _, message) each, in the store
    (in a thread: it writes and syncs files); returns their rows."""
    store = session.info.get("attachments")
    files = [(message_id, attachment) for message_id, _, msg in stored
             for attachment in msg.attachments]
    if not files or store is None:
        return []
    digests = await asyncio.to_thread(lambda: [store.put(file.content) for _, file in files])
    return [{"message_id": message_id, "filename": attachment.filename[:255] or "attachment",
             "content_type": attachment.content_type[:255], "size": len(attachment.content),
             "sha256": digest, "inline": attachment.inline,
             "content_id": (attachment.content_id or None) and attachment.content_id[:255]}
            for (message_id, attachment), digest in zip(files, digests, strict=True)]


def _inbound_row(conversation_id: int, inbox_id: int, contact_id: int, msg: InboundMessage,
                 now: datetime) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "inbox_id": inbox_id, "channel": msg.channel,
            "direction": "inbound", "author_id": None, "contact_id": contact_id,
            "text": msg.text, "html": msg.html, "quoted_text_start": msg.quoted_text_start,
            "external_id": msg.external_id, "automatic": msg.automatic,
            "unverified_sender": msg.unverified_sender, "created_at": now,
            "delivery_status": None, "delivery_error": None, "meta": {},
            "truncated": [cut.as_json() for cut in msg.truncated]}


async def ingest(session: AsyncSession, msg: InboundMessage) -> IngestResult:
    """Store one inbound message: contact, conversation (threaded or new), message.

    Idempotent on (inbox, channel, external_id): the same input twice gives one message.
    A concurrent duplicate surfaces as IntegrityError; the caller retries the whole
    transaction (or savepoint).
    """
    [result] = await ingest_many(session, [msg])
    return result


async def ingest_many(session: AsyncSession, msgs: Sequence[InboundMessage]
                      ) -> list[IngestResult]:
    """Store inbound messages as `ingest` would one after the other; returns what it did
    for each, in order.

    Threading in three phases: the facts for the whole batch are gathered (a few queries,
    `thread_facts.gather`), `threading.plan` decides every message in order (pure; each
    sees what the ones before it did), and the plan is written (a statement per table).
    A plan that stops early (a ticket token that may name a ticket the batch makes) is
    written, and the rest planned anew. A text over `[limits] max_text_chars` is cut, and
    what any limit left out is told at the top of the text (`truncation.as_kept`). Raises
    on the first message that cannot be stored (InvalidInput for one that names no inbox),
    having stored none.
    """
    limits: Limits = session.info.get("limits") or Limits()
    msgs = [as_kept(msg, limits.max_text_chars) for msg in msgs]
    incoming = [threading.incoming(msg, await inbox_id_by_slug(session, msg.inbox))
                for msg in msgs]
    results: list[IngestResult] = []
    while len(results) < len(msgs):
        rest = incoming[len(results):]
        plan = threading.plan(rest, await thread_facts.gather(session, rest))
        written = _Written(msgs[len(results):], rest, plan.decisions, clock.now())
        await _write(session, written, plan.participants)
        results.extend(written.results())
    return results


@dataclass
class _Written:
    """The write phase of one plan: its messages (the first `len(decisions)` of `msgs`)
    with what was decided for each, and the ids given to what the plan calls
    `threading.New(place)`."""

    msgs: Sequence[InboundMessage]
    incoming: Sequence[threading.Incoming]
    decisions: Sequence[threading.Decision]
    now: datetime
    conversations: dict[threading.Ref, int] = field(default_factory=dict)
    messages: dict[threading.Ref, int] = field(default_factory=dict)

    def places(self, *kinds: type) -> list[int]:
        """The places of the messages decided one of `kinds` (Join, Open...)."""
        return [place for place, decision in enumerate(self.decisions)
                if isinstance(decision, kinds)]

    def conversation(self, ref: threading.Ref) -> int:
        return self.conversations[ref] if isinstance(ref, threading.New) else ref

    def message(self, ref: threading.Ref) -> int:
        return self.messages[ref] if isinstance(ref, threading.New) else ref

    def conversation_of(self, place: int) -> int:
        """The conversation the message at `place` is in."""
        decision = self.decisions[place]
        if isinstance(decision, threading.Open):
            return self.conversations[threading.New(place)]
        return self.conversation(decision.conversation)

    def results(self) -> list[IngestResult]:
        return [IngestResult(
            self.conversation_of(place),
            self.message(decision.message if isinstance(decision, threading.Duplicate)
                         else threading.New(place)),
            duplicate=isinstance(decision, threading.Duplicate),
            opened=isinstance(decision, threading.Open))
            for place, decision in enumerate(self.decisions)]


async def _write(session: AsyncSession, written: _Written,
                 participants: Sequence[tuple[threading.Ref, str]]) -> None:
    """Store what was decided: contacts, the conversations messages open, the messages
    and what comes with them, each a statement per table; the events as ingesting them
    one by one would publish them (those of new conversations together)."""
    stored = written.places(threading.Open, threading.Join)
    contact_ids = dict(zip(stored, await contacts.contacts_for_all(
        session, [written.msgs[place] for place in stored], written.now), strict=True))
    await _open_conversations(session, written, contact_ids)
    joining = written.places(threading.Join)
    if joining:
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_({written.conversation_of(p) for p in joining}))
            .values(last_message_at=written.now))
    message_ids = await insert_rows(session, Message, [
        _inbound_row(written.conversation_of(place), written.incoming[place].inbox_id,
                     contact_ids[place], written.msgs[place], written.now)
        for place in stored])
    written.messages.update({threading.New(place): message_id
                             for place, message_id in zip(stored, message_ids, strict=True)})
    await _keep_what_comes_with(session, written, [
        (written.conversation(conversation), address) for conversation, address in participants])
    added = [MessageAdded(written.conversation_of(place), written.message(threading.New(place)),
                          "inbound", written.msgs[place].automatic,
                          opened=isinstance(written.decisions[place], threading.Open))
             for place in stored]
    await publish_many(session, [event for event in added if event.opened])
    for event in added:
        if not event.opened:
            await publish(session, event)


async def _open_conversations(session: AsyncSession, written: _Written,
                              contact_ids: dict[int, int]) -> None:
    """The conversations messages open, in spam when the message is automatic, linked to
    what it replies to; written together and announced together (ConversationOpened)."""
    opening = written.places(threading.Open)
    if not opening:
        return
    links = {place: _replies_to(written.decisions[place]) for place in opening}
    ids = await insert_rows(session, Conversation, [
        {"inbox_id": written.incoming[place].inbox_id, "channel": msg.channel,
         "subject": msg.subject[:998], "status": "spam" if msg.automatic else "open",
         "owner_id": None, "contact_id": contact_ids[place], "thread_key": msg.thread_key,
         "created_at": written.now, "last_message_at": written.now, "deleted_at": None,
         "replies_to_id": links[place] if isinstance(links[place], int) else None}
        for place, msg in ((place, written.msgs[place]) for place in opening)])
    written.conversations.update({threading.New(place): conversation_id
                                  for place, conversation_id in zip(opening, ids, strict=True)})
    await contacts.write_contact_keys(session, Conversation.id.in_(ids), fresh=True)
    # A link to a conversation the same plan opens is known once that one is written.
    late = [{"conversation": written.conversation_of(place),
             "link": written.conversation(link)}
            for place, link in links.items() if isinstance(link, threading.New)]
    if late:
        table = Conversation.__table__
        await session.execute(update(table).where(table.c.id == bindparam("conversation"))
                              .values(replies_to_id=bindparam("link")), late)
    await publish_many(session, [
        ConversationOpened(conversation_id, written.msgs[place].channel,
                           spam=written.msgs[place].automatic)
        for place, conversation_id in zip(opening, ids, strict=True)])


def _replies_to(decision: threading.Decision) -> threading.Ref | None:
    return decision.replies_to if isinstance(decision, threading.Open) else None


async def _keep_what_comes_with(session: AsyncSession, written: _Written,
                                participants: Sequence[tuple[int, str]]) -> None:
    """The references and attachments of the stored messages, and the participants they
    added to their conversations, (conversation id, address) each."""
    stored = [(written.message(threading.New(place)), written.incoming[place],
               written.msgs[place]) for place in written.places(threading.Open, threading.Join)]
    references = [row for message_id, message, _ in stored
                  for row in _reference_rows(message_id, message)]
    attachments = await _attachment_rows(session, stored)
    for model, rows in ((MessageReference, references), (MessageAttachment, attachments),
                        (ConversationParticipant, [
                            {"conversation_id": conversation_id, "address": address}
                            for conversation_id, address in participants])):
        if rows:
            await session.execute(insert(model.__table__), rows)


async def _live_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.deleted_at is not None:
        raise NotFound(f"no conversation {conversation_id}")
    return conversation


async def get_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation `conversation_id` unless deleted; NotFound otherwise."""
    return await _live_conversation(session, conversation_id)


async def add_agent_message(
    session: AsyncSession, conversation_id: int, *, author_id: int, kind: str, text: str,
    attachments: Sequence[Attachment] = (),
    seen_message_id: int | None = None, client_key: str | None = None,
    send_anyway: bool = False,
) -> Message:
    """An agent's reply (sent to the contact via the outbox, with its `attachments`) or
    internal comment. The files are held to the `[limits]` of inbound mail (InvalidInput
    naming `attachments` past them) and put in the attachment store before the rows that
    name them are written.

    With `client_key` (the form's key) the message is made once per conversation: the
    same key again answers the message it made, sends nothing, and checks nothing else
    (a double click or a resubmit after a lost answer). With `seen_message_id` a reply is
    refused (NewerMessages, nothing written) when a non-comment message newer than it
    exists, unless `send_anyway` (see inbox/collision.py)."""
    conversation = await _live_conversation(session, conversation_id)
    if kind not in ("reply", "comment"):
        raise InvalidInput("kind must be 'reply' or 'comment'", field="kind")
    client_key = valid_client_key(client_key)
    if client_key is not None:
        made = await _made_by_form(session, conversation_id, client_key)
        if made is not None:
            return made
    if not text.strip():
        raise InvalidInput("text is required", field="text")
    check_outgoing(attachments, session.info.get("limits") or Limits())
    if kind == "reply" and conversation.status == "spam":
        raise Conflict("cannot reply to a conversation in spam; mark it not spam first")
    await _refuse_unseen(session, conversation_id, kind, seen_message_id, send_anyway)
    message = Message(
        conversation_id=conversation.id, inbox_id=conversation.inbox_id,
        channel=conversation.channel, direction="outbound" if kind == "reply" else "comment",
        author_id=author_id, text=text, created_at=clock.now(),
        delivery_status="queued" if kind == "reply" else None, client_key=client_key)
    made = await _insert_once(session, conversation, message)
    if made is not message:
        return made
    await _store_agent_files(session, message.id, attachments)
    if kind == "reply":
        await outbox.add(session, "reply", {"message_id": message.id})
    await publish(session, MessageAdded(conversation.id, message.id, message.direction, False))
    return message


async def _store_agent_files(session: AsyncSession, message_id: int,
                             files: Sequence[Attachment]) -> None:
    """Put an agent's files in the attachment store (in a thread) and name them on the
    message."""
    if not files:
        return
    store = session.info.get("attachments")
    if store is None:
        raise InvalidInput("this server keeps no attachments", field="attachments")
    digests = await asyncio.to_thread(lambda: [store.put(file.content) for file in files])
    await session.execute(insert(MessageAttachment.__table__), [
        {"message_id": message_id, "filename": file.filename[:255] or "attachment",
         "content_type": file.content_type[:255] or "application/octet-stream",
         "size": len(file.content), "sha256": digest, "inline": False, "content_id": None}
        for file, digest in zip(files, digests, strict=True)])


async def _refuse_unseen(session: AsyncSession, conversation_id: int, kind: str,
                         seen_message_id: int | None, send_anyway: bool) -> None:
    if kind != "reply" or seen_message_id is None or send_anyway:
        return  # nothing to check: no query
    later = await _later_messages(session, conversation_id, seen_message_id)
    blocking = unseen_blocking(kind, seen_message_id, send_anyway, later)
    if blocking:
        raise NewerMessages(blocking)


async def _insert_once(session: AsyncSession, conversation: Conversation,
                       message: Message) -> Message:
    """Write `message` (a reply moves the conversation's last message time) and answer
    it; when its form's key is taken meanwhile, write nothing and answer that message."""
    conversation_id, client_key = conversation.id, message.client_key  # expired on error
    try:
        async with savepoint(session):
            session.add(message)
            if message.direction == "outbound":
                conversation.last_message_at = message.created_at
            await session.flush()
    except IntegrityError:
        if client_key is None:
            raise
        # The same form, posted at the same moment, won the race: answer its message.
        made = await _made_by_form(session, conversation_id, client_key)
        if made is None:
            raise
        return made
    return message


async def _made_by_form(session: AsyncSession, conversation_id: int,
                        client_key: str) -> Message | None:
    found: Message | None = await session.scalar(
        select(Message).where(Message.conversation_id == conversation_id,
                              Message.client_key == client_key))
    return found


async def _later_messages(session: AsyncSession, conversation_id: int,
                          seen_message_id: int) -> list[Later]:
    rows = await session.execute(
        select(Message.id, Message.direction)
        .where(Message.conversation_id == conversation_id, Message.id > seen_message_id))
    return [Later(message_id, direction) for message_id, direction in rows]


async def add_automatic_reply(session: AsyncSession, conversation_id: int, *, text: str,
                              external_id: str) -> Message:
    """An answer the system sends by itself (an acknowledgment), shown in the conversation
    as an automatic outbound message queued for delivery. Like all automatic mail it moves
    no status, and it meets no SLA goal."""
    conversation = await _live_conversation(session, conversation_id)
    message = Message(
        conversation_id=conversation.id, inbox_id=conversation.inbox_id,
        channel=conversation.channel, direction="outbound", text=text,
        external_id=external_id, automatic=True, created_at=clock.now(),
        delivery_status="queued")
    session.add(message)
    await session.flush()
    await publish(session, MessageAdded(conversation.id, message.id, "outbound", True))
    return message


async def set_owner(
    session: AsyncSession, conversation_id: int, owner_id: int | None, *,
    actor_id: int | None, cause: str,
) -> Conversation:
    """Assign (or unassign with None) the conversation; emits ConversationOwnerChanged."""
    conversation = await _live_conversation(session, conversation_id)
    old = conversation.owner_id
    if old != owner_id:
        conversation.owner_id = owner_id
        conversation.sort_owner = await _owner_sort_key(session, owner_id)
        await session.flush()
        await publish(session, ConversationOwnerChanged(conversation.id, old, owner_id,
                                                            actor_id, cause))
    return conversation


async def set_status(
    session: AsyncSession, conversation_id: int, status: str, *,
    actor_id: int | None, cause: str,
) -> Conversation:
    """Move the conversation to `status`; a no-op when it is there already."""
    if status not in CONVERSATION_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CONVERSATION_STATUSES)}",
                           field="status")
    conversation = await _live_conversation(session, conversation_id)
    old = conversation.status
    if old != status:
        conversation.status = status
        await session.flush()
        await publish(session, ConversationStatusChanged(conversation.id, old, status,
                                                             actor_id, cause))
    return conversation


async def delete_conversation(
    session: AsyncSession, conversation_id: int, *, actor_id: int | None, cause: str
) -> None:
    """Move the conversation to trash; emits ConversationDeleted. NotFound if already gone."""
    conversation = await _live_conversation(session, conversation_id)
    conversation.deleted_at = clock.now()
    await session.flush()
    await publish(session, ConversationDeleted(conversation.id, actor_id, cause))


async def set_external_id(session: AsyncSession, message_id: int, external_id: str) -> None:
    """Record the outside world's id of an outbound message (e.g. its Message-ID)."""
    message = await session.get(Message, message_id)
    if message is not None and message.external_id is None:
        message.external_id = external_id
        await session.flush()


async def record_delivery(
    session: AsyncSession, message_id: int, status: str, error: str | None = None
) -> None:
    """Set an outbound message's delivery status (`sent`, `failed`, ...)."""
    message = await session.get(Message, message_id)
    if message is not None:
        message.delivery_status = status
        message.delivery_error = error


REQUEST_FINGERPRINT = "request_sha256"
"""Key in a message's `meta` of the fingerprint of the request that stored it."""


async def bind_to_request(session: AsyncSession, message_id: int, fingerprint: str) -> bool:
    """Bind a message to the request that stored it (`fingerprint`, kept in its meta), so a
    replay of its idempotency key can be told from a different request reusing the key.
    True when the message had no fingerprint yet (it is bound now) or this one; False when
    a different request stored it."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message with id {message_id}")
    kept = (message.meta or {}).get(REQUEST_FINGERPRINT)
    if kept is None:
        message.meta = {**(message.meta or {}), REQUEST_FINGERPRINT: fingerprint}
        await session.flush()
        return True
    return bool(kept == fingerprint)


async def move_conversation(session: AsyncSession, conversation_id: int, inbox_id: int, *,
                            actor_id: int | None) -> Conversation:
    """Move the conversation to the inbox `inbox_id` (a no-op when it is there); emits
    ConversationMoved. Its messages keep the inbox that received or sent them, so mail
    answering them still finds this conversation; replies now leave from the new inbox.
    Conflict when the new inbox holds a conversation of the same channel thread."""
    conversation = await _live_conversation(session, conversation_id)
    old = conversation.inbox_id
    if old == inbox_id:
        return conversation
    if conversation.thread_key and await session.scalar(select(Conversation.id).where(
            Conversation.inbox_id == inbox_id, Conversation.channel == conversation.channel,
            Conversation.thread_key == conversation.thread_key)):
        raise Conflict("that inbox already holds this chat's conversation")
    conversation.inbox_id = inbox_id
    await session.flush()
    await publish(session, ConversationMoved(conversation.id, old, inbox_id, actor_id))
    return conversation


async def resend_reply(session: AsyncSession, message_id: int) -> Message:
    """Send a reply whose delivery failed once more (through the outbox, as the first time);
    Conflict for a message that is no failed reply."""
    message = await session.get(Message, message_id)
    if message is None or message.direction != "outbound" or message.automatic:
        raise NotFound(f"no reply {message_id}")
    if message.delivery_status != "failed":
        raise Conflict("only a reply that failed to send can be sent again")
    message.delivery_status, message.delivery_error = "queued", None
    await session.flush()
    await outbox.add(session, "reply", {"message_id": message.id})
    return message


# ------------------------------------------------------------------ sort keys
# Copies on the conversation row of values kept in other tables (`Conversation.sort_*`),
# so that each sort of the listing reads one index. The inbox writes them: from its own
# changes (a new conversation, a contact's name learnt, an owner set) and when the rooms
# that own the values report a change (`set_ticket_keys`, `set_sla_due`, a user renamed).


async def _owner_sort_key(session: AsyncSession, owner_id: int | None) -> str:
    if owner_id is None:
        return ""
    return await session.scalar(select(User.name).where(User.id == owner_id)) or ""


async def set_ticket_keys(session: AsyncSession, conversation_ids: Sequence[int], *,
                          priority_rank: int, team_id: int | None, status: str | None) -> None:
    """Keep what the listing sorts and filters by of their ticket on the conversations
    `conversation_ids`: the rank of its priority (-1 for none), its team and its pipeline
    status. Called by the tickets room on every change of a ticket's priority, team or
    status, and of the conversations it holds."""
    if conversation_ids:
        await session.execute(update(Conversation)
                              .where(Conversation.id.in_(list(conversation_ids)))
                              .values(sort_priority=priority_rank, ticket_team_id=team_id,
                                      ticket_status=status))


async def set_sla_due(session: AsyncSession, conversation_ids: Sequence[int],
                      due_at: datetime | None) -> None:
    """Keep `due_at` (their ticket's soonest running SLA deadline; None when none runs) as
    the SLA sort key of the conversations `conversation_ids`. Called by the sla room
    whenever a ticket's clocks change or the ticket gets conversations."""
    if conversation_ids:
        await session.execute(update(Conversation)
                              .where(Conversation.id.in_(list(conversation_ids)))
                              .values(sort_due_at=NO_DEADLINE if due_at is None else due_at))


async def _on_user_renamed(session: AsyncSession, e: UserRenamed) -> None:
    await session.execute(update(Conversation).where(Conversation.owner_id == e.user_id)
                          .values(sort_owner=e.name))


def install(bus: EventBus) -> None:
    """Subscribe the inbox to what other rooms report of values it keeps a copy of (a
    user's name, kept as the owner sort key of the conversations they own)."""
    bus.subscribe(UserRenamed, _on_user_renamed)


async def add_message_meta(session: AsyncSession, message_id: int, key: str,
                           value: Any) -> None:
    """Keep `value` under `key` in the meta of the message `message_id` (a connector's
    structured view of what arrived, e.g. a form's own fields); NotFound without it."""
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message with id {message_id}")
    message.meta = {**(message.meta or {}), key: value}
    await session.flush()


# ------------------------------------------------------------------ changed at the source


async def amend_inbound(session: AsyncSession, message_id: int, *, text: str,
                        note: dict[str, Any]) -> Message:
    """Show that an inbound message was changed where it was written (a chat message
    edited or deleted by its author): its text becomes `text`, cut to `[limits]
    max_text_chars`, and `note` is kept in its meta beside when it was changed; emits
    MessageAmended. NotFound for a message that is not inbound."""
    message = await session.get(Message, message_id)
    if message is None or message.direction != "inbound":
        raise NotFound(f"no inbound message {message_id}")
    limits: Limits = session.info.get("limits") or Limits()
    message.text = text[:limits.max_text_chars]
    message.html = None
    message.quoted_text_start = None
    message.meta = {**(message.meta or {}), **note, "amended_at": clock.now().isoformat()}
    await session.flush()
    await publish(session, MessageAmended(message.conversation_id, message.id))
    return message
