"""`/admin/queues`: the queues, public or private to members; make one, edit it, remove it.
Changes go through `tickets.queues` (the JSON API's functions, audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from accounts import service as accounts
from core.db import transaction
from core.errors import UserError
from tickets import queues as queue_service
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.admin.people import FormIds, _ids
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form(max_length=2000)]
NOTICES = {"created": "Queue created.", "saved": "Saved.", "deleted": "Queue deleted."}


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                notice: str | None = None, error: str | None = None,
                values: dict[str, Any] | None = None, editing: int | None = None,
                status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        found = await queue_service.every_queue(session)
        members = await queue_service.members_of(session, [q.id for q in found])
        people = [p for p in await accounts.everyone(session) if p.active]
    names = {p.id: p.name for p in people}
    current = next((q for q in found if q.id == editing), None)
    if values is None:
        values = ({"name": current.name, "description": current.description,
                   "is_private": current.is_private, "member_ids": members[current.id]}
                  if current else {"name": "", "description": "", "is_private": False,
                                   "member_ids": []})
    return render_admin(request, "admin/queues.html", caller, "queues", {
        "queues": [{"queue": q, "members": [names.get(m, "?") for m in members[q.id]]}
                   for q in found],
        "people": people, "values": values, "current": current, "notice": notice,
        "error": error}, status_code=status_code)


@router.get("/admin/queues")
async def queues_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Every queue with its members; a form to make one."""
    return await _page(request, caller, runtime, notice=NOTICES.get(done))


@router.get("/admin/queues/{queue_id}")
async def queue_page(request: Request, queue_id: IdPath, caller: CurrentAdminPage,
                     runtime: RuntimeDep,
                     done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The queues, with the form filled in to edit one."""
    async with transaction(runtime.sessions) as session:
        await queue_service.get_queue(session, queue_id)
    return await _page(request, caller, runtime, notice=NOTICES.get(done), editing=queue_id)


def _values(name: str, description: str, is_private: str, member_ids: list[str]
            ) -> dict[str, Any]:
    return {"name": name, "description": description, "is_private": is_private == "on",
            "member_ids": _ids(member_ids)}


@router.post("/admin/queues")
async def create_queue(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                       name: FormText = "", description: FormText = "",
                       is_private: Annotated[str, Form(max_length=4)] = "",
                       member_ids: FormIds = []) -> Response:  # noqa: B006 (FastAPI copies)
    """Make a queue."""
    values = _values(name, description, is_private, member_ids)
    try:
        async with transaction(runtime.sessions) as session:
            await queue_service.create_queue(session, dict(values), actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc.message, values=values,
                           status_code=exc.status)
    return see_other("/admin/queues?done=created")


@router.post("/admin/queues/{queue_id}")
async def edit_queue(request: Request, queue_id: IdPath, caller: CurrentAdminPage,
                     runtime: RuntimeDep, name: FormText = "", description: FormText = "",
                     is_private: Annotated[str, Form(max_length=4)] = "",
                     member_ids: FormIds = []) -> Response:  # noqa: B006 (FastAPI copies)
    """Change a queue's name, description, privacy and members."""
    values = _values(name, description, is_private, member_ids)
    try:
        async with transaction(runtime.sessions) as session:
            await queue_service.update_queue(session, queue_id, dict(values), actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc.message, values=values,
                           editing=queue_id, status_code=exc.status)
    return see_other(f"/admin/queues/{queue_id}?done=saved")


@router.post("/admin/queues/{queue_id}/delete")
async def delete_queue(request: Request, queue_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """Remove a queue (refused while a routing rule adds cases to it)."""
    try:
        async with transaction(runtime.sessions) as session:
            await queue_service.delete_queue(session, queue_id, actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc.message, editing=queue_id,
                           status_code=exc.status)
    return see_other("/admin/queues?done=deleted")
