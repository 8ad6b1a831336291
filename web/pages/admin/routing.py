"""`/admin/routing`: routing rule sets. Make a set, add rules (conditions AND-combined, one
action), put them in order, activate the set (the others go inactive). Changes go through
`tickets.routing_rules` (the JSON API's functions, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from accounts import service as accounts
from core.db import transaction
from core.errors import InvalidInput, UserError
from inbox import channels
from tickets import queues as queue_service
from tickets import routing_rules as routing
from tickets.routing import ACTION_KINDS, FIELD_LABELS
from tickets.state import ORIGINS, PRIORITIES
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

Short = Annotated[str, Form(max_length=200)]
NOTICES = {"created": "Rule set created.", "added": "Rule added.", "moved": "Order saved.",
           "deleted": "Rule deleted.", "activated": "Active: new routing uses this set.",
           "deactivated": "Deactivated: no rule set routes cases now.",
           "removed": "Rule set deleted.", "saved": "Rule saved."}


async def _sets_page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                     notice: str | None = None, error: str | None = None,
                     status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        found = await routing.rule_sets(session)
    return render_admin(request, "admin/routing.html", caller, "routing", {
        "sets": found, "notice": notice, "error": error}, status_code=status_code)


@router.get("/admin/routing")
async def rule_sets_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                         done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Every rule set, the active one first; a form to make one."""
    return await _sets_page(request, caller, runtime, notice=NOTICES.get(done))


@router.post("/admin/routing")
async def create_rule_set(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                          name: Short = "") -> Response:
    """Make a rule set and go to it."""
    try:
        async with transaction(runtime.sessions) as session:
            found = await routing.create_rule_set(session, name, actor=caller.user)
    except UserError as exc:
        return await _sets_page(request, caller, runtime, error=exc.message,
                                status_code=exc.status)
    return see_other(f"/admin/routing/{found.id}?done=created")


async def _describe(session: Any) -> dict[str, Any]:
    """Names for the rule form's choices and for describing stored rules."""
    choices = await routing.condition_choices(session)
    queues = [(q.id, q.name) for q in await queue_service.every_queue(session)]
    users = [(u.id, u.name) for u in await accounts.everyone(session) if u.active]
    teams = [(t.id, t.name) for t in await accounts.every_team(session) if t.active]
    return {"choices": choices, "targets": {"queue": queues, "user": users, "team": teams}}


def rule_text(rule: Any, names: dict[str, Any]) -> tuple[str, str]:
    """A stored rule's conditions and action in words."""
    def name_of(kind: str, value: Any) -> str:
        options = dict(names["choices"].get(kind, []) or names["targets"].get(kind, []))
        return str(options.get(value, f"#{value}"))

    parts = []
    for c in rule.conditions:
        value = c["value"]
        if c["field"] in ("inbox", "company", "product"):
            value = name_of(c["field"], value)
        elif c["field"] == "entitlement":
            value = "yes" if value else "no"
        parts.append(f"{FIELD_LABELS[c['field']]}: {value}")
    kind, target = rule.action["kind"], rule.action["id"]
    return (" and ".join(parts) or "every case",
            f"{ACTION_KINDS[kind]} {name_of(kind, target)}")


def form_values(rule: Any) -> dict[str, str]:
    """A stored rule as the rule form shows it."""
    values = {"name": rule.name, "action": f"{rule.action['kind']}:{rule.action['id']}"}
    for c in rule.conditions:
        value = c["value"]
        values[f"cond_{c['field']}"] = (("yes" if value else "no")
                                        if isinstance(value, bool) else str(value))
    return values


async def _set_page(request: Request, caller: PageCaller, runtime: RuntimeDep, set_id: int, *,
                    notice: str | None = None, error: str | None = None,
                    editing: int | None = None, status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        found = await routing.get_rule_set(session, set_id)
        rules = await routing.rules_of(session, set_id)
        names = await _describe(session)
    edited = next((r for r in rules if r.id == editing), None)
    return render_admin(request, "admin/routing_set.html", caller, "routing", {
        "set": found, "rules": [(r, *rule_text(r, names)) for r in rules], **names,
        "origins": ORIGINS, "priorities": PRIORITIES, "action_kinds": ACTION_KINDS,
        "edited": edited, "values": form_values(edited) if edited else {},
        "notice": notice, "error": error}, status_code=status_code)


@router.get("/admin/routing/{set_id}")
async def rule_set_page(request: Request, set_id: IdPath, caller: CurrentAdminPage,
                        runtime: RuntimeDep,
                        done: Annotated[str, Query(max_length=20)] = "",
                        edit: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
                        ) -> Response:
    """One rule set: its rules in order, a form to add one (or to edit the rule `edit`),
    activation."""
    return await _set_page(request, caller, runtime, set_id, notice=NOTICES.get(done),
                           editing=edit)


def conditions_from_form(form: Any) -> list[dict[str, Any]]:
    """The conditions the rule form fills in (an empty field is no condition)."""
    conditions: list[dict[str, Any]] = []
    for field in FIELD_LABELS:
        raw = str(form.get(f"cond_{field}", "")).strip()
        if not raw:
            continue
        value: Any = raw
        if field in ("inbox", "company", "product"):
            value = int(raw) if raw.isdigit() and len(raw) < 10 else 0
        elif field == "entitlement":
            value = raw == "yes"
        conditions.append({"field": field, "value": value})
    return conditions


def action_from_form(raw: str) -> dict[str, Any]:
    """The action chosen as `kind:id`."""
    kind, _, target = raw.partition(":")
    if not (target.isdigit() and len(target) < 10):
        raise InvalidInput("choose what the rule does", field="action")
    return {"kind": kind, "id": int(target)}


@router.post("/admin/routing/{set_id}/rules")
async def add_rule(request: Request, set_id: IdPath, caller: CurrentAdminPage,
                   runtime: RuntimeDep, name: Short = "", action: Short = "") -> Response:
    """Append a rule to the set."""
    form = await request.form()
    try:
        async with transaction(runtime.sessions) as session:
            await routing.add_rule(session, set_id, name, conditions_from_form(form),
                                   action_from_form(action), actor=caller.user)
    except UserError as exc:
        return await _set_page(request, caller, runtime, set_id, error=exc.message,
                               status_code=exc.status)
    return see_other(f"/admin/routing/{set_id}?done=added")


@router.post("/admin/routing/{set_id}/rules/{rule_id}")
async def edit_rule(request: Request, set_id: IdPath, rule_id: IdPath,
                    caller: CurrentAdminPage, runtime: RuntimeDep, name: Short = "",
                    action: Short = "") -> Response:
    """Replace a rule's name, conditions and action."""
    form = await request.form()
    try:
        async with transaction(runtime.sessions) as session:
            await routing.rule_in_set(session, set_id, rule_id)
            await routing.update_rule(session, rule_id, name, conditions_from_form(form),
                                      action_from_form(action), actor=caller.user)
    except UserError as exc:
        return await _set_page(request, caller, runtime, set_id, error=exc.message,
                               editing=rule_id, status_code=exc.status)
    return see_other(f"/admin/routing/{set_id}?done=saved")


async def _change(set_id: int, caller: PageCaller, runtime: RuntimeDep, work: Any,
                  done: str) -> Response:
    async with transaction(runtime.sessions) as session:
        await work(session)
    return see_other(f"/admin/routing/{set_id}?done={done}")


@router.post("/admin/routing/{set_id}/rules/{rule_id}/move")
async def move_rule(set_id: IdPath, rule_id: IdPath, caller: CurrentAdminPage,
                    runtime: RuntimeDep, direction: Annotated[str, Form(max_length=4)] = ""
                    ) -> Response:
    """Move a rule one place up or down."""
    async def work(session: Any) -> None:
        await routing.rule_in_set(session, set_id, rule_id)
        await routing.move_rule(session, rule_id, direction, actor=caller.user)
    return await _change(set_id, caller, runtime, work, "moved")


@router.post("/admin/routing/{set_id}/rules/{rule_id}/delete")
async def delete_rule(set_id: IdPath, rule_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep) -> Response:
    """Remove a rule."""
    async def work(session: Any) -> None:
        await routing.rule_in_set(session, set_id, rule_id)
        await routing.delete_rule(session, rule_id, actor=caller.user)
    return await _change(set_id, caller, runtime, work, "deleted")


@router.post("/admin/routing/{set_id}/active")
async def set_active(set_id: IdPath, caller: CurrentAdminPage, runtime: RuntimeDep,
                     active: Annotated[str, Form(max_length=4)] = "") -> Response:
    """Activate the set (the others go inactive) or deactivate it."""
    async def work(session: Any) -> None:
        await routing.set_active(session, set_id, active == "yes", actor=caller.user)
    return await _change(set_id, caller, runtime, work,
                         "activated" if active == "yes" else "deactivated")


@router.post("/admin/routing/{set_id}/delete")
async def delete_rule_set(set_id: IdPath, caller: CurrentAdminPage,
                          runtime: RuntimeDep) -> Response:
    """Remove the set and its rules."""
    async with transaction(runtime.sessions) as session:
        await routing.delete_rule_set(session, set_id, actor=caller.user)
    return see_other("/admin/routing?done=removed")


@router.post("/admin/inboxes/{slug}/routing")
async def route_new_tickets(slug: Annotated[str, Path(max_length=64)],
                            caller: CurrentAdminPage, runtime: RuntimeDep,
                            route_new_tickets: Annotated[str, Form(max_length=4)] = ""
                            ) -> Response:
    """The inbox page's "Route new tickets" switch."""
    async with transaction(runtime.sessions) as session:
        await channels.set_route_new_tickets(session, caller.user, slug,
                                             route_new_tickets == "on")
    return see_other(f"/admin/inboxes/{slug}?saved=routing")
