"""`/admin/canned-replies`: admins write the canned replies agents insert (the same service
as `/api/snippets`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.db import transaction
from core.errors import UserError
from inbox import snippets
from inbox.placeholders import PLACEHOLDERS
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

Name = Annotated[str, Form(max_length=snippets.MAX_NAME * 4)]
Body = Annotated[str, Form(max_length=snippets.MAX_BODY * 2)]
HOME = "/admin/canned-replies"


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                notice: str | None = None, error: UserError | None = None,
                draft: dict[str, str] | None = None, failed_id: int | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        rows = await snippets.list_snippets(session)
    return render_admin(request, "admin/snippets.html", caller, "canned-replies", {
        "snippets": rows, "notice": notice, "error": error, "draft": draft or {},
        "failed_id": failed_id, "placeholders": [f"{{{{{p}}}}}" for p in PLACEHOLDERS]},
        status_code=422 if error and error.status == 422 else 409 if error else 200)


@router.get(HOME)
async def snippets_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                        notice: str | None = None) -> Response:
    """Every canned reply with its form, and a form for a new one."""
    return await _page(request, caller, runtime, notice=notice)


def _done(notice: str) -> Response:
    return see_other(f"{HOME}?{urlencode({'notice': notice})}")


@router.post(HOME)
async def add_snippet(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      name: Name = "", body: Body = "") -> Response:
    """Create a canned reply; a bad one shows the form again with the reason."""
    try:
        async with transaction(runtime.sessions) as session:
            await snippets.create_snippet(session, name=name, body=body, actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc,
                           draft={"name": name, "body": body})
    return _done(f"Canned reply {name.strip()!r} added")


@router.post(HOME + "/{snippet_id}")
async def save_snippet(request: Request, snippet_id: IdPath, caller: CurrentAdminPage,
                       runtime: RuntimeDep, name: Name = "", body: Body = "") -> Response:
    """Save a canned reply's name and body."""
    try:
        async with transaction(runtime.sessions) as session:
            await snippets.update_snippet(session, snippet_id, {"name": name, "body": body},
                                          actor=caller.user)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc, failed_id=snippet_id,
                           draft={"name": name, "body": body})
    return _done(f"Canned reply {name.strip()!r} saved")


@router.post(HOME + "/{snippet_id}/delete")
async def remove_snippet(snippet_id: IdPath, caller: CurrentAdminPage,
                         runtime: RuntimeDep) -> Response:
    """Delete a canned reply (replies it filled keep their text)."""
    async with transaction(runtime.sessions) as session:
        await snippets.delete_snippet(session, snippet_id, actor=caller.user)
    return _done("Canned reply deleted")
