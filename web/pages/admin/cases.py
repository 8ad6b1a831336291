"""`/admin/cases`: the case settings — which fields a child case inherits from its parent,
whether resolving a parent resolves its open children, and when entitlements go down.
Saved through the same functions `/api/admin/case-settings` calls, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from audit.service import record_change
from core.db import transaction
from core.errors import UserError
from tickets.case_settings import INHERITABLE, read_case_settings, validated, write_case_settings
from web.api.case_resolution import settings_json
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)
FIELD_LABELS = {"customer": "Customer", "product": "Product", "subject": "Subject",
                "priority": "Priority", "case_type": "Case type", "origin": "Origin",
                "entitlement": "Entitlement", "team": "Team", "category": "Category"}


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                notice: str | None = None, error: str | None = None,
                status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        settings = await read_case_settings(session)
    return render_admin(request, "admin/cases.html", caller, "cases", {
        "settings": settings, "fields": [(f, FIELD_LABELS[f]) for f in INHERITABLE],
        "notice": notice, "error": error}, status_code=status_code)


@router.get("/admin/cases")
async def cases_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The case settings form."""
    return await _page(request, caller, runtime, notice="Saved." if done == "saved" else None)


@router.post("/admin/cases")
async def save_cases(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     inherited: Annotated[list[str] | None, Form()] = None,
                     close_children: Annotated[str, Form(max_length=8)] = "",
                     decrement_on: Annotated[str, Form(max_length=16)] = "creation"
                     ) -> Response:
    """Save the settings (recorded in the audit log)."""
    try:
        wanted = validated(inherited or [], bool(close_children), decrement_on)
        async with transaction(runtime.sessions) as session:
            before, after = await write_case_settings(session, wanted)
            await record_change(session, actor=caller.user, action="case_settings.updated",
                                subject_type="case_settings", subject_id=1,
                                summary="Changed the case settings",
                                before=settings_json(before), after=settings_json(after))
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc.message,
                           status_code=exc.status)
    return see_other("/admin/cases?done=saved")
