"""Read models of tickets: keyset-paginated lists, details, links to conversations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVarTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    exists,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from core.pagination import cursor_instant, cursor_rank, decode_cursor, encode_cursor
from inbox.access import Scope
from inbox.models import Conversation
from tickets.models import Ticket, TicketConversation, TicketHistory
from tickets.state import PRIORITIES, PRIORITY_RANK
from tickets.view_rules import ViewFilters

SORTS = ("-created_at", "created_at", "-updated_at", "updated_at", "-priority", "priority",
         "sla_due_at", "-sla_due_at")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    owner_id: int | None = None
    priority: str | None = None
    team_id: int | None = None
    q: str | None = None
    sort: str = "-created_at"
    where: tuple[ColumnElement[bool], ...] = ()
    """Extra conditions from rooms above (e.g. an SLA status)."""
    due_at: ColumnElement[Any] | None = None
    """The expression `sla_due_at` sorts by (given by the sla room)."""


_priority_rank = case(PRIORITY_RANK, value=Ticket.priority, else_=-1)


def _sort_column(f: TicketFilter) -> SQLColumnExpression[Any]:
    name = f.sort.lstrip("-")
    if name == "sla_due_at":
        if f.due_at is None:
            raise InvalidInput("sorting by SLA due time is not available here", field="sort")
        return f.due_at
    return {"created_at": Ticket.created_at, "updated_at": Ticket.updated_at,
            "priority": _priority_rank}[name]


def _filtered(query: Select[*Ts], f: TicketFilter) -> Select[*Ts]:
    query = query.where(*f.where)
    if f.status:
        query = query.where(Ticket.status == f.status)
    if f.owner_id is not None:
        query = query.where(Ticket.owner_id == f.owner_id)
    if f.priority:
        if f.priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}",
                               field="priority")
        query = query.where(Ticket.priority == f.priority)
    if f.team_id is not None:
        query = query.where(Ticket.team_id == f.team_id)
    if f.q and f.q.strip():
        text = f.q.strip()
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition: ColumnElement[bool] = Ticket.name.ilike(f"%{escaped}%", escape="\\")
        number = ticket_number_in(text)
        if number is not None:
            condition = or_(condition, Ticket.id == number)
        query = query.where(condition)
    return query


def _after(f: TicketFilter, cursor: str) -> ColumnElement[bool]:
    value, after_id = decode_cursor(cursor)
    column = _sort_column(f)
    bound = (cursor_rank(value, range(-1, len(PRIORITIES))) if f.sort.lstrip("-") == "priority"
             else cursor_instant(value))
    if f.sort.startswith("-"):
        return or_(column < bound, and_(column == bound, Ticket.id < after_id))
    return or_(column > bound, and_(column == bound, Ticket.id > after_id))


def _cursor_for(sort: str, ticket: Ticket, sort_value: Any) -> str:
    name = sort.lstrip("-")
    if name == "priority":
        return encode_cursor(PRIORITY_RANK.get(ticket.priority, -1), ticket.id)
    if name == "sla_due_at":
        if sort_value.tzinfo is None:
            sort_value = sort_value.replace(tzinfo=UTC)
        return encode_cursor(sort_value.isoformat(), ticket.id)
    return encode_cursor(getattr(ticket, name).isoformat(), ticket.id)


def ticket_number_in(query: str | None) -> int | None:
    """The ticket number a search names (`1234` or `#1234`), or None."""
    number = (query or "").strip().lstrip("#")
    ascii_digits = number.isascii() and number.isdigit()  # not "³", which int() refuses
    return int(number) if ascii_digits and 0 < len(number) < 10 else None


def conversations_of_ticket(number: int) -> ColumnElement[bool]:
    """A SQL condition on `Conversation`: it belongs to the ticket `number`."""
    return Conversation.id.in_(select(TicketConversation.conversation_id)
                               .where(TicketConversation.ticket_id == number))


def conversations_whose_ticket(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """SQL on `Conversation`: its ticket meets every condition (on `Ticket`)."""
    return exists().where(TicketConversation.conversation_id == Conversation.id,
                          Ticket.id == TicketConversation.ticket_id,
                          *conditions).correlate(Conversation)


def conversations_of_teams(team_ids: Sequence[int]) -> ColumnElement[bool]:
    """SQL on `Conversation`: its ticket belongs to one of these teams (read from the copy
    the conversation keeps, `Conversation.ticket_team_id`)."""
    return Conversation.ticket_team_id.in_(list(team_ids))


def conversations_with_ticket_status(status: str) -> ColumnElement[bool]:
    """SQL on `Conversation`: its ticket is in the pipeline status `status` (read from the
    copy the conversation keeps, `Conversation.ticket_status`)."""
    return Conversation.ticket_status == status


async def tickets_of_conversations(session: AsyncSession, conversation_ids: Sequence[int]
                                   ) -> dict[int, Ticket]:
    """conversation id -> its ticket, for those that have one; one query."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(TicketConversation.conversation_id, Ticket)
        .join(Ticket, Ticket.id == TicketConversation.ticket_id)
        .where(TicketConversation.conversation_id.in_(conversation_ids)))
    return {conversation_id: ticket for conversation_id, ticket in rows}


def in_scope(scope: Scope) -> ColumnElement[bool]:
    """A SQL condition on `Ticket`: one of its live conversations is in `scope` (a ticket
    is seen by whoever sees one of its conversations)."""
    if scope.inbox_ids is None:
        return true()
    return exists().where(TicketConversation.ticket_id == Ticket.id,
                          Conversation.id == TicketConversation.conversation_id,
                          Conversation.deleted_at.is_(None), scope.covers(Conversation.inbox_id))


async def visible_ticket(session: AsyncSession, ticket_id: int, *, scope: Scope) -> Ticket:
    """The live ticket `ticket_id` when it is in `scope`; NotFound otherwise, saying where
    a merged ticket went when the caller sees that one."""
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id, in_scope(scope),
                                                       Ticket.deleted_at.is_(None)))
    if ticket is not None:
        return ticket
    # A merged ticket holds no conversations any more: it is in scope when where it went is.
    merged_into = await session.scalar(select(Ticket.merged_into_id).where(Ticket.id == ticket_id))
    if merged_into is not None and await session.scalar(
            select(Ticket.id).where(Ticket.id == merged_into, in_scope(scope))):
        raise NotFound(f"no ticket {ticket_id}; it was merged into #{merged_into}")
    raise NotFound(f"no ticket {ticket_id}")


async def visible_conversation_ids(session: AsyncSession, ticket_ids: Sequence[int], *,
                                   scope: Scope) -> dict[int, list[int]]:
    """Ids of each ticket's live conversations in `scope`, oldest first."""
    rows = await session.execute(
        select(TicketConversation.ticket_id, TicketConversation.conversation_id)
        .join(Conversation, Conversation.id == TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id.in_(ticket_ids), Conversation.deleted_at.is_(None),
               scope.covers(Conversation.inbox_id))
        .order_by(TicketConversation.conversation_id))
    found: dict[int, list[int]] = {ticket_id: [] for ticket_id in ticket_ids}
    for ticket_id, conversation_id in rows:
        found[ticket_id].append(conversation_id)
    return found


async def inbox_ids_of_ticket(session: AsyncSession, ticket_id: int) -> set[int]:
    """The inboxes of the ticket's live conversations."""
    return set((await session.scalars(
        select(Conversation.inbox_id)
        .join(TicketConversation, TicketConversation.conversation_id == Conversation.id)
        .where(TicketConversation.ticket_id == ticket_id,
               Conversation.deleted_at.is_(None)))).all())


async def list_tickets(
    session: AsyncSession, f: TicketFilter, *, scope: Scope, limit: int, cursor: str | None
) -> tuple[list[Ticket], str | None]:
    """Live tickets in `scope`, in the order `f.sort` asks (ties by id); returns (tickets,
    next cursor)."""
    if f.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
    column = _sort_column(f)
    query = _filtered(select(Ticket, column).where(Ticket.deleted_at.is_(None),
                                                   in_scope(scope)), f)
    if cursor:
        query = query.where(_after(f, cursor))
    if f.sort.startswith("-"):
        query = query.order_by(column.desc(), Ticket.id.desc())
    else:
        query = query.order_by(column.asc(), Ticket.id.asc())
    rows = list((await session.execute(query.limit(limit + 1))).all())
    items = [ticket for ticket, _ in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = _cursor_for(f.sort, items[-1], rows[limit - 1][1])
    return items, next_cursor


async def ticket_ids_for_conversations(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, int]:
    """conversation id -> ticket id, for those that have one."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(TicketConversation.conversation_id, TicketConversation.ticket_id)
        .where(TicketConversation.conversation_id.in_(conversation_ids)))
    return {conversation_id: ticket_id for conversation_id, ticket_id in rows}


async def history_of(session: AsyncSession, ticket_id: int) -> list[TicketHistory]:
    """The ticket's history, oldest first (merged tickets' history included)."""
    rows = await session.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket_id)
                                 .order_by(TicketHistory.at, TicketHistory.id))
    return list(rows)


async def conversations_of_tickets(session: AsyncSession, numbers: Collection[int]
                                   ) -> dict[int, tuple[int, ...]]:
    """The live conversations of each live ticket among `numbers` (as quoted in `[#1234]`
    subject tokens), most recently active first; tickets that do not exist are left out.
    Threading decides which of them, if any, a message joins."""
    found: dict[int, tuple[int, ...]] = {}
    if not numbers:
        return found
    rows = await session.execute(
        select(TicketConversation.ticket_id, Conversation.id)
        .join(Conversation, Conversation.id == TicketConversation.conversation_id)
        .join(Ticket, Ticket.id == TicketConversation.ticket_id)
        .where(Ticket.id.in_(set(numbers)), Ticket.deleted_at.is_(None),
               Conversation.deleted_at.is_(None))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc()))
    for number, conversation_id in rows:
        found[number] = (*found.get(number, ()), conversation_id)
    return found


def view_conditions(filters: ViewFilters, *, user_id: int) -> list[ColumnElement[bool]]:
    """SQL conditions on `Conversation` for a custom view's filters as `user_id` sees it
    ("me" is them), AND-combined; every filter but the SLA status, which the sla room
    turns into SQL (`sla.queries.conversation_status_condition`). The caller's scope is
    not here: the listing and the count apply it to whatever view they are given."""
    conditions: list[ColumnElement[bool]] = []
    if filters.owner_id is not None:
        owner = user_id if filters.owner_id == "me" else filters.owner_id
        conditions.append(Conversation.owner_id == owner)
    if filters.unassigned:
        conditions.append(Conversation.owner_id.is_(None))
    if filters.inbox_id is not None:
        conditions.append(Conversation.inbox_id == filters.inbox_id)
    if filters.channel is not None:
        conditions.append(Conversation.channel == filters.channel)
    if filters.status is not None:
        conditions.append(Conversation.status == filters.status)
    on_ticket = [condition for wanted, condition in (
        (filters.team_id, Ticket.team_id == filters.team_id),
        (filters.priority, Ticket.priority == filters.priority),
        (filters.category, Ticket.category == filters.category)) if wanted is not None]
    if on_ticket:
        conditions.append(conversations_whose_ticket(*on_ticket))
    return conditions
