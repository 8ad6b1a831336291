"""The case-work part of the ticket card on the conversation page: activities, resolve /
cancel / reactivate, parent and child cases, similar cases. Every change is a form posted
here that calls the services `/api/tickets/{id}/...` calls, then comes back to the
conversation saying what it did (or what was refused)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput, NotFound
from tickets import activities, family, resolution, similar
from tickets.activities import KIND_LABELS
from tickets.models import Ticket
from tickets.queries import visible_conversation_ids, visible_ticket
from web.api.common import RuntimeDep
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other
from web.pages.conversation import _attempt

router = APIRouter(include_in_schema=False)

SmallText = Annotated[str, Form(max_length=1000)]
Number = Annotated[str, Form(max_length=12)]


def _minutes(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput("give the minutes as a whole number", field=name)
    return int(text)


def _due(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput("give the due time as a date and time", field="due_at") from None


def _number(text: str, name: str) -> int:
    number = text.strip().lstrip("#")
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise InvalidInput("give the case number", field=name)
    return int(number)


@router.post("/tickets/{ticket_id}/activities")
async def add_activity(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                       conversation_id: Annotated[int, Form()],
                       kind: Annotated[str, Form(max_length=16)], subject: SmallText = "",
                       due_at: Annotated[str, Form(max_length=40)] = "",
                       duration_minutes: Number = "", owner_id: Number = "") -> Response:
    """Add an activity (its due time taken as UTC)."""
    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        given = activities.ActivityInput(
            kind, subject, "", int(owner_id) if owner_id.isdigit() else None, _due(due_at),
            _minutes(duration_minutes, "duration_minutes"))
        await activities.add_activity(session, ticket_id, given, actor_id=caller.user.id)
        return f"{KIND_LABELS.get(kind, 'Activity')} added"

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/activities/{activity_id}/{outcome}")
async def end_activity(ticket_id: int, activity_id: int, outcome: str,
                       caller: CurrentPageCaller, runtime: RuntimeDep,
                       conversation_id: Annotated[int, Form()],
                       duration_minutes: Number = "") -> Response:
    """Complete (with the minutes it took) or cancel an open activity."""
    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        if outcome == "complete":
            await activities.complete_activity(
                session, ticket_id, activity_id, actor_id=caller.user.id,
                duration_minutes=_minutes(duration_minutes, "duration_minutes"))
            return "Activity completed"
        if outcome == "cancel":
            await activities.cancel_activity(session, ticket_id, activity_id,
                                             actor_id=caller.user.id)
            return "Activity canceled"
        raise InvalidInput("complete or cancel an activity", field="outcome")

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/resolve")
async def resolve(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                  conversation_id: Annotated[int, Form()],
                  resolution_type: Annotated[str, Form(max_length=64)] = "problem_solved",
                  text: Annotated[str, Form(max_length=10_000)] = "",
                  billable_minutes: Number = "",
                  cancel_open_activities: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Resolve the case; a refusal (open activities or children) is shown on the page."""
    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        given = resolution.ResolveInput(
            resolution_type, text, _minutes(billable_minutes, "billable_minutes") or 0,
            bool(cancel_open_activities))
        await resolution.resolve_case(session, ticket_id, given, actor_id=caller.user.id)
        return "Case resolved"

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/case/{change}")
async def change_case(ticket_id: int, change: str, caller: CurrentPageCaller,
                      runtime: RuntimeDep, conversation_id: Annotated[int, Form()]
                      ) -> Response:
    """Cancel or reactivate the case."""
    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        if change == "cancel":
            await resolution.cancel_case(session, ticket_id, actor_id=caller.user.id)
            return "Case canceled"
        if change == "reactivate":
            await resolution.reactivate_case(session, ticket_id, actor_id=caller.user.id)
            return "Case reactivated"
        raise InvalidInput("cancel or reactivate a case", field="change")

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/children")
async def new_child(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                    conversation_id: Annotated[int, Form()], title: SmallText = "",
                    child: Number = "") -> Response:
    """A new child case named `title`, or (with `child`) an existing case attached."""
    async def work(session: AsyncSession) -> str:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        if child.strip():
            number = _number(child, "child")
            await visible_ticket(session, number, scope=caller.scope)
            await family.attach_child(session, ticket_id, number, actor_id=caller.user.id)
            return f"Case #{number} attached as a child"
        made = await family.create_child(session, ticket_id, title, actor_id=caller.user.id)
        return f"Child case #{made.number} created"

    return await _attempt(runtime, conversation_id, work)


@router.post("/tickets/{ticket_id}/similar")
async def link_similar(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                       conversation_id: Annotated[int, Form()], similar_id: Number
                       ) -> Response:
    """Link a case as similar to this one."""
    async def work(session: AsyncSession) -> str:
        number = _number(similar_id, "similar_id")
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await visible_ticket(session, number, scope=caller.scope)
        await similar.link_similar(session, ticket_id, number, actor_id=caller.user.id)
        return f"Case #{number} linked as similar"

    return await _attempt(runtime, conversation_id, work)


@router.get("/tickets/{ticket_id}/similar")
async def similar_page(request: Request, ticket_id: int, caller: CurrentPageCaller,
                       runtime: RuntimeDep, conversation_id: int,
                       q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Resolved cases holding the words of `q`, each with its resolution and a button to
    link it as similar."""
    async with transaction(runtime.sessions) as session:
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        found = await similar.find_similar(session, ticket_id, q, scope=caller.scope)
    return render(request, "conversation/similar.html", _similar_context(
        caller, ticket, conversation_id, q, found))


def _similar_context(caller: PageCaller, ticket: Ticket, conversation_id: int, q: str,
                     found: list[similar.SimilarCase]) -> dict[str, Any]:
    return {"caller": caller, "ticket": ticket, "conversation_id": conversation_id,
            "q": "", "keywords": q, "found": found}


@router.get("/tickets/{ticket_id}/open")
async def open_case(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep) -> Response:
    """The conversation page of a case (its first conversation the caller sees)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        ids = (await visible_conversation_ids(session, [ticket_id], scope=caller.scope))[
            ticket_id]
    if not ids:
        raise NotFound(f"no ticket {ticket_id}")
    return see_other(f"/conversations/{ids[0]}")
