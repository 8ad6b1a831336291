"""Read models of the inbox: conversation lists (keyset-paginated) and details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from core.pagination import cursor_instant, decode_cursor, encode_cursor
from inbox import search
from inbox.access import Scope
from inbox.models import (
    CHANNELS,
    CONVERSATION_STATUSES,
    Contact,
    Conversation,
    Inbox,
    Message,
    MessageAttachment,
)


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    owner_id: int | None = None
    inbox: str | None = None
    channel: str | None = None
    q: str | None = None
    """Words to search for (`inbox.search`): every one in a message, the subject or the
    contact of a conversation."""
    q_also: tuple[ColumnElement[bool], ...] = ()
    """Conditions a search also matches by, from rooms above (e.g. a ticket number)."""
    where: tuple[ColumnElement[bool], ...] = ()
    """Extra conditions from rooms above (e.g. an SLA status)."""
    sort: str = "-last_message_at"
    due_at: ColumnElement[Any] | None = None
    """The expression `sla_due_at` sorts by (given by the sla room)."""


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    contact: Contact
    inbox_slug: str


def _filtered(query: Select, f: ConversationFilter, dialect: str) -> Select:
    query = query.where(*f.where)
    if f.status and f.status != "all":
        if f.status not in CONVERSATION_STATUSES:
            raise InvalidInput("status must be open, closed, spam or all", field="status")
        query = query.where(Conversation.status == f.status)
    if f.owner_id is not None:
        query = query.where(Conversation.owner_id == f.owner_id)
    if f.inbox:
        query = query.where(Inbox.slug == f.inbox)
    if f.channel:
        if f.channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
        query = query.where(Conversation.channel == f.channel)
    if f.q and f.q.strip():  # a search without a word to look for finds nothing
        words = search.terms(f.q)
        found = [search.matching(dialect, words)] if words else []
        query = query.where(or_(false(), *found, *f.q_also))
    return query


def _sort_key(f: ConversationFilter) -> tuple[ColumnElement[Any], bool]:
    """(expression, descending) for the filter's sort."""
    if f.sort == "-last_message_at":
        return Conversation.last_message_at, True
    if f.sort in ("sla_due_at", "-sla_due_at") and f.due_at is not None:
        return f.due_at, f.sort.startswith("-")
    raise InvalidInput("sort must be -last_message_at, sla_due_at or -sla_due_at", field="sort")


def _after(column: ColumnElement[Any], descending: bool, cursor: str) -> ColumnElement[bool]:
    after_value, after_id = decode_cursor(cursor)
    after = cursor_instant(after_value)
    if descending:
        return or_(column < after, and_(column == after, Conversation.id < after_id))
    return or_(column > after, and_(column == after, Conversation.id > after_id))


async def list_conversations(
    session: AsyncSession, f: ConversationFilter, *, scope: Scope, limit: int,
    cursor: str | None
) -> tuple[list[ConversationRow], str | None]:
    """Live conversations in `scope`, in the filter's order (most recent activity first by
    default); returns (rows, next cursor)."""
    column, descending = _sort_key(f)
    query = (select(Conversation, Contact, Inbox.slug, column)
             .join(Contact, Contact.id == Conversation.contact_id)
             .join(Inbox, Inbox.id == Conversation.inbox_id)
             .where(Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id)))
    query = _filtered(query, f, session.get_bind().dialect.name)
    if cursor:
        query = query.where(_after(column, descending, cursor))
    order = (column.desc(), Conversation.id.desc()) if descending else (
        column.asc(), Conversation.id.asc())
    rows = (await session.execute(query.order_by(*order).limit(limit + 1))).all()
    items = [ConversationRow(c, contact, slug) for c, contact, slug, _ in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        value = rows[limit - 1][3]
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        next_cursor = encode_cursor(value.isoformat(), items[-1].conversation.id)
    return items, next_cursor


async def conversation_row(session: AsyncSession, conversation_id: int, *,
                           scope: Scope) -> ConversationRow:
    """One live conversation in `scope` with its contact and inbox slug; NotFound for one
    that does not exist, is in trash or is out of scope alike."""
    row = (await session.execute(
        select(Conversation, Contact, Inbox.slug)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(Conversation.id == conversation_id, Conversation.deleted_at.is_(None),
               scope.covers(Conversation.inbox_id))
    )).first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return ConversationRow(row[0], row[1], row[2])


async def visible_attachment(session: AsyncSession, attachment_id: int, *,
                             scope: Scope) -> MessageAttachment:
    """The attachment `attachment_id` of a live conversation in `scope`; NotFound
    otherwise."""
    found = await session.scalar(_of_visible_messages(
        select(MessageAttachment).join(Message, Message.id == MessageAttachment.message_id)
        .where(MessageAttachment.id == attachment_id), scope))
    if found is None:
        raise NotFound(f"no attachment {attachment_id}")
    return found


async def visible_message(session: AsyncSession, message_id: int, *, scope: Scope) -> Message:
    """The message `message_id` of a live conversation in `scope`; NotFound otherwise."""
    found = await session.scalar(_of_visible_messages(
        select(Message).where(Message.id == message_id), scope))
    if found is None:
        raise NotFound(f"no message {message_id}")
    return found


def _of_visible_messages(query: Select, scope: Scope) -> Select:
    """`query` (which selects from messages) kept to messages of live conversations in
    `scope`."""
    return (query.join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id)))


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    """The conversation's messages, oldest first."""
    rows = await session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                 .order_by(Message.created_at, Message.id))
    return list(rows)


async def attachments_of(session: AsyncSession,
                         message_ids: list[int]) -> dict[int, list[MessageAttachment]]:
    """Attachments per message id."""
    if not message_ids:
        return {}
    rows = await session.scalars(select(MessageAttachment).where(
        MessageAttachment.message_id.in_(message_ids)).order_by(MessageAttachment.id))
    found: dict[int, list[MessageAttachment]] = {}
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    return found
