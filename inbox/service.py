"""The only writer of contacts, conversations and messages.

Every function takes the caller's session, never commits, and publishes its domain events
on the session's event bus inside that transaction. `cause` names what moved a conversation
(`agent`, `inbound`, `ticket`, `system`) so subscribers can tell their own echoes apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import publish
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
    email = msg.sender_email.strip().lower() if msg.sender_email else None
    contact = None
    if email:
        contact = await session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(email=email, name=msg.sender_name, phone=msg.sender_phone,
                          company=msg.sender_company, created_at=clock.now())
        session.add(contact)
        await session.flush()
        return contact
    contact.name = contact.name or msg.sender_name
    contact.phone = contact.phone or msg.sender_phone
    contact.company = contact.company or msg.sender_company
    return contact


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


async def _keep_references(session: AsyncSession, message: Message,
                           msg: InboundMessage) -> None:
    refs = threading.reference_ids(msg.in_reply_to, msg.references)
    session.add_all(MessageReference(message_id=message.id, inbox_id=message.inbox_id,
                                     ref=ref[:998]) for ref in refs[:100])


async def _keep_attachments(session: AsyncSession, message: Message,
                            msg: InboundMessage) -> None:
    store = session.info.get("attachments")
    if not msg.attachments or store is None:
        return
    for attachment in msg.attachments:
        digest = store.put(attachment.content)
        session.add(MessageAttachment(
            message_id=message.id, filename=attachment.filename[:255] or "attachment",
            content_type=attachment.content_type[:255], size=len(attachment.content),
            sha256=digest, inline=attachment.inline,
            content_id=(attachment.content_id or None) and attachment.content_id[:255]))


async def _open_conversation(
    session: AsyncSession, inbox_id: int, contact: Contact, msg: InboundMessage, now: datetime
) -> Conversation:
    conversation = Conversation(
        inbox_id=inbox_id, channel=msg.channel, subject=msg.subject[:998],
        status="spam" if msg.automatic else "open", contact_id=contact.id,
        thread_key=msg.thread_key, created_at=now, last_message_at=now)
    session.add(conversation)
    await session.flush()
    await publish(session, ConversationOpened(conversation.id, msg.channel,
                                                  spam=conversation.status == "spam"))
    return conversation


async def ingest(session: AsyncSession, msg: InboundMessage) -> IngestResult:
    """Store one inbound message: contact, conversation (threaded or new), message.

    Idempotent on (inbox, channel, external_id): the same input twice gives one message.
    A concurrent duplicate surfaces as IntegrityError at flush; the caller retries the
    whole transaction.
    """
    if len(msg.text) > MAX_TEXT:
        raise InvalidInput(f"message longer than {MAX_TEXT} characters", field="text")
    inbox_id = await inbox_id_by_slug(session, msg.inbox)
    existing = await session.scalar(select(Message).where(
        Message.inbox_id == inbox_id, Message.channel == msg.channel,
        Message.external_id == msg.external_id))
    if existing is not None:
        return IngestResult(existing.conversation_id, existing.id, duplicate=True, opened=False)
    contact = await _contact_for(session, msg)
    conversation_id = await _thread(session, inbox_id, msg)
    opened = conversation_id is None
    now = clock.now()
    if conversation_id is None:
        conversation = await _open_conversation(session, inbox_id, contact, msg, now)
    else:
        conversation = await _live_conversation(session, conversation_id)
        conversation.last_message_at = now
    message = Message(
        conversation_id=conversation.id, inbox_id=inbox_id, channel=msg.channel,
        direction="inbound", contact_id=contact.id, text=msg.text, html=msg.html,
        quoted_text_start=msg.quoted_text_start, external_id=msg.external_id,
        automatic=msg.automatic, created_at=now)
    session.add(message)
    await session.flush()
    await _keep_references(session, message, msg)
    await _keep_attachments(session, message, msg)
    await publish(session, MessageAdded(conversation.id, message.id, "inbound", msg.automatic,
                                        opened=opened))
    return IngestResult(conversation.id, message.id, duplicate=False, opened=opened)


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
