"""`/admin/entitlements`: admins keep each customer's entitlements — the customer (a
company or contact, looked up by name), dates, terms in hours or cases, the channels and
products covered, the customer's default, and its own SLA goals. The same service as
`/api/entitlements`; every change is in the audit log."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import InvalidInput, UserError
from tickets import entitlement_terms as terms
from tickets import entitlements
from tickets.models import Entitlement
from tickets.state import ORIGINS
from web.api.case_entitlements import checked_goals
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)
HOME = "/admin/entitlements"
GOAL_FIELDS = (("first_response", "First response"), ("next_response", "Next response"),
               ("close", "Close"))


def _date(form: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(form.get(name, "")))
    except ValueError:
        raise InvalidInput(f"give the {name.replace('_', ' ')} as a date",
                           field=name) from None


def _amount(kind: str, text: str, field: str) -> int:
    try:
        return terms.minutes_from_hours(text) if kind == "hours" else int(text.strip())
    except ValueError:
        raise InvalidInput(f"{field.replace('_', ' ')} must be a number from 0",
                           field=field) from None


def _goals(form: Any) -> dict[str, Any] | None:
    goals: dict[str, Any] = {}
    for key, _ in GOAL_FIELDS:
        text = str(form.get(f"goal_{key}", "")).strip()
        if text:
            if not text.isdigit():
                raise InvalidInput("goals are whole minutes", field=f"goal_{key}")
            goals[key] = {"minutes": int(text)}
    return checked_goals(goals) if goals else None


async def _customer(session: AsyncSession, text: str) -> dict[str, int | None]:
    choices = {c.label: c for c in await entitlements.customer_choices(session)}
    found = choices.get(text.strip())
    if found is None:
        raise InvalidInput("pick the customer from the list (a company or a contact)",
                           field="customer")
    return {"customer_company_id": found.id if found.kind == "company" else None,
            "customer_contact_id": found.id if found.kind == "contact" else None}


async def form_values(session: AsyncSession, form: Any, *, editing: bool) -> dict[str, Any]:
    """The entitlement form as the service's values; InvalidInput names the field."""
    kind = str(form.get("terms_kind", ""))
    if kind not in terms.TERMS_KINDS:
        raise InvalidInput("choose hours or cases", field="terms_kind")
    values: dict[str, Any] = {
        "name": str(form.get("name", "")), "starts_on": _date(form, "starts_on"),
        "ends_on": _date(form, "ends_on"), "terms_kind": kind,
        "terms_total": _amount(kind, str(form.get("terms_total", "")), "terms_total"),
        "channels": [c for c in form.getlist("channels") if c in ORIGINS],
        "product_ids": [int(p) for p in form.getlist("product_ids") if str(p).isdigit()],
        "is_default": form.get("is_default") == "on", "sla_goals": _goals(form),
        **await _customer(session, str(form.get("customer", "")))}
    if editing:
        values["canceled"] = form.get("canceled") == "on"
        if str(form.get("terms_remaining", "")).strip():
            values["terms_remaining"] = _amount(kind, str(form["terms_remaining"]),
                                                "terms_remaining")
    return values


def _shown(row: Entitlement, labels: dict[tuple[str, int], str]) -> dict[str, Any]:
    kind, customer = (("company", row.customer_company_id) if row.customer_company_id
                      else ("contact", row.customer_contact_id or 0))
    hours = row.terms_kind == "hours"
    return {"row": row, "customer": labels.get((kind, customer), ""),
            "total": f"{row.terms_total / 60:g}" if hours else str(row.terms_total),
            "left": f"{row.terms_remaining / 60:g}" if hours else str(row.terms_remaining),
            "remaining": terms.format_terms(row.terms_kind, row.terms_remaining),
            "active": terms.is_active(row.starts_on, row.ends_on, row.canceled,
                                      entitlements.today()),
            "goals": {k: (row.sla_goals or {}).get(k, {}) or {} for k, _ in GOAL_FIELDS}}


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                editing: int | None = None, notice: str | None = None,
                error: UserError | None = None, draft: Any = None) -> Response:
    async with transaction(runtime.sessions) as session:
        rows = await entitlements.list_entitlements(session)
        customers = await entitlements.customer_choices(session)
        products = await entitlements.product_choices(session)
    labels = {(c.kind, c.id): c.label for c in customers}
    shown = [_shown(r, labels) for r in rows]
    current = next((s for s in shown if s["row"].id == editing), None)
    if editing is not None and current is None:
        raise InvalidInput(f"no entitlement {editing}")
    return render_admin(
        request, "admin/entitlement.html" if editing else "admin/entitlements.html", caller,
        "entitlements", {"entitlements": shown, "current": current, "customers": customers,
                         "products": products, "channels": ORIGINS, "goal_fields": GOAL_FIELDS,
                         "notice": notice, "error": error, "draft": draft},
        status_code=error.status if error else 200)


@router.get(HOME)
async def entitlements_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                            notice: str | None = None) -> Response:
    """Every entitlement with its customer, dates and remaining terms; a form for a new one."""
    return await _page(request, caller, runtime, notice=notice)


@router.get(HOME + "/{entitlement_id}")
async def entitlement_page(request: Request, entitlement_id: IdPath, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """One entitlement's form."""
    return await _page(request, caller, runtime, editing=entitlement_id)


def _done(notice: str) -> Response:
    return see_other(f"{HOME}?{urlencode({'notice': notice})}")


@router.post(HOME)
async def add_entitlement(request: Request, caller: CurrentAdminPage,
                          runtime: RuntimeDep) -> Response:
    """Create an entitlement; a bad one shows the form again with the reason."""
    form = await request.form()
    try:
        async with transaction(runtime.sessions) as session:
            row = await entitlements.create_entitlement(
                session, await form_values(session, form, editing=False), actor=caller.user)
            name = row.name
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc, draft=form)
    return _done(f"Entitlement {name!r} added")


@router.post(HOME + "/{entitlement_id}")
async def save_entitlement(request: Request, entitlement_id: IdPath, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """Save an entitlement's form."""
    form = await request.form()
    try:
        async with transaction(runtime.sessions) as session:
            row = await entitlements.update_entitlement(
                session, entitlement_id, await form_values(session, form, editing=True),
                actor=caller.user)
            name = row.name
    except UserError as exc:
        return await _page(request, caller, runtime, editing=entitlement_id, error=exc,
                           draft=form)
    return _done(f"Entitlement {name!r} saved")


@router.post(HOME + "/{entitlement_id}/delete")
async def remove_entitlement(request: Request, entitlement_id: IdPath,
                             caller: CurrentAdminPage, runtime: RuntimeDep) -> Response:
    """Delete an entitlement no case uses (one in use is to be canceled instead)."""
    try:
        async with transaction(runtime.sessions) as session:
            await entitlements.delete_entitlement(session, entitlement_id, actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, editing=entitlement_id, error=exc)
    return _done("Entitlement deleted")
