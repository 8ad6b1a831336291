"""The caller's notifications: assigned to them, mentioned, SLA due soon or breached on
their tickets; and marking them read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from accounts.service import user_names
from core.db import transaction
from notifications import service as notifications
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentUser,
    IdQuery,
    IdValue,
    Limit,
    RequestModel,
    RuntimeDep,
)

router = APIRouter(tags=["notifications"])


def notification_json(item: notifications.Listed, text: str) -> JSON:
    n = item.notification
    return {"id": n.id, "kind": n.kind, "text": text, "subject": item.subject,
            "conversation_id": n.conversation_id, "ticket_id": n.ticket_id,
            "actor_id": n.actor_id, "detail": n.detail, "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None,
            "url": f"/conversations/{n.conversation_id}"}


class MarkRead(RequestModel):
    ids: Annotated[list[IdValue], Field(max_length=1000)] | None = None
    """The notifications to mark read; all of the caller's when left out."""


@router.get("/api/notifications")
async def list_notifications(
    user: CurrentUser, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
    cursor: IdQuery = None,
) -> JSON:
    """The caller's notifications, newest first (`cursor`: the `next_cursor` of the page
    before), of conversations they still see, with `unread`: how many are unread."""
    async with transaction(runtime.sessions) as session:
        items, after = await notifications.list_notifications(session, user, limit=limit,
                                                               before=cursor)
        names = await user_names(session, [i.notification.actor_id for i in items
                                           if i.notification.actor_id])
        unread = await notifications.unread_count(session, user)
    texts = notifications.describe_all(items, names)
    return {"items": [notification_json(i, t) for i, t in zip(items, texts, strict=True)],
            "next_cursor": str(after) if after else None, "unread": unread}


@router.post("/api/notifications/mark-read")
async def mark_read(body: MarkRead, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Mark the caller's notifications read: those of `ids` (others' ids are ignored), or
    every one. Answers how many were marked and how many stay unread."""
    async with transaction(runtime.sessions) as session:
        marked = await notifications.mark_read(session, user.id, body.ids)
        unread = await notifications.unread_count(session, user)
    return {"marked": marked, "unread": unread}
