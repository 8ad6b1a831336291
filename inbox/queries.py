"""Read models of the inbox: conversation lists (keyset-paginated) and details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from core.pagination import cursor_instant, cursor_rank, decode_cursor, encode_cursor
from inbox import search
from inbox.access import Scope
from inbox.models import (
    CHANNELS,
    CONVERSATION_STATUSES,
    SORT_TEXT_CHARS,
    Contact,
    Conversation,
    Inbox,
    Message,
    MessageAttachment,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Sort:
    """What a listing can sort by: an SQL expression on the conversation (never NULL), and
    the kind of value its cursor holds."""

    expression: SQLColumnExpression[Any]
    kind: Literal["time", "text", "rank"]


MAX_CURSOR_TEXT = SORT_TEXT_CHARS
RANKS = range(-1, 100)

SORTS: dict[str, Sort] = {
    "last_message_at": Sort(Conversation.last_message_at, "time"),
    "created_at": Sort(Conversation.created_at, "time"),
    # Subjects are kept to 998 characters (inbox.service), under MAX_CURSOR_TEXT: the column
    # itself sorts, so that an index on (status, subject) serves the sort.
    "subject": Sort(Conversation.subject, "text"),
    "channel": Sort(Conversation.channel, "text"),
    # Values of other tables, kept on the row by inbox.service (migration 0014), each with
    # an index on (status, key, id); text keys are cut to SORT_TEXT_CHARS <= MAX_CURSOR_TEXT.
    "contact": Sort(Conversation.sort_contact, "text"),
    "owner": Sort(Conversation.sort_owner, "text"),
    "sla_due_at": Sort(Conversation.sort_due_at, "time"),
    "priority": Sort(Conversation.sort_priority, "rank"),
}
"""The sorts the inbox knows; rooms above may add theirs (`ConversationFilter.sorts`)."""


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    owner_id: int | None = None
    unassigned: bool = False
    """Only conversations without an owner."""
    contact_id: int | None = None
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
    """A sort's name, `-` first for descending."""
    sorts: Mapping[str, Sort] = field(default_factory=dict)
    """Sorts given by rooms above, besides `SORTS`."""


@dataclass(frozen=True)
class ConversationRow:
    conversation: Conversation
    contact: Contact
    inbox_slug: str


def _filtered(query: Select[*Ts], f: ConversationFilter, dialect: str,
              dense: tuple[bool, ...] = ()) -> Select[*Ts]:
    query = query.where(*f.where)
    if f.status and f.status != "all":
        if f.status not in CONVERSATION_STATUSES:
            raise InvalidInput("status must be open, closed, spam or all", field="status")
        query = query.where(Conversation.status == f.status)
    if f.owner_id is not None:
        query = query.where(Conversation.owner_id == f.owner_id)
    if f.unassigned:
        query = query.where(Conversation.owner_id.is_(None))
    if f.contact_id is not None:
        query = query.where(Conversation.contact_id == f.contact_id)
    if f.inbox:
        query = query.where(Inbox.slug == f.inbox)
    if f.channel:
        if f.channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
        query = query.where(Conversation.channel == f.channel)
    if f.q and f.q.strip():  # a search without a word to look for finds nothing
        words = search.terms(f.q)
        found = [search.matching(dialect, words, dense)] if words else []
        query = query.where(or_(false(), *found, *f.q_also))
    return query


def _sort_of(f: ConversationFilter) -> tuple[Sort, bool]:
    """(sort, descending) for the filter's sort name."""
    name, descending = f.sort.removeprefix("-"), f.sort.startswith("-")
    known = {**SORTS, **f.sorts}
    if name not in known:
        options = ", ".join(sorted(known))
        raise InvalidInput(f"sort must be one of {options} (- first to reverse)", field="sort")
    return known[name], descending


def _cursor_value(sort: Sort, value: Any) -> Any:
    """A cursor's sort value as the sort's kind reads it; InvalidInput for one this server
    did not give out."""
    if sort.kind == "time":
        return cursor_instant(value)
    if sort.kind == "rank":
        return cursor_rank(value, RANKS)
    if not isinstance(value, str) or len(value) > MAX_CURSOR_TEXT:
        raise InvalidInput("cursor is not one this server gave out", field="cursor")
    return value


def _cursor_text(sort: Sort, value: Any) -> Any:
    """The value a cursor keeps for a row's sort value."""
    if sort.kind == "time":
        assert isinstance(value, datetime)
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()
    return value


def _after(sort: Sort, descending: bool, cursor: str) -> ColumnElement[bool]:
    after_value, after_id = decode_cursor(cursor)
    after, column = _cursor_value(sort, after_value), sort.expression
    if descending:
        return or_(column < after, and_(column == after, Conversation.id < after_id))
    return or_(column > after, and_(column == after, Conversation.id > after_id))


async def list_conversations(
    session: AsyncSession, f: ConversationFilter, *, scope: Scope, limit: int,
    cursor: str | None
) -> tuple[list[ConversationRow], str | None]:
    """Live conversations in `scope`, in the filter's order (most recent activity first by
    default; ties by id); returns (rows, next cursor).

    Two steps in one statement: the page's ids and sort values are chosen first (only they
    are sorted, so a sort without an index orders narrow records), then their rows are read."""
    sort, descending = _sort_of(f)
    column = sort.expression
    chosen: Select[int, Any] = (select(Conversation.id.label("id"), column.label("sort_value"))
              .where(Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id)))
    if f.inbox:
        chosen = chosen.join(Inbox, Inbox.id == Conversation.inbox_id)
    dense = await search.dense_words(session, search.terms(f.q), page=limit + 1)
    chosen = _filtered(chosen, f, session.get_bind().dialect.name, dense)
    if cursor:
        chosen = chosen.where(_after(sort, descending, cursor))
    order = (column.desc(), Conversation.id.desc()) if descending else (
        column.asc(), Conversation.id.asc())
    page = chosen.order_by(*order).limit(limit + 1).subquery("page")
    query = (select(Conversation, Contact, Inbox.slug, page.c.sort_value)
             .join(page, page.c.id == Conversation.id)
             .join(Contact, Contact.id == Conversation.contact_id)
             .join(Inbox, Inbox.id == Conversation.inbox_id))
    query = query.order_by(*((page.c.sort_value.desc(), page.c.id.desc()) if descending else
                             (page.c.sort_value.asc(), page.c.id.asc())))
    rows = (await session.execute(query)).all()
    items = [ConversationRow(c, contact, slug) for c, contact, slug, _ in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(_cursor_text(sort, rows[limit - 1][3]),
                                    items[-1].conversation.id)
    return items, next_cursor


COUNT_CAP = 1000
"""Where a capped count stops (`count_conversations(cap=...)`): a view's count reads at
most this many index entries, however many conversations it holds."""


async def count_conversations(session: AsyncSession, f: ConversationFilter, *,
                              scope: Scope, cap: int | None = None) -> int:
    """How many live conversations in `scope` the filter keeps (its sort aside); with `cap`,
    at most `cap` (the count stops there: `cap` means "`cap` or more")."""
    query = (select(Conversation.id)
             .where(Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id)))
    if f.inbox:
        query = query.join(Inbox, Inbox.id == Conversation.inbox_id)
    query = _filtered(query, f, session.get_bind().dialect.name)
    if cap is not None:
        query = query.limit(cap)
    counted = select(func.count()).select_from(query.subquery("kept"))
    return int(await session.scalar(counted) or 0)


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


def _of_visible_messages(query: Select[T], scope: Scope) -> Select[T]:
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


PREVIEW_CHARS = 200


@dataclass(frozen=True)
class Preview:
    """The start of a conversation's newest message (comments aside) and who sent it."""

    text: str
    direction: str


async def previews(session: AsyncSession, conversation_ids: list[int]) -> dict[int, Preview]:
    """The newest message of each conversation (internal comments aside), its text cut to
    PREVIEW_CHARS characters; one query for them all."""
    if not conversation_ids:
        return {}
    newest = (select(func.max(Message.id))
              .where(Message.conversation_id.in_(conversation_ids),
                     Message.direction != "comment")
              .group_by(Message.conversation_id))
    rows = await session.execute(
        select(Message.conversation_id, func.substr(Message.text, 1, PREVIEW_CHARS),
               Message.direction).where(Message.id.in_(newest)))
    return {conversation_id: Preview(" ".join((text or "").split()), direction)
            for conversation_id, text, direction in rows}
