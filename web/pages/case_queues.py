"""Queues in the agent inbox: the rail's "Queues" group with unclaimed counts, a queue's
view (Pick / Release / Move), the ticket card's queue part (add to queue, "Save and
route") and "Apply routing rule" on the list's selection. Each action calls the service
functions the JSON API calls and works as a plain form.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import user_names
from core import clock
from core.db import transaction
from core.errors import UserError
from inbox.access import require_assignable, require_conversation
from tickets import queries
from tickets import queues as queue_service
from tickets import routing_rules as routing
from tickets import service as tickets
from tickets.routing import Rule
from web.api.case_queues import visible_item
from web.api.common import IdPath, RuntimeDep
from web.pages import conversation, saved_views
from web.pages.case_queue_data import rail
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other
from web.pages.format import ago
from web.pages.inbox import _rail as view_rail

router = APIRouter(include_in_schema=False)


@router.post("/tickets/{ticket_id}/queues")
async def add_to_queue(ticket_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep,
                       conversation_id: Annotated[int, Form()],
                       queue_id: Annotated[int, Form()]) -> Response:
    """Add the case to a queue, from the ticket card."""
    async def work(session: AsyncSession) -> str:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        queue = await queue_service.visible_queue(session, queue_id, caller.user)
        await queue_service.add_to_queue(session, queue.id, ticket_id,
                                         actor_id=caller.user.id, cause="agent")
        return f"Added to {queue.name}"

    return await conversation._attempt(runtime, conversation_id, work)


def routed_notice(decided: dict[int, Rule | None]) -> str:
    """What routing did, in words."""
    used = [r.name for r in decided.values() if r is not None]
    if len(decided) == 1:
        return f"Routed by the rule {used[0]}" if used else "No routing rule matched"
    return f"{len(used)} routed, {len(decided) - len(used)} matched no rule"


@router.post("/tickets/{ticket_id}/save-and-route")
async def save_and_route(request: Request, ticket_id: IdPath, caller: CurrentPageCaller,
                         runtime: RuntimeDep,
                         conversation_id: Annotated[int, Form()]) -> Response:
    """Save the ticket card, then route the case by the active rule set (refused for a
    resolved or cancelled case)."""
    changes = conversation.ticket_changes(await request.form())

    async def work(session: AsyncSession) -> str:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        if changes.get("owner_id") is not None:
            found = await require_conversation(session, caller.scope, conversation_id)
            await require_assignable(session, changes["owner_id"], [found.inbox_id])
        await tickets.update_ticket(session, ticket_id, changes, actor_id=caller.user.id,
                                    cause="agent")
        return routed_notice(await routing.route_tickets(session, [ticket_id],
                                                         actor_id=caller.user.id))

    return await conversation._attempt(runtime, conversation_id, work)


def _back(target: str, notice: str) -> Response:
    target = target if target.startswith("/") and not target.startswith("//") else "/"
    separator = "&" if "?" in target else "?"
    return see_other(f"{target}{separator}{urlencode({'notice': notice})}")


@router.post("/bulk/route")
async def apply_routing(caller: CurrentPageCaller, runtime: RuntimeDep,
                        conversation_ids: Annotated[list[int], Form()] = [],  # noqa: B006
                        back: Annotated[str, Form(max_length=1000)] = "/") -> Response:
    """"Apply routing rule" on the list's selection: route the selected conversations'
    tickets together; nothing is routed when one of them is resolved or cancelled."""
    try:
        async with transaction(runtime.sessions) as session:
            ticket_ids: list[int] = []
            for conversation_id in dict.fromkeys(conversation_ids):
                await require_conversation(session, caller.scope, conversation_id)
                ticket = await tickets.ticket_for_conversation(session, conversation_id)
                if ticket is not None and ticket.id not in ticket_ids:
                    ticket_ids.append(ticket.id)
            if not ticket_ids:
                raise UserError("select conversations with a ticket to route")
            notice = routed_notice(await routing.route_tickets(session, ticket_ids,
                                                               actor_id=caller.user.id))
    except UserError as exc:
        notice = f"Not routed: {exc.message}"
    return _back(back, notice)


@router.get("/queues/{queue_id}")
async def queue_page(request: Request, queue_id: IdPath, caller: CurrentPageCaller,
                     runtime: RuntimeDep,
                     notice: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    """A queue's view: its open cases, unclaimed first, with Pick / Release / Move."""
    now = clock.now()
    async with transaction(runtime.sessions) as session:
        queue = await queue_service.visible_queue(session, queue_id, caller.user)
        found = await queue_service.entries(session, queue.id, scope=caller.scope)
        workers = await user_names(session, [e.item.worked_by_id for e in found
                                             if e.item.worked_by_id])
        links = await queries.visible_conversation_ids(session, [e.ticket.id for e in found],
                                                       scope=caller.scope)
        context = {
            "caller": caller, "q": "", "title": queue.name, "queue": queue, "notice": notice,
            "rail": await view_rail(session, caller, None),
            "custom_rail": await saved_views.rail(session, caller, None, now),
            "queue_rail": await rail(session, caller, queue.id),
            "entries": [{"item": e.item, "ticket": e.ticket, "entered": ago(e.item.entered_at,
                                                                            now),
                         "worker": workers.get(e.item.worked_by_id or 0),
                         "conversation_id": next(iter(links[e.ticket.id]), None)}
                        for e in found],
        }
    return render(request, "inbox/queue.html", context)


async def _item_action(runtime: Any, caller: PageCaller, item_id: int, action: str,
                       queue_id: int | None = None) -> Response:
    back = "/"
    try:
        async with transaction(runtime.sessions) as session:
            item = await visible_item(session, item_id, caller.user, caller.scope)
            back = f"/queues/{item.queue_id}"
            if action == "pick":
                await queue_service.pick(session, item_id, user_id=caller.user.id)
                notice = f"You work on #{item.ticket_id} now"
            elif action == "release":
                await queue_service.release(session, item_id, actor_id=caller.user.id)
                notice = f"#{item.ticket_id} released"
            else:
                target = await queue_service.visible_queue(session, queue_id or 0, caller.user)
                await queue_service.move(session, item_id, target.id, actor_id=caller.user.id)
                notice = f"#{item.ticket_id} moved to {target.name}"
    except UserError as exc:
        notice = exc.message
    return _back(back, notice)


@router.post("/queue-items/{item_id}/pick")
async def pick(item_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep) -> Response:
    """Work on the case: it becomes the caller's and leaves the unclaimed list."""
    return await _item_action(runtime, caller, item_id, "pick")


@router.post("/queue-items/{item_id}/release")
async def release(item_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep) -> Response:
    """Put the case back in the queue's unclaimed list."""
    return await _item_action(runtime, caller, item_id, "release")


@router.post("/queue-items/{item_id}/move")
async def move(item_id: IdPath, caller: CurrentPageCaller, runtime: RuntimeDep,
               queue_id: Annotated[int, Form()]) -> Response:
    """Move the case to another queue."""
    return await _item_action(runtime, caller, item_id, "move", queue_id)
