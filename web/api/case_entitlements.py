"""Entitlements: admins keep each customer's (company or contact); agents see a case's
options and choose one, checked by the ticket write path (active, the customer's, covering
the case's channel and product)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from core.errors import InvalidInput
from sla.policy import Goals
from sla.service import validate_policy
from tickets import entitlement_terms as terms
from tickets import entitlements, queries
from tickets import service as tickets
from tickets.models import Entitlement
from tickets.state import ORIGINS
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdPath,
    IdQuery,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
    page,
)

router = APIRouter(tags=["entitlements"])

Channel = Literal["email", "chat", "slack", "form", "api", "phone", "walk_in"]
Amount = Annotated[int, Field(ge=0, le=10**8)]
EXAMPLE: JSON = {
    "name": "Gold support 2026", "customer_company_id": 1, "starts_on": "2026-01-01",
    "ends_on": "2026-12-31", "terms_kind": "hours", "terms_total": 600,
    "channels": ["phone", "email"], "product_ids": [], "is_default": True,
    "sla_goals": {"first_response": {"minutes": 30, "due_soon_minutes": 10},
                  "close": {"minutes": 960}}}


ENTITLEMENT_EXAMPLE: JSON = {
    "id": 3, "name": "Gold support 2026", "customer_contact_id": None,
    "customer_company_id": 1, "starts_on": "2026-01-01", "ends_on": "2026-12-31",
    "terms_kind": "hours", "terms_total": 600, "terms_remaining": 510,
    "channels": ["phone", "email"], "product_ids": [], "is_default": True,
    "sla_goals": {"first_response": {"minutes": 30, "due_soon_minutes": 10}},
    "canceled": False, "remaining": "8 h 30 min", "created_at": "2026-01-02T09:00:00+00:00"}
ENTITLEMENTS_EXAMPLE: JSON = {"items": [ENTITLEMENT_EXAMPLE], "next_cursor": None}
CASE_ENTITLEMENT_EXAMPLE: JSON = {
    "entitlement": ENTITLEMENT_EXAMPLE, "suggested_id": 3,
    "options": [ENTITLEMENT_EXAMPLE | {"problem": None}]}


def entitlement_json(row: Entitlement) -> JSON:
    return entitlements.snapshot(row) | {
        "id": row.id, "remaining": terms.format_terms(row.terms_kind, row.terms_remaining),
        "created_at": row.created_at.isoformat()}


def checked_goals(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """An entitlement's SLA goals in the shape of the general ones (`sla.policy.Goals`),
    dumped back to JSON; InvalidInput names the field at fault."""
    if document is None:
        return None
    try:
        return Goals.model_validate(document).model_dump(mode="json")
    except ValueError:
        validate_policy({"goals": document})  # raises InvalidInput naming the field
        raise InvalidInput("sla_goals are not goals", field="sla_goals") from None


class NewEntitlement(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    customer_company_id: IdValue | None = None
    customer_contact_id: IdValue | None = None
    starts_on: Annotated[date, Field(strict=False)]
    ends_on: Annotated[date, Field(strict=False)]
    terms_kind: Literal["hours", "cases"]
    terms_total: Amount = Field(description="Cases, or minutes for terms in hours.")
    terms_remaining: Amount | None = Field(default=None,
                                           description="Defaults to the total.")
    channels: Annotated[list[Channel], Field(max_length=len(ORIGINS))] = Field(
        default=[], description="Channels covered (empty: all).")
    product_ids: Annotated[list[IdValue], Field(max_length=500)] = Field(
        default=[], description="Products covered (empty: all).")
    is_default: bool = False
    sla_goals: dict[str, Any] | None = Field(
        default=None, description="Goals (as the SLA settings' `goals`) that apply to its "
                                  "cases instead of the general ones; null: the general.")
    canceled: bool = False


class EntitlementPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "examples": [
        {"terms_remaining": 300}, {"canceled": True}]})

    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    customer_company_id: IdValue | None = None
    customer_contact_id: IdValue | None = None
    starts_on: Annotated[date, Field(strict=False)] | None = None
    ends_on: Annotated[date, Field(strict=False)] | None = None
    terms_kind: Literal["hours", "cases"] | None = None
    terms_total: Amount | None = None
    terms_remaining: Amount | None = None
    channels: Annotated[list[Channel], Field(max_length=len(ORIGINS))] | None = None
    product_ids: Annotated[list[IdValue], Field(max_length=500)] | None = None
    is_default: bool | None = None
    sla_goals: dict[str, Any] | None = None
    canceled: bool | None = None


class CaseEntitlementChoice(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"entitlement_id": 1},
                                                              {"entitlement_id": None}]})

    entitlement_id: IdValue | None = Field(description="null takes the entitlement off.")


@router.get("/api/entitlements", responses=answers(ENTITLEMENTS_EXAMPLE))
async def list_entitlements(caller: CurrentCaller, runtime: RuntimeDep,
                            company_id: IdQuery = None, contact_id: IdQuery = None) -> JSON:
    """Every entitlement, or a company's or a contact's, by name: those of companies and
    of the contacts of conversations the caller sees."""
    async with transaction(runtime.sessions) as session:
        rows = await entitlements.list_entitlements(session, company_id=company_id,
                                                    contact_id=contact_id,
                                                    scope=caller.scope)
    return page([entitlement_json(r) for r in rows], None)


@router.post("/api/entitlements", status_code=201,
             responses=answers(ENTITLEMENT_EXAMPLE, 201))
async def create_entitlement(body: NewEntitlement, admin: CurrentAdmin,
                             runtime: RuntimeDep) -> JSON:
    """A new entitlement for a company or a contact (admins); made default, it replaces
    the customer's previous default."""
    values = body.model_dump(exclude_none=True) | {"sla_goals": checked_goals(body.sla_goals)}
    async with transaction(runtime.sessions) as session:
        row = await entitlements.create_entitlement(session, values, actor=admin)
    return entitlement_json(row)


@router.get("/api/entitlements/{entitlement_id}", responses=answers(ENTITLEMENT_EXAMPLE))
async def get_entitlement(entitlement_id: IdPath, caller: CurrentCaller,
                          runtime: RuntimeDep) -> JSON:
    """One entitlement with its remaining terms (a contact's only when the caller sees
    the contact's conversations; 404 otherwise)."""
    async with transaction(runtime.sessions) as session:
        return entitlement_json(await entitlements.visible_entitlement(
            session, entitlement_id, scope=caller.scope))


@router.patch("/api/entitlements/{entitlement_id}",
              responses=answers(ENTITLEMENT_EXAMPLE))
async def update_entitlement(entitlement_id: IdPath, body: EntitlementPatch,
                             admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Change an entitlement (admins); a new total moves the remaining terms by as much
    unless `terms_remaining` is given; `sla_goals: null` goes back to the general goals."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    if "sla_goals" in changes:
        changes["sla_goals"] = checked_goals(changes["sla_goals"])
    async with transaction(runtime.sessions) as session:
        row = await entitlements.update_entitlement(session, entitlement_id, changes,
                                                    actor=admin)
    return entitlement_json(row)


@router.delete("/api/entitlements/{entitlement_id}", status_code=204)
async def delete_entitlement(entitlement_id: IdPath, admin: CurrentAdmin,
                             runtime: RuntimeDep) -> Response:
    """Delete an entitlement no case uses (admins); 409 otherwise: cancel it instead."""
    async with transaction(runtime.sessions) as session:
        await entitlements.delete_entitlement(session, entitlement_id, actor=admin)
    return Response(status_code=204)


async def _case_entitlements(session: Any, ticket_id: int, caller: CurrentCaller) -> JSON:
    ticket = await queries.visible_ticket(session, ticket_id, scope=caller.scope)
    found = await entitlements.options_for(session, ticket)
    return {"entitlement": entitlement_json(found.current) if found.current else None,
            "suggested_id": found.suggested_id,
            "options": [entitlement_json(o.entitlement) | {"problem": o.problem}
                        for o in found.options]}


@router.get("/api/tickets/{ticket_id}/entitlement",
            responses=answers(CASE_ENTITLEMENT_EXAMPLE))
async def case_entitlement(ticket_id: IdPath, caller: CurrentCaller,
                           runtime: RuntimeDep) -> JSON:
    """The case's entitlement, its customer's entitlements (`problem` says why one cannot
    be used) and `suggested_id`: the customer's default when the case has none and it
    fits (offered, not applied)."""
    async with transaction(runtime.sessions) as session:
        return await _case_entitlements(session, ticket_id, caller)


@router.put("/api/tickets/{ticket_id}/entitlement",
            responses=answers(CASE_ENTITLEMENT_EXAMPLE))
async def choose_entitlement(ticket_id: IdPath, body: CaseEntitlementChoice,
                             caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Set (or take off) the case's entitlement; 422 when it is not the customer's, not in
    force today or does not cover the case's channel or product. With the case settings'
    decrement on creation, a case is taken off its terms now."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        await tickets.update_ticket(session, ticket_id,
                                    {"entitlement_id": body.entitlement_id},
                                    actor_id=caller.user.id, cause="agent")
    async with transaction(runtime.sessions) as session:
        return await _case_entitlements(session, ticket_id, caller)
