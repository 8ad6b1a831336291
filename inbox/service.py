"""The only writer of contacts, conversations and messages.

Every function takes the caller's session, never commits, and publishes its domain events
on the session's event bus inside that transaction. `cause` names what moved a conversation
(`agent`, `inbound`, `ticket`, `system`) so subscribers can tell their own echoes apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, outbox
from core.db import insert_rows
from core.errors import Conflict, InvalidInput, NotFound
from core.events import publish, publish_many
from core.settings import InboxSettings
from inbox import threading
from inbox.events import (
    ConversationDeleted,
    ConversationOpened,
    ConversationOwnerChanged,
    ConversationStatusChanged,
    MessageAdded,
)
from inbox.messages import InboundMessage
from inbox.models import (
    CONVERSATION_STATUSES,
    Contact,
    Conversation,
    Inbox,
    Message,
    MessageAttachment,
    MessageReference,
)

MAX_TEXT = 200_000


@dataclass(frozen=True)
class IngestResult:
    """What ingest did: the conversation and message, and whether either is new."""

    conversation_id: int
    message_id: int
    duplicate: bool
    opened: bool


async def sync_inboxes(session: AsyncSession, inboxes: Sequence[InboxSettings]) -> None:
    """Make the inbox rows match the configuration (by slug; none are removed)."""
    existing = {i.slug: i for i in (await session.scalars(select(Inbox))).all()}
    for conf in inboxes:
        row = existing.get(conf.slug)
        if row is None:
            session.add(Inbox(slug=conf.slug, name=conf.name, addresses=list(conf.addresses)))
        else:
            row.name, row.addresses = conf.name, list(conf.addresses)
    await session.flush()


async def inbox_id_by_slug(session: AsyncSession, slug: str) -> int:
    """The id of inbox `slug` (cached per runtime); InvalidInput when it is not configured."""
    cache = session.info.setdefault("cache", {})
    key = ("inbox", slug)
    if key not in cache:
        inbox_id = await session.scalar(select(Inbox.id).where(Inbox.slug == slug))
        if inbox_id is None:
            raise InvalidInput(f"no inbox {slug!r}", field="inbox")
        cache[key] = inbox_id
    return cache[key]


async def _contact_for(session: AsyncSession, msg: InboundMessage) -> Contact:
    email = _email_of(msg)
    contact = None
    if email:
        contact = await session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(email=email, name=msg.sender_name, phone=msg.sender_phone,
                          company=msg.sender_company, created_at=clock.now())
        session.add(contact)
        await session.flush()
        return contact
    _fill_in(contact, msg)
    return contact


def _email_of(msg: InboundMessage) -> str | None:
    return msg.sender_email.strip().lower() if msg.sender_email else None


def _fill_in(contact: Contact, msg: InboundMessage) -> None:
    """What we did not know of a contact and the message tells."""
    contact.name = contact.name or msg.sender_name
    contact.phone = contact.phone or msg.sender_phone
    contact.company = contact.company or msg.sender_company


async def _contacts_for_all(session: AsyncSession, msgs: Sequence[InboundMessage],
                            now: datetime) -> list[int]:
    """The contact id of each message's sender, contacts that are new created together
    (one per address, and one per message without an address)."""
    emails = [_email_of(msg) for msg in msgs]
    wanted = {email for email in emails if email}
    known = {contact.email: contact for contact in (await session.scalars(
        select(Contact).where(Contact.email.in_(wanted)))).all()} if wanted else {}
    new_rows: list[dict[str, Any]] = []
    row_of: dict[str | int, int] = {}  # an address (or a message's place) -> its new row
    for place, (msg, email) in enumerate(zip(msgs, emails, strict=True)):
        if email in known:
            _fill_in(known[email], msg)
            continue
        key: str | int = email or place
        if key in row_of:
            row = new_rows[row_of[key]]
            for field, value in (("name", msg.sender_name), ("phone", msg.sender_phone),
                                 ("company", msg.sender_company)):
                row[field] = row[field] or value
            continue
        row_of[key] = len(new_rows)
        new_rows.append({"email": email, "name": msg.sender_name, "phone": msg.sender_phone,
                         "company": msg.sender_company, "created_at": now})
    new_ids = await insert_rows(session, Contact, new_rows)
    return [known[email].id if email in known else new_ids[row_of[email or place]]
            for place, email in enumerate(emails)]


async def _thread(session: AsyncSession, inbox_id: int, msg: InboundMessage) -> int | None:
    by_key = None
    if msg.thread_key:
        by_key = await session.scalar(select(Conversation.id).where(
            Conversation.inbox_id == inbox_id, Conversation.channel == msg.channel,
            Conversation.thread_key == msg.thread_key, Conversation.deleted_at.is_(None)))
    refs = threading.reference_ids(msg.in_reply_to, msg.references)
    known: dict[str, int] = {}
    if refs and by_key is None:
        rows = await session.execute(
            select(Message.external_id, Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.inbox_id == inbox_id, Message.external_id.in_(refs),
                   Conversation.deleted_at.is_(None)))
        known = {ext: conv for ext, conv in rows if ext is not None}
    found = threading.choose_conversation(by_key, refs, known)
    if found is None and msg.channel == "email":
        found = await _answered_by_earlier(session, inbox_id, msg.external_id)
    if found is None and msg.channel == "email":
        found = await _by_ticket_token(session, msg)
    return found


async def _answered_by_earlier(session: AsyncSession, inbox_id: int,
                               external_id: str) -> int | None:
    """The conversation of a message we hold that answers `external_id`."""
    return await session.scalar(
        select(Message.conversation_id)
        .join(MessageReference, MessageReference.message_id == Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(MessageReference.inbox_id == inbox_id, MessageReference.ref == external_id,
               Conversation.deleted_at.is_(None))
        .order_by(Message.id).limit(1))


async def _by_ticket_token(session: AsyncSession, msg: InboundMessage) -> int | None:
    number = threading.ticket_token(msg.subject)
    resolver = session.info.get("ticket_token_resolver")
    if number is None or resolver is None or not msg.sender_email:
        return None
    return await resolver(session, number, msg.sender_email.strip().lower())


def _reference_rows(message_id: int, inbox_id: int, msg: InboundMessage) -> list[dict[str, Any]]:
    refs = threading.reference_ids(msg.in_reply_to, msg.references)
    return [{"message_id": message_id, "inbox_id": inbox_id, "ref": ref[:998]}
            for ref in refs[:100]]


def _attachment_rows(session: AsyncSession, message_id: int,
                     msg: InboundMessage) -> list[dict[str, Any]]:
    """Put the message's attachments in the store; returns their rows."""
    store = session.info.get("attachments")
    if not msg.attachments or store is None:
        return []
    return [{"message_id": message_id, "filename": attachment.filename[:255] or "attachment",
             "content_type": attachment.content_type[:255], "size": len(attachment.content),
             "sha256": store.put(attachment.content), "inline": attachment.inline,
             "content_id": (attachment.content_id or None) and attachment.content_id[:255]}
            for attachment in msg.attachments]


async def _keep_references_and_attachments(
    session: AsyncSession, stored: Sequence[tuple[int, int, InboundMessage]]
) -> None:
    """References and attachments of stored messages: (message id, inbox id, message)."""
    references = [row for message_id, inbox_id, msg in stored
                  for row in _reference_rows(message_id, inbox_id, msg)]
    attachments = [row for message_id, _, msg in stored
                   for row in _attachment_rows(session, message_id, msg)]
    if references:
        await session.execute(insert(MessageReference.__table__), references)
    if attachments:
        await session.execute(insert(MessageAttachment.__table__), attachments)


def _inbound_row(conversation_id: int, inbox_id: int, contact_id: int, msg: InboundMessage,
                 now: datetime) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "inbox_id": inbox_id, "channel": msg.channel,
            "direction": "inbound", "author_id": None, "contact_id": contact_id,
            "text": msg.text, "html": msg.html, "quoted_text_start": msg.quoted_text_start,
            "external_id": msg.external_id, "automatic": msg.automatic, "created_at": now,
            "delivery_status": None, "delivery_error": None, "meta": {}}


async def _open_conversations(session: AsyncSession, msgs: Sequence[InboundMessage]
                              ) -> list[IngestResult]:
    """Each message opens a conversation of its own (in spam when automatic); written
    together, one statement per table, and their events published together."""
    if not msgs:
        return []
    now = clock.now()
    inbox_ids = [await inbox_id_by_slug(session, msg.inbox) for msg in msgs]
    contact_ids = await _contacts_for_all(session, msgs, now)
    conversation_ids = await insert_rows(session, Conversation, [
        {"inbox_id": inbox_id, "channel": msg.channel, "subject": msg.subject[:998],
         "status": "spam" if msg.automatic else "open", "owner_id": None,
         "contact_id": contact_id, "thread_key": msg.thread_key, "created_at": now,
         "last_message_at": now, "deleted_at": None}
        for msg, inbox_id, contact_id in zip(msgs, inbox_ids, contact_ids, strict=True)])
    await publish_many(session, [
        ConversationOpened(conversation_id, msg.channel, spam=msg.automatic)
        for conversation_id, msg in zip(conversation_ids, msgs, strict=True)])
    message_ids = await insert_rows(session, Message, [
        _inbound_row(conversation_id, inbox_id, contact_id, msg, now)
        for conversation_id, inbox_id, contact_id, msg
        in zip(conversation_ids, inbox_ids, contact_ids, msgs, strict=True)])
    await _keep_references_and_attachments(
        session, list(zip(message_ids, inbox_ids, msgs, strict=True)))
    await publish_many(session, [
        MessageAdded(conversation_id, message_id, "inbound", msg.automatic, opened=True)
        for conversation_id, message_id, msg in zip(conversation_ids, message_ids, msgs,
                                                     strict=True)])
    return [IngestResult(conversation_id, message_id, duplicate=False, opened=True)
            for conversation_id, message_id in zip(conversation_ids, message_ids, strict=True)]


@dataclass
class _Related:
    """For a batch of messages: what the database holds that they duplicate, answer or
    are answered by, and the same for the messages of the batch seen so far. A message
    related to none of it opens a conversation of its own and can be written with others."""

    held: set[tuple[int, str, str]]  # (inbox, channel, external id) of stored messages
    answered: set[tuple[int, str]]  # (inbox, external id) of messages in live conversations
    answering: set[tuple[int, str]]  # (inbox, id) that a message in a live conversation answers
    seen_ids: set[tuple[int, str]] = field(default_factory=set)
    seen_refs: set[tuple[int, str]] = field(default_factory=set)

    @classmethod
    async def load(cls, session: AsyncSession, msgs: Sequence[InboundMessage],
                   inbox_ids: Sequence[int]) -> _Related:
        ids = {msg.external_id for msg in msgs if msg.external_id}
        refs = {ref for msg in msgs
                for ref in threading.reference_ids(msg.in_reply_to, msg.references)}
        held: set[tuple[int, str, str]] = set()
        answered: set[tuple[int, str]] = set()
        answering: set[tuple[int, str]] = set()
        if ids:
            held = {(i, c, e) for i, c, e in await session.execute(
                select(Message.inbox_id, Message.channel, Message.external_id)
                .where(Message.inbox_id.in_(set(inbox_ids)), Message.external_id.in_(ids)))}
            answering = {(i, r) for i, r in await session.execute(
                select(MessageReference.inbox_id, MessageReference.ref)
                .join(Message, Message.id == MessageReference.message_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(MessageReference.inbox_id.in_(set(inbox_ids)),
                       MessageReference.ref.in_(ids), Conversation.deleted_at.is_(None)))}
        if refs:
            answered = {(i, e) for i, e in await session.execute(
                select(Message.inbox_id, Message.external_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.inbox_id.in_(set(inbox_ids)), Message.external_id.in_(refs),
                       Conversation.deleted_at.is_(None)))}
        return cls(held=held, answered=answered, answering=answering)

    def stands_alone(self, session: AsyncSession, msg: InboundMessage, inbox_id: int) -> bool:
        """Whether `msg` surely opens a conversation of its own: no thread key, nothing
        it duplicates or answers, nothing that answers it, no ticket token to resolve."""
        if msg.thread_key:
            return False
        ext = msg.external_id
        if ext and ((inbox_id, msg.channel, ext) in self.held or (inbox_id, ext) in self.seen_ids):
            return False
        refs = threading.reference_ids(msg.in_reply_to, msg.references)
        if any((inbox_id, ref) in self.answered or (inbox_id, ref) in self.seen_ids
               for ref in refs):
            return False
        if msg.channel != "email":
            return True
        if ext and ((inbox_id, ext) in self.answering or (inbox_id, ext) in self.seen_refs):
            return False
        return (threading.ticket_token(msg.subject) is None or not msg.sender_email
                or session.info.get("ticket_token_resolver") is None)

    def saw(self, msg: InboundMessage, inbox_id: int) -> None:
        """Count `msg` among the batch's messages seen so far."""
        if msg.external_id:
            self.seen_ids.add((inbox_id, msg.external_id))
        self.seen_refs.update((inbox_id, ref) for ref in
                              threading.reference_ids(msg.in_reply_to, msg.references))


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

    Messages that open a conversation of their own (nothing held or earlier in `msgs`
    relates to them, the common case) are written together, a statement per table; any
    other message goes alone, once everything before it is written, so the outcome is
    that of ingesting them in order. Raises on the first message that cannot be stored
    (InvalidInput for one that is too long or names no inbox), having stored none.
    """
    for msg in msgs:
        if len(msg.text) > MAX_TEXT:
            raise InvalidInput(f"message longer than {MAX_TEXT} characters", field="text")
    inbox_ids = [await inbox_id_by_slug(session, msg.inbox) for msg in msgs]
    related = await _Related.load(session, msgs, inbox_ids)
    results: list[IngestResult] = []
    together: list[InboundMessage] = []
    for msg, inbox_id in zip(msgs, inbox_ids, strict=True):
        if related.stands_alone(session, msg, inbox_id):
            together.append(msg)
        else:
            results.extend(await _open_conversations(session, together))
            together = []
            results.append(await _ingest_alone(session, msg, inbox_id))
        related.saw(msg, inbox_id)
    results.extend(await _open_conversations(session, together))
    return results


async def _ingest_alone(session: AsyncSession, msg: InboundMessage,
                        inbox_id: int) -> IngestResult:
    existing = await session.scalar(select(Message).where(
        Message.inbox_id == inbox_id, Message.channel == msg.channel,
        Message.external_id == msg.external_id))
    if existing is not None:
        return IngestResult(existing.conversation_id, existing.id, duplicate=True, opened=False)
    conversation_id = await _thread(session, inbox_id, msg)
    if conversation_id is None:
        [result] = await _open_conversations(session, [msg])
        return result
    contact = await _contact_for(session, msg)
    conversation = await _live_conversation(session, conversation_id)
    now = clock.now()
    conversation.last_message_at = now
    [message_id] = await insert_rows(session, Message, [
        _inbound_row(conversation.id, inbox_id, contact.id, msg, now)])
    await _keep_references_and_attachments(session, [(message_id, inbox_id, msg)])
    await publish(session, MessageAdded(conversation.id, message_id, "inbound", msg.automatic))
    return IngestResult(conversation.id, message_id, duplicate=False, opened=False)


async def _live_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.deleted_at is not None:
        raise NotFound(f"no conversation {conversation_id}")
    return conversation


async def get_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    """The conversation `conversation_id` unless deleted; NotFound otherwise."""
    return await _live_conversation(session, conversation_id)


async def add_agent_message(
    session: AsyncSession, conversation_id: int, *, author_id: int, kind: str, text: str
) -> Message:
    """An agent's reply (sent to the contact via the outbox) or internal comment."""
    conversation = await _live_conversation(session, conversation_id)
    if kind not in ("reply", "comment"):
        raise InvalidInput("kind must be 'reply' or 'comment'", field="kind")
    if not text.strip():
        raise InvalidInput("text is required", field="text")
    if kind == "reply" and conversation.status == "spam":
        raise Conflict("cannot reply to a conversation in spam; mark it not spam first")
    message = Message(
        conversation_id=conversation.id, inbox_id=conversation.inbox_id,
        channel=conversation.channel, direction="outbound" if kind == "reply" else "comment",
        author_id=author_id, text=text, created_at=clock.now(),
        delivery_status="queued" if kind == "reply" else None)
    session.add(message)
    if kind == "reply":
        conversation.last_message_at = message.created_at
    await session.flush()
    if kind == "reply":
        await outbox.add(session, "reply", {"message_id": message.id})
    await publish(session, MessageAdded(conversation.id, message.id, message.direction, False))
    return message


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
