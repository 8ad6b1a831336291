"""`/notifications`: the signed-in agent's notifications, newest first, with "Mark all
read" (the same gathering as `GET /api/notifications`), and their choice to get them by
email too."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from accounts.service import set_notify_by_email, user_names
from core import clock
from core.db import transaction
from core.pagination import MAX_ID
from notifications import service as notifications
from web.api.common import RuntimeDep
from web.pages.common import CurrentPageCaller, render, see_other
from web.pages.format import ago

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/notifications")
async def notifications_page(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                             before: int | None = None, notice: str | None = None) -> Response:
    """The caller's notifications, PAGE_SIZE at a time (`before`: the next page's cursor)."""
    cursor = before if before is not None and 1 <= before <= MAX_ID else None
    async with transaction(runtime.sessions) as session:
        items, after = await notifications.list_notifications(
            session, caller.user, limit=PAGE_SIZE, before=cursor)
        names = await user_names(session, [i.notification.actor_id for i in items
                                           if i.notification.actor_id])
    now = clock.now()
    rows = [{"n": i.notification, "subject": i.subject or "(no subject)", "text": text,
             "when": ago(i.notification.created_at, now),
             "when_iso": i.notification.created_at.isoformat()}
            for i, text in zip(items, notifications.describe_all(items, names), strict=True)]
    return render(request, "notifications.html", {
        "caller": caller, "rows": rows, "after": after, "notice": notice, "q": ""})


@router.post("/notifications/settings")
async def save_settings(caller: CurrentPageCaller, runtime: RuntimeDep,
                        notify_by_email: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Turn the caller's notification mail on (the box checked) or off."""
    on = notify_by_email == "on"
    async with transaction(runtime.sessions) as session:
        await set_notify_by_email(session, caller.user.id, on)
    notice = "Notifications will be emailed to you" if on else "No more notification email"
    return see_other(f"/notifications?{urlencode({'notice': notice})}")


@router.post("/notifications/read")
async def mark_all_read(caller: CurrentPageCaller, runtime: RuntimeDep) -> Response:
    """Mark every notification of the caller's read."""
    async with transaction(runtime.sessions) as session:
        await notifications.mark_read(session, caller.user.id)
    return see_other("/notifications?notice=All+marked+read")
