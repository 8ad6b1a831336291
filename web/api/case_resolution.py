"""Case work: activities, resolve / cancel / reactivate, parent and child cases, similar
cases, and the case settings (admins). A ticket the caller may not see is a 404."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from pydantic import Field

from audit.service import record_change
from core.db import transaction
from tickets import activities, family, resolution, similar
from tickets.case_settings import (
    INHERITABLE,
    CaseSettingsView,
    read_case_settings,
    validated,
    write_case_settings,
)
from tickets.models import CaseActivity, CaseResolution, Ticket
from tickets.queries import visible_ticket
from tickets.resolution_rules import MAX_MINUTES
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdPath,
    IdValue,
    Moment,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
)

router = APIRouter(tags=["cases"])

Minutes = Annotated[int, Field(ge=0, le=MAX_MINUTES, examples=[90])]
Kind = Literal["task", "phone_call", "appointment"]


class ActivityBody(RequestModel):
    kind: Kind
    subject: Annotated[Text, Field(min_length=1, max_length=300, examples=["Call back"])]
    description: Annotated[Text, Field(max_length=10_000)] = ""
    owner_id: IdValue | None = None
    due_at: Moment | None = None
    duration_minutes: Minutes | None = None

    def given(self) -> activities.ActivityInput:
        return activities.ActivityInput(self.kind, self.subject, self.description,
                                        self.owner_id, self.due_at, self.duration_minutes)


class CompleteBody(RequestModel):
    duration_minutes: Minutes | None = None


class ResolveBody(RequestModel):
    resolution_type: Annotated[str, Field(max_length=64, examples=["problem_solved"])] = (
        "problem_solved")
    text: Annotated[Text, Field(max_length=10_000)] = ""
    billable_minutes: Minutes = 0
    cancel_open_activities: bool = False


class ChildBody(RequestModel):
    title: Annotated[Text, Field(min_length=1, max_length=998, examples=["Replace the part"])]


class AttachBody(RequestModel):
    child_id: IdValue


class SimilarBody(RequestModel):
    similar_id: IdValue


class CaseSettingsBody(RequestModel):
    inherited_fields: Annotated[list[Literal[INHERITABLE]], Field(  # type: ignore[valid-type]
        max_length=len(INHERITABLE), examples=[["customer", "product", "subject"]])]
    close_children_with_parent: bool
    entitlement_decrement_on: Literal["creation", "resolution"]


ACTIVITY_EXAMPLE = {"task": {"summary": "A task due tomorrow", "value": {
    "kind": "task", "subject": "Order the replacement part", "due_at": "2026-01-02T09:00:00Z",
    "duration_minutes": 30}}}
RESOLVE_EXAMPLE = {"solved": {"summary": "Solved, 90 minutes billable", "value": {
    "resolution_type": "problem_solved", "text": "Part replaced", "billable_minutes": 90,
    "cancel_open_activities": False}}}


ACTIVITY_ANSWER: JSON = {
    "id": 8, "ticket_id": 42, "kind": "task", "subject": "Call back about the part",
    "description": "", "owner_id": 3, "due_at": "2026-03-05T09:00:00+00:00",
    "duration_minutes": 30, "state": "open", "created_at": "2026-03-04T14:10:00+00:00",
    "ended_at": None}
RESOLUTION_ANSWER: JSON = {
    "id": 4, "resolution_type": "problem_solved", "text": "Replaced the fuser.",
    "total_minutes": 90, "billable_minutes": 90, "resolved_by_id": 3,
    "resolved_at": "2026-03-05T11:30:00+00:00", "reactivated_at": None}
RESOLUTION_VIEW_ANSWER: JSON = {
    "total_minutes": 90, "resolution_types": [{"key": "problem_solved",
                                               "label": "Problem solved"}],
    "latest": None}
CASE_ANSWER: JSON = {"id": 42, "number": 1042, "name": "Printer on fire",
                     "status": "closed", "status_reason": "canceled", "parent_id": None}
SIMILAR_ANSWER: JSON = CASE_ANSWER | {"id": 37, "status_reason": "problem_solved",
                                      "resolution": RESOLUTION_ANSWER,
                                      "linked_at": "2026-03-05T10:00:00+00:00"}
ENDED_AT = "2026-03-05T09:20:00+00:00"
SETTINGS_ANSWER: JSON = {"inherited_fields": ["customer", "product_id"],
                         "close_children_with_parent": True,
                         "entitlement_decrement_on": "resolution"}


def activity_json(a: CaseActivity) -> JSON:
    return {"id": a.id, "ticket_id": a.ticket_id, "kind": a.kind, "subject": a.subject,
            "description": a.description, "owner_id": a.owner_id,
            "due_at": a.due_at.isoformat() if a.due_at else None,
            "duration_minutes": a.duration_minutes, "state": a.state,
            "created_at": a.created_at.isoformat(),
            "ended_at": a.ended_at.isoformat() if a.ended_at else None}


def resolution_json(r: CaseResolution | None) -> JSON | None:
    if r is None:
        return None
    return {"id": r.id, "resolution_type": r.resolution_type, "text": r.text,
            "total_minutes": r.total_minutes, "billable_minutes": r.billable_minutes,
            "resolved_by_id": r.resolved_by_id, "resolved_at": r.resolved_at.isoformat(),
            "reactivated_at": r.reactivated_at.isoformat() if r.reactivated_at else None}


def case_json(t: Ticket) -> JSON:
    return {"id": t.id, "number": t.number, "name": t.name, "status": t.status,
            "status_reason": t.status_reason, "parent_id": t.parent_id}


@router.get("/api/tickets/{ticket_id}/activities",
    responses=answers({"items": [ACTIVITY_ANSWER]}))
async def list_activities(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep
                          ) -> JSON:
    """The case's activities, open ones first."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        items = await activities.activities_of(session, ticket_id)
    return {"items": [activity_json(a) for a in items]}


@router.post("/api/tickets/{ticket_id}/activities", status_code=201,
    responses=answers(ACTIVITY_ANSWER, 201))
async def add_activity(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                       body: Annotated[ActivityBody, Body(openapi_examples=ACTIVITY_EXAMPLE)]
                       ) -> JSON:
    """Add a task, phone call or appointment (open) to the case."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        made = await activities.add_activity(session, ticket_id, body.given(),
                                              actor_id=caller.user.id)
    return activity_json(made)


@router.put("/api/tickets/{ticket_id}/activities/{activity_id}",
    responses=answers(ACTIVITY_ANSWER))
async def edit_activity(ticket_id: IdPath, activity_id: IdPath, caller: CurrentCaller,
                        runtime: RuntimeDep,
                        body: Annotated[ActivityBody, Body(openapi_examples=ACTIVITY_EXAMPLE)]
                        ) -> JSON:
    """Replace an open activity's fields (409 for a completed or canceled one)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        changed = await activities.edit_activity(session, ticket_id, activity_id,
                                                 body.given(), actor_id=caller.user.id)
    return activity_json(changed)


@router.post("/api/tickets/{ticket_id}/activities/{activity_id}/complete",
    responses=answers(ACTIVITY_ANSWER | {"state": "completed", "ended_at": ENDED_AT}))
async def complete_activity(ticket_id: IdPath, activity_id: IdPath, caller: CurrentCaller,
                            runtime: RuntimeDep,
                            body: Annotated[CompleteBody, Body(openapi_examples={
                                "timed": {"summary": "Took 45 minutes",
                                          "value": {"duration_minutes": 45}}})]) -> JSON:
    """Mark an open activity completed, with the time it took when given."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        done = await activities.complete_activity(
            session, ticket_id, activity_id, actor_id=caller.user.id,
            duration_minutes=body.duration_minutes)
    return activity_json(done)


@router.post("/api/tickets/{ticket_id}/activities/{activity_id}/cancel",
    responses=answers(ACTIVITY_ANSWER | {"state": "canceled", "ended_at": ENDED_AT}))
async def cancel_activity(ticket_id: IdPath, activity_id: IdPath, caller: CurrentCaller,
                          runtime: RuntimeDep) -> JSON:
    """Mark an open activity canceled."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        done = await activities.cancel_activity(session, ticket_id, activity_id,
                                                actor_id=caller.user.id)
    return activity_json(done)


@router.get("/api/tickets/{ticket_id}/resolution",
    responses=answers(RESOLUTION_VIEW_ANSWER))
async def get_resolution(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep
                         ) -> JSON:
    """What resolving would record now (the total time of the completed activities), the
    reasons a case can be resolved with, and the latest resolution."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        total = await resolution.case_total_minutes(session, ticket_id)
        reasons = await resolution.resolved_reasons(session)
        latest = await resolution.latest_resolution(session, ticket_id)
    return {"total_minutes": total, "resolution_types": [
        {"key": key, "label": label} for key, label in reasons],
        "latest": resolution_json(latest)}


@router.post("/api/tickets/{ticket_id}/resolve",
    responses=answers(RESOLUTION_ANSWER))
async def resolve(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                  body: Annotated[ResolveBody, Body(openapi_examples=RESOLVE_EXAMPLE)]) -> JSON:
    """Resolve the case: 409 while activities are open (unless `cancel_open_activities`)
    or child cases are open (unless the settings close children with their parent)."""
    given = resolution.ResolveInput(body.resolution_type, body.text, body.billable_minutes,
                                    body.cancel_open_activities)
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        made = await resolution.resolve_case(session, ticket_id, given,
                                             actor_id=caller.user.id)
    return resolution_json(made) or {}


@router.post("/api/tickets/{ticket_id}/cancel",
    responses=answers(CASE_ANSWER))
async def cancel(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Cancel the case (closed, reason Canceled; its open activities canceled)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await resolution.cancel_case(session, ticket_id, actor_id=caller.user.id)
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        return case_json(ticket)


@router.post("/api/tickets/{ticket_id}/reactivate",
    responses=answers(CASE_ANSWER | {"status": "waiting_on_us", "status_reason": None}))
async def reactivate(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Make a resolved or canceled case active again (409 for an active one)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        ticket = await resolution.reactivate_case(session, ticket_id,
                                                  actor_id=caller.user.id)
        return case_json(ticket)


@router.get("/api/tickets/{ticket_id}/children",
    responses=answers({"parent_id": None,
                       "items": [CASE_ANSWER | {"id": 43, "parent_id": 42}]}))
async def list_children(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep
                        ) -> JSON:
    """The case's parent (if it is a child) and its child cases."""
    async with transaction(runtime.sessions) as session:
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        children = await family.children_of(session, ticket_id, scope=caller.scope)
        return {"parent_id": ticket.parent_id, "items": [case_json(c) for c in children]}


@router.post("/api/tickets/{ticket_id}/children", status_code=201,
    responses=answers(CASE_ANSWER | {"id": 43, "parent_id": 42}, 201))
async def new_child(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                    body: Annotated[ChildBody, Body(openapi_examples={"child": {
                        "summary": "A child case", "value": {"title": "Replace the part"}}})]
                    ) -> JSON:
    """Make a child case (copying the inherited fields); 409 when this case is a child."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        child = await family.create_child(session, ticket_id, body.title,
                                          actor_id=caller.user.id)
        return case_json(child)


@router.post("/api/tickets/{ticket_id}/children/attach",
    responses=answers(CASE_ANSWER | {"id": 43, "parent_id": 42}))
async def attach_child(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                       body: Annotated[AttachBody, Body(openapi_examples={"attach": {
                           "summary": "Attach case #2", "value": {"child_id": 2}}})]) -> JSON:
    """Attach an existing case (one the caller sees) as a child; one level only (409)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await visible_ticket(session, body.child_id, scope=caller.scope)
        child = await family.attach_child(session, ticket_id, body.child_id,
                                          actor_id=caller.user.id)
        return case_json(child)


def similar_json(found: similar.SimilarCase) -> JSON:
    return {**case_json(found.ticket), "resolution": resolution_json(found.resolution),
            "linked_at": found.linked_at.isoformat() if found.linked_at else None}


@router.get("/api/tickets/{ticket_id}/similar",
    responses=answers({"q": "printer fire",
                       "items": [SIMILAR_ANSWER | {"linked_at": None}], "linked": []}))
async def similar_cases(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                        q: Annotated[str | None, Query(max_length=200)] = None) -> JSON:
    """Resolved cases whose conversations hold every word of `q` (by default the case's
    title and subject), with their resolutions; and the cases already linked."""
    async with transaction(runtime.sessions) as session:
        ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
        keywords = q if q is not None else await similar.default_keywords(session, ticket)
        found = await similar.find_similar(session, ticket_id, keywords, scope=caller.scope)
        linked = await similar.similar_links(session, ticket_id, scope=caller.scope)
    return {"q": keywords, "items": [similar_json(f) for f in found],
            "linked": [similar_json(f) for f in linked]}


@router.post("/api/tickets/{ticket_id}/similar", status_code=201,
    responses=answers({"linked": [SIMILAR_ANSWER]}, 201))
async def link_similar(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
                       body: Annotated[SimilarBody, Body(openapi_examples={"link": {
                           "summary": "Link case #2", "value": {"similar_id": 2}}})]) -> JSON:
    """Link a case the caller sees as similar to this one (409 when it already is)."""
    async with transaction(runtime.sessions) as session:
        await visible_ticket(session, ticket_id, scope=caller.scope)
        await visible_ticket(session, body.similar_id, scope=caller.scope)
        await similar.link_similar(session, ticket_id, body.similar_id,
                                   actor_id=caller.user.id)
        linked = await similar.similar_links(session, ticket_id, scope=caller.scope)
    return {"linked": [similar_json(f) for f in linked]}


def settings_json(s: CaseSettingsView) -> JSON:
    return {"inherited_fields": list(s.inherited_fields),
            "close_children_with_parent": s.close_children_with_parent,
            "entitlement_decrement_on": s.entitlement_decrement_on}


@router.get("/api/admin/case-settings",
    responses=answers(SETTINGS_ANSWER))
async def get_case_settings(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """The case settings (defaults when never saved)."""
    async with transaction(runtime.sessions) as session:
        return settings_json(await read_case_settings(session))


@router.put("/api/admin/case-settings",
    responses=answers(SETTINGS_ANSWER))
async def put_case_settings(admin: CurrentAdmin, runtime: RuntimeDep,
                            body: Annotated[CaseSettingsBody, Body(openapi_examples={
                                "default": {"summary": "Children inherit the customer",
                                            "value": {"inherited_fields": ["customer",
                                                                           "product"],
                                                      "close_children_with_parent": True,
                                                      "entitlement_decrement_on":
                                                          "resolution"}}})]) -> JSON:
    """Replace the case settings (recorded in the audit log)."""
    wanted = validated(list(body.inherited_fields), body.close_children_with_parent,
                       body.entitlement_decrement_on)
    async with transaction(runtime.sessions) as session:
        before, after = await write_case_settings(session, wanted)
        await record_change(session, actor=admin, action="case_settings.updated",
                            subject_type="case_settings", subject_id=1,
                            summary="Changed the case settings", before=settings_json(before),
                            after=settings_json(after))
    return settings_json(after)
