"""The conversation listing, shared by `GET /api/conversations` and the inbox page: one
filter, one set of sorts, one gathering of what each row shows (its ticket, owner, newest
message, SLA clocks, search match). The API answers it as JSON, the page lays it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import user_names
from inbox import queries, search
from inbox.access import Scope
from sla.queries import clocks_of, conversation_status_condition
from tickets.models import Ticket
from tickets.queries import (
    conversations_of_ticket,
    ticket_ids_for_conversations,
    ticket_number_in,
    tickets_of_conversations,
    view_conditions,
)
from tickets.view_rules import ViewFilters

SORT_NAMES = tuple(queries.SORTS)


def conversation_filter(*, status: str | None = None, owner_id: int | None = None,
                        unassigned: bool = False, inbox: str | None = None,
                        channel: str | None = None, q: str | None = None,
                        sla_status: str | None = None,
                        sort: str = "-last_message_at", now: datetime,
                        where: Sequence[ColumnElement[bool]] = ()) -> queries.ConversationFilter:
    """The filter of a listing: the inbox's own fields, plus an SLA status and a ticket
    number (`#1234` in `q`) from the rooms above, and `where` (e.g. a view's conditions)."""
    conditions = list(where)
    if sla_status is not None:
        conditions.append(conversation_status_condition(sla_status, now))
    number = ticket_number_in(q)
    return queries.ConversationFilter(
        status=status, owner_id=owner_id, unassigned=unassigned, inbox=inbox, channel=channel,
        q=q,
        where=tuple(conditions), sort=sort,
        q_also=() if number is None else (conversations_of_ticket(number),))


def saved_view_filter(filters: ViewFilters, *, user_id: int, now: datetime,
                      sort: str = "-last_message_at", inbox: str | None = None,
                      channel: str | None = None) -> queries.ConversationFilter:
    """The listing filter of a custom view as `user_id` sees it: its conditions
    (`tickets.queries.view_conditions`) and its SLA status, with the page's sort and
    narrowing by inbox (slug) and channel. Every status is kept unless the view names
    one."""
    return conversation_filter(status="all", sla_status=filters.sla_status, sort=sort,
                               inbox=inbox, channel=channel, now=now,
                               where=view_conditions(filters, user_id=user_id))


@dataclass(frozen=True)
class Listed:
    """One row of the listing and what it shows besides the conversation."""

    row: queries.ConversationRow
    ticket: Ticket | None
    replies_to_ticket_id: int | None
    owner_name: str | None
    preview: queries.Preview | None
    sla: list[dict[str, Any]]
    match_html: str | None


@dataclass(frozen=True)
class ListingPage:
    items: list[Listed]
    next_cursor: str | None


async def list_page(session: AsyncSession, f: queries.ConversationFilter, *, scope: Scope,
                    limit: int, cursor: str | None, now: datetime) -> ListingPage:
    """A page of the listing with everything its rows show, in a fixed number of queries
    whatever the page's length."""
    rows, next_cursor = await queries.list_conversations(session, f, scope=scope, limit=limit,
                                                         cursor=cursor)
    ids = [r.conversation.id for r in rows]
    tickets = await tickets_of_conversations(session, ids)
    replied = await ticket_ids_for_conversations(
        session, [r.conversation.replies_to_id for r in rows
                  if r.conversation.replies_to_id is not None])
    owners = await user_names(session, [r.conversation.owner_id for r in rows
                                        if r.conversation.owner_id is not None])
    clocks = await clocks_of(session, list({t.id: t for t in tickets.values()}.values()), now)
    shown = await queries.previews(session, ids)
    matches = await search.snippets(session, ids, search.terms(f.q))
    items = []
    for r in rows:
        c = r.conversation
        ticket = tickets.get(c.id)
        items.append(Listed(
            row=r, ticket=ticket,
            replies_to_ticket_id=replied.get(c.replies_to_id) if c.replies_to_id else None,
            owner_name=owners.get(c.owner_id) if c.owner_id else None,
            preview=shown.get(c.id), sla=clocks.get(ticket.id, []) if ticket else [],
            match_html=search.marked_html(matches[c.id]) if c.id in matches else None))
    return ListingPage(items, next_cursor)
