"""Admin views of inbound mail that could not become a message, with a retry."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from connectors.email import inbound
from connectors.email.models import RawEmail
from core.db import transaction
from core.errors import Conflict
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentAdmin,
    IdPath,
    IdQuery,
    Limit,
    RuntimeDep,
    id_page,
    page,
)

router = APIRouter(tags=["admin"])


def raw_json(row: RawEmail) -> JSON:
    return {"id": row.id, "inbox": row.inbox, "source": row.source, "status": row.status,
            "error": row.error, "attempts": row.attempts, "size": row.size,
            "mail_from": row.mail_from, "rcpt_to": row.rcpt_to,
            "received_at": row.received_at.isoformat()}


@router.get("/api/admin/failed-inbound")
async def failed_inbound(admin: CurrentAdmin, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                         cursor: IdQuery = None) -> JSON:
    """Accepted mail that failed parsing or ingest (oldest first); it waits for a retry."""
    failed = select(RawEmail).where(RawEmail.status.in_(("failed", "quarantined")))
    async with transaction(runtime.raw_sessions) as session:
        items, next_cursor = await id_page(session, failed, RawEmail.id, limit, cursor)
    return page([raw_json(r) for r in items], next_cursor)


@router.post("/api/admin/failed-inbound/{raw_id}/retry", status_code=202)
async def retry_inbound(raw_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Process a failed or quarantined email again."""
    if not await inbound.retry(runtime.raw_sessions, raw_id):
        raise Conflict(f"no failed inbound email {raw_id}")
    return {"id": raw_id, "status": "pending"}
