"""`/admin`: the console's overview, and `/admin/audit`: the audit log, filterable (the same
gathering as `GET /api/admin/audit`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from accounts.service import active_users
from audit import service as audit
from core.db import transaction
from core.pagination import MAX_ID
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/admin")
async def overview(request: Request, caller: CurrentAdminPage) -> Response:
    """The console's sections, each with a line on what it is for."""
    return render_admin(request, "admin/home.html", caller, "", {})


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def audit_filter(actor: int | None, subject: str | None, action: str | None,
                 since: date | None, until: date | None) -> audit.AuditFilter:
    """The filter of the log page's form: `until` is a day included (entries before the
    next day's start)."""
    end = _day_start(until + timedelta(days=1)) if until and until < date.max else None
    return audit.AuditFilter(actor_id=actor, subject_type=subject or None,
                             action=action or None, since=_day_start(since), until=end)


def _day(text: str) -> date | None:
    """A date from the form's `YYYY-MM-DD` text; None when empty or not a date."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


@router.get("/admin/audit")
async def audit_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     actor_text: Annotated[str, Query(alias="actor", max_length=10)] = "",
                     subject: Annotated[str | None, Query(max_length=32)] = None,
                     action: Annotated[str | None, Query(max_length=64)] = None,
                     since_text: Annotated[str, Query(alias="since", max_length=10)] = "",
                     until_text: Annotated[str, Query(alias="until", max_length=10)] = "",
                     before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    """The audit log, newest first, PAGE_SIZE at a time, filtered by who, what and when."""
    since, until = _day(since_text), _day(until_text)
    actor = int(actor_text) if actor_text.isdigit() and 1 <= int(actor_text) <= MAX_ID else None
    wanted = audit_filter(actor, subject, action, since, until)
    async with transaction(runtime.sessions) as session:
        entries, after = await audit.list_entries(session, wanted, limit=PAGE_SIZE,
                                                  before_id=before)
        subjects = await audit.subject_types(session)
        people = await active_users(session)
    kept = {k: v for k, v in {"actor": actor, "subject": subject, "action": action,
                              "since": since, "until": until}.items() if v}
    older = f"/admin/audit?{urlencode({**kept, 'before': after})}" if after else None
    return render_admin(request, "admin/audit.html", caller, "audit", {
        "entries": entries, "older": older, "subjects": subjects, "people": people,
        "filters": {"actor": actor, "subject": subject or "", "action": action or "",
                    "since": since.isoformat() if since else "",
                    "until": until.isoformat() if until else ""}})
