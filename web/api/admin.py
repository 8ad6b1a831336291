"""Admin views of inbound mail that could not become a message, with a retry."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from connectors.email import inbound
from connectors.email.models import RawEmail
from core.db import transaction
from core.errors import Conflict
from web.api.common import DEFAULT_PAGE, CurrentAdmin, IdPath, IdQuery, Limit, RuntimeDep, page

router = APIRouter(tags=["admin"])


def raw_json(row: RawEmail) -> dict:
    return {"id": row.id, "inbox": row.inbox, "source": row.source, "status": row.status,
            "error": row.error, "attempts": row.attempts, "size": row.size,
            "mail_from": row.mail_from, "rcpt_to": row.rcpt_to,
            "received_at": row.received_at.isoformat()}


@router.get("/api/admin/failed-inbound")
async def failed_inbound(admin: CurrentAdmin, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                         cursor: IdQuery = None) -> dict:
    """Accepted mail that failed parsing or ingest (oldest first); it waits for a retry."""
    async with transaction(runtime.sessions) as session:
        query = (select(RawEmail).where(RawEmail.status.in_(("failed", "quarantined")))
                 .order_by(RawEmail.id).limit(limit + 1))
        if cursor:
            query = query.where(RawEmail.id > cursor)
        rows = list((await session.scalars(query)).all())
    items = rows[:limit]
    return page([raw_json(r) for r in items], str(items[-1].id) if len(rows) > limit else None)


@router.post("/api/admin/failed-inbound/{raw_id}/retry", status_code=202)
async def retry_inbound(raw_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> dict:
    """Process a failed or quarantined email again."""
    if not await inbound.retry(runtime.sessions, raw_id):
        raise Conflict(f"no failed inbound email {raw_id}")
    return {"id": raw_id, "status": "pending"}
