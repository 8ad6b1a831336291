"""`/admin/status-reasons`: admins keep the reasons of each status (add, rename, take out
of use, reorder, delete; a closed status's reasons say whether they resolve or cancel) and
which reason may follow which, as a matrix of checkboxes. The same service as
`/api/status-reasons`; every change is in the audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.db import transaction
from core.errors import UserError
from tickets import status_reasons
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)
HOME = "/admin/status-reasons"
Label = Annotated[str, Form(max_length=400)]
Choice = Annotated[str, Form(max_length=64)]


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                notice: str | None = None, error: UserError | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        statuses = await status_reasons.status_choices(session)
        reasons = await status_reasons.list_reasons(session)
        pairs = await status_reasons.list_transitions(session)
    labels = dict((key, label) for key, label, _ in statuses)
    return render_admin(request, "admin/status_reasons.html", caller, "status-reasons", {
        "statuses": statuses, "labels": labels, "pairs": pairs, "notice": notice,
        "error": error, "outcomes": status_reasons.OUTCOMES,
        "by_status": {key: [r for r in reasons if r.status == key] for key, _, _ in statuses},
        "reasons": [r for key, _, _ in statuses for r in reasons if r.status == key]},
        status_code=error.status if error else 200)


@router.get(HOME)
async def reasons_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                       notice: str | None = None) -> Response:
    """Each status with its reasons, and the transitions matrix."""
    return await _page(request, caller, runtime, notice=notice)


def _done(notice: str) -> Response:
    return see_other(f"{HOME}?{urlencode({'notice': notice})}")


@router.post(HOME)
async def add_reason(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     status: Choice = "", label: Label = "", outcome: Choice = "") -> Response:
    """Add a reason at the end of its status's list."""
    try:
        async with transaction(runtime.sessions) as session:
            await status_reasons.create_reason(session, status=status, label=label,
                                               outcome=outcome or None, actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc)
    return _done(f"Status reason {label.strip()!r} added")


@router.post(HOME + "/transitions")
async def save_transitions(request: Request, caller: CurrentAdminPage,
                           runtime: RuntimeDep) -> Response:
    """Save the matrix: each checked box `from-to` lets `to` follow `from`."""
    form = await request.form()
    pairs = set()
    for value in form.getlist("pair"):
        frm, _, to = str(value).partition("-")
        if frm.isdigit() and to.isdigit():
            pairs.add((int(frm), int(to)))
    try:
        async with transaction(runtime.sessions) as session:
            await status_reasons.set_transitions(session, pairs, actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc)
    return _done("Transitions saved")


@router.post(HOME + "/{reason_id}")
async def save_reason(request: Request, reason_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep, label: Label = "", outcome: Choice = "",
                      active: Choice = "") -> Response:
    """Save a reason's label, outcome and whether it is in use."""
    changes = {"label": label, "active": active == "on"}
    try:
        async with transaction(runtime.sessions) as session:
            reason = await status_reasons.get_reason(session, reason_id)
            if reason.outcome is not None or outcome:
                changes["outcome"] = outcome or None
            await status_reasons.update_reason(session, reason_id, changes,
                                               actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc)
    return _done(f"Status reason {label.strip()!r} saved")


@router.post(HOME + "/{reason_id}/move")
async def move_reason(request: Request, reason_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep, direction: Choice = "") -> Response:
    """Move a reason up or down among its status's reasons."""
    async with transaction(runtime.sessions) as session:
        await status_reasons.move_reason(session, reason_id, -1 if direction == "up" else 1,
                                         actor=caller.user)
    return _done("Order saved")


@router.post(HOME + "/{reason_id}/delete")
async def delete_reason(request: Request, reason_id: IdPath, caller: CurrentAdminPage,
                        runtime: RuntimeDep) -> Response:
    """Delete a reason and its transitions."""
    async with transaction(runtime.sessions) as session:
        await status_reasons.delete_reason(session, reason_id, actor=caller.user)
    return _done("Status reason deleted")
