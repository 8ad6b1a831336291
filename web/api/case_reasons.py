"""Status reasons: admins keep the reasons of each status and which may follow which;
agents see the reasons a case may take now (the ticket PATCH takes `status_reason`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from core.errors import InvalidInput
from tickets import queries, status_reasons
from tickets.models import StatusReason
from tickets.reasons import Reason
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    CurrentUser,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
    page,
)

router = APIRouter(tags=["status reasons"])

Label = Annotated[Text, Field(min_length=1, max_length=200)]
Outcome = Literal["resolved", "canceled"]
Pair = Annotated[list[IdValue], Field(min_length=2, max_length=2)]


def reason_json(row: StatusReason | Reason) -> JSON:
    return {"id": row.id, "status": row.status, "key": row.key, "label": row.label,
            "outcome": row.outcome, "active": row.active}


REASON_EXAMPLE: JSON = {"id": 7, "status": "waiting_on_contact", "key": "waiting_for_a_part",
                        "label": "Waiting for a part", "outcome": None, "active": True}
TRANSITIONS_EXAMPLE: JSON = {"transitions": [[2, 3], [2, 4]]}
REASONS_EXAMPLE: JSON = {"items": [REASON_EXAMPLE], "next_cursor": None} | TRANSITIONS_EXAMPLE
CASE_REASONS_EXAMPLE: JSON = {"status": "waiting_on_contact", "status_reason": "researching",
                              "allowed": {"waiting_on_contact": [REASON_EXAMPLE]}}


class NewReason(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "waiting_on_contact", "label": "Waiting for a part"},
        {"status": "closed", "label": "Duplicate", "outcome": "canceled"}]})

    status: Annotated[Text, Field(min_length=1, max_length=64)]
    label: Label
    key: Annotated[Text, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Made from the label when left out.")
    outcome: Outcome | None = Field(default=None,
                                    description="Needed on a closed status's reasons.")


class ReasonPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "examples": [
        {"label": "Researching the problem"}, {"active": False}]})

    label: Label | None = None
    active: bool | None = None
    outcome: Outcome | None = None


class Transitions(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"pairs": [[2, 3], [2, 4]]}]})

    pairs: Annotated[list[Pair], Field(max_length=10_000)] = Field(
        description="[from reason id, to reason id]: to may follow from. A reason with no "
                    "pair from it may be followed by any reason.")


@router.get("/api/status-reasons", responses=answers(REASONS_EXAMPLE))
async def list_reasons(user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Every status reason, by status and order, and the allowed transitions."""
    async with transaction(runtime.sessions) as session:
        rows = await status_reasons.list_reasons(session)
        pairs = await status_reasons.list_transitions(session)
    return page([reason_json(r) for r in rows], None) | {
        "transitions": [list(p) for p in sorted(pairs)]}


@router.post("/api/status-reasons", status_code=201,
             responses=answers(REASON_EXAMPLE, 201))
async def create_reason(body: NewReason, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """A new reason at the end of its status's list (admins)."""
    async with transaction(runtime.sessions) as session:
        row = await status_reasons.create_reason(session, status=body.status,
                                                 label=body.label, key=body.key,
                                                 outcome=body.outcome, actor=admin)
    return reason_json(row)


@router.patch("/api/status-reasons/{reason_id}", responses=answers(REASON_EXAMPLE))
async def update_reason(reason_id: IdPath, body: ReasonPatch, admin: CurrentAdmin,
                        runtime: RuntimeDep) -> JSON:
    """Change a reason's label, outcome, or take it out of use (admins)."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    async with transaction(runtime.sessions) as session:
        row = await status_reasons.update_reason(session, reason_id, changes, actor=admin)
    return reason_json(row)


@router.post("/api/status-reasons/{reason_id}/move", responses=answers(REASON_EXAMPLE))
async def move_reason(reason_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep,
                      direction: Literal["up", "down"]) -> JSON:
    """Move a reason up or down among its status's reasons (admins)."""
    async with transaction(runtime.sessions) as session:
        await status_reasons.move_reason(session, reason_id, -1 if direction == "up" else 1,
                                         actor=admin)
        row = await status_reasons.get_reason(session, reason_id)
    return reason_json(row)


@router.delete("/api/status-reasons/{reason_id}", status_code=204)
async def delete_reason(reason_id: IdPath, admin: CurrentAdmin,
                        runtime: RuntimeDep) -> Response:
    """Delete a reason and its transitions (admins)."""
    async with transaction(runtime.sessions) as session:
        await status_reasons.delete_reason(session, reason_id, actor=admin)
    return Response(status_code=204)


@router.put("/api/status-reasons/transitions", responses=answers(TRANSITIONS_EXAMPLE))
async def set_transitions(body: Transitions, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Replace every allowed transition (admins)."""
    async with transaction(runtime.sessions) as session:
        await status_reasons.set_transitions(session, {(a, b) for a, b in body.pairs},
                                             actor=admin)
        pairs = await status_reasons.list_transitions(session)
    return {"transitions": [list(p) for p in sorted(pairs)]}


@router.get("/api/tickets/{ticket_id}/status-reasons",
            responses=answers(CASE_REASONS_EXAMPLE))
async def case_reasons(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The reasons the case may take now, per status (given its status and reason)."""
    async with transaction(runtime.sessions) as session:
        ticket = await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        allowed = await status_reasons.allowed_for(session, ticket)
    return {"status": ticket.status, "status_reason": ticket.status_reason,
            "allowed": {status: [reason_json(r) for r in rows]
                        for status, rows in allowed.items()}}
