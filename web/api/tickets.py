"""Tickets: list, read, change, delete, merge."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import ConfigDict, Field

from core import clock
from core.db import transaction
from core.errors import InvalidInput
from inbox.access import Scope, require_assignable
from sla import queries as sla_queries
from tickets import queries
from tickets import service as tickets
from tickets.models import Ticket, TicketHistory
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentCaller,
    Cursor,
    IdPath,
    IdQuery,
    IdValue,
    Limit,
    RequestModel,
    RuntimeDep,
    SearchText,
    Text,
    page,
)

router = APIRouter(tags=["tickets"])

Priority = Literal["low", "medium", "high", "urgent"]
Sort = Literal["-created_at", "created_at", "-updated_at", "updated_at", "-priority", "priority",
               "sla_due_at", "-sla_due_at"]
SlaStatus = Literal["on_track", "due_soon", "overdue", "met", "met_late", "paused"]


def ticket_json(t: Ticket, conversation_ids: list[int], sla: list[JSON]) -> JSON:
    return {
        "id": t.id, "number": t.number, "name": t.name, "description": t.description,
        "status": t.status, "owner_id": t.owner_id, "team_id": t.team_id,
        "priority": t.priority, "category": t.category, "source_channel": t.source_channel,
        "conversation_ids": conversation_ids, "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
        "closed_at": t.closed_at.isoformat() if t.closed_at else None,
        "sla": sla, "status_reason": t.status_reason, "entitlement_id": t.entitlement_id,
    }


def history_json(h: TicketHistory) -> JSON:
    return {"at": h.at.isoformat(), "actor_id": h.actor_id, "action": h.action,
            "field": h.field, "old": h.old_value, "new": h.new_value, "cause": h.cause}


class TicketPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    owner_id: IdValue | None = None
    status: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    priority: Priority | None = None
    category: Annotated[Text, Field(max_length=200)] | None = None
    name: Annotated[Text, Field(min_length=1, max_length=998)] | None = None
    description: Annotated[Text, Field(max_length=100_000)] | None = None
    team_id: IdValue | None = None
    status_reason: Annotated[Text, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="A reason of the (new) status that may follow the current "
                                  "one (see /api/tickets/{id}/status-reasons); a status "
                                  "change without it clears the reason.")


class MergeRequest(RequestModel):
    other_id: IdValue
    primary_id: IdValue


@router.get("/api/tickets")
async def list_tickets(
    caller: CurrentCaller, runtime: RuntimeDep,
    status: Annotated[str | None, Query(max_length=64)] = None, owner_id: IdQuery = None,
    priority: Annotated[Priority | None, Query()] = None, team_id: IdQuery = None,
    q: SearchText = None, sla_status: Annotated[SlaStatus | None, Query()] = None,
    sort: Annotated[Sort, Query()] = "-created_at",
    limit: Limit = DEFAULT_PAGE, cursor: Cursor = None,
) -> JSON:
    """Tickets the caller sees (one of their conversations is in an inbox the caller
    sees), newest first unless `sort` says otherwise (`sla_due_at`: soonest SLA deadline
    first); `sla_status` keeps tickets with a clock in that status."""
    now = clock.now()
    f = queries.TicketFilter(status=status, owner_id=owner_id, priority=priority,
                             team_id=team_id, q=q, sort=sort,
                             where=sla_queries.status_filter(sla_status, now),
                             due_at=sla_queries.next_due_expression())
    async with transaction(runtime.sessions) as session:
        items, next_cursor = await queries.list_tickets(session, f, scope=caller.scope,
                                                        limit=limit, cursor=cursor)
        links = await queries.visible_conversation_ids(session, [t.id for t in items],
                                                       scope=caller.scope)
        sla = await sla_queries.clocks_of(session, items, now)
    return page([ticket_json(t, links[t.id], sla[t.id]) for t in items], next_cursor)


async def _detail(runtime: RuntimeDep, ticket_id: int, scope: Scope) -> JSON:
    async with transaction(runtime.sessions) as session:
        ticket = await queries.visible_ticket(session, ticket_id, scope=scope)
        sla = await sla_queries.clocks_of(session, [ticket], clock.now())
        links = await queries.visible_conversation_ids(session, [ticket_id], scope=scope)
        body = ticket_json(ticket, links[ticket_id], sla[ticket.id])
        body["history"] = [history_json(h) for h in await queries.history_of(session, ticket_id)]
    return body


@router.get("/api/tickets/{ticket_id}")
async def get_ticket(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """One ticket with its conversation ids (those the caller sees) and history."""
    return await _detail(runtime, ticket_id, caller.scope)


@router.patch("/api/tickets/{ticket_id}")
async def patch_ticket(ticket_id: IdPath, body: TicketPatch, caller: CurrentCaller,
                       runtime: RuntimeDep) -> JSON:
    """Change owner (a user who sees one of the ticket's inboxes), status, priority,
    category, name, description or team."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        if changes.get("owner_id") is not None:
            await require_assignable(session, changes["owner_id"],
                                     await queries.inbox_ids_of_ticket(session, ticket_id))
        await tickets.update_ticket(session, ticket_id, changes, actor_id=caller.user.id,
                                    cause="agent")
    return await _detail(runtime, ticket_id, caller.scope)


@router.delete("/api/tickets/{ticket_id}", status_code=204)
async def delete_ticket(ticket_id: IdPath, caller: CurrentCaller,
                        runtime: RuntimeDep) -> Response:
    """Move the ticket to trash; its conversations go with it."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        await tickets.delete_ticket(session, ticket_id, actor_id=caller.user.id, cause="agent")
    return Response(status_code=204)


@router.post("/api/tickets/{ticket_id}/merge")
async def merge_tickets(ticket_id: IdPath, body: MergeRequest, caller: CurrentCaller,
                        runtime: RuntimeDep) -> JSON:
    """Merge `other_id` and this ticket into `primary_id` (the caller must see both).
    There is no undo."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        await queries.visible_ticket(session, body.other_id, scope=caller.scope)
        result = await tickets.merge_tickets(session, ticket_id, body.other_id,
                                             primary_id=body.primary_id,
                                             actor_id=caller.user.id)
    return await _detail(runtime, result.id, caller.scope)
