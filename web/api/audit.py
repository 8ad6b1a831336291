"""The audit log for admins: who changed what, when, before and after."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from audit import service as audit
from audit.models import AuditEntry
from core.db import transaction
from core.errors import InvalidInput
from web.api.common import DEFAULT_PAGE, JSON, CurrentAdmin, IdQuery, Limit, Moment, RuntimeDep

router = APIRouter(tags=["admin"])


def entry_json(entry: AuditEntry) -> JSON:
    return {"id": entry.id, "created_at": entry.created_at.isoformat(),
            "actor_id": entry.actor_id, "actor_name": entry.actor_name, "action": entry.action,
            "subject_type": entry.subject_type, "subject_id": entry.subject_id,
            "summary": entry.summary, "before": entry.before, "after": entry.after}


@router.get("/api/admin/audit")
async def list_audit(
    admin: CurrentAdmin, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
    cursor: IdQuery = None, actor_id: IdQuery = None,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=64,
                                        description="An action or its prefix: `inbox.`")] = None,
    since: Annotated[Moment | None, Query(alias="from")] = None,
    until: Annotated[Moment | None, Query(alias="to")] = None,
) -> JSON:
    """Audit entries newest first; `cursor` is the previous page's `next_cursor`."""
    if since is not None and until is not None and until <= since:
        raise InvalidInput("'to' must be after 'from'", field="to")
    wanted = audit.AuditFilter(actor_id=actor_id, subject_type=subject_type, action=action,
                               since=since, until=until)
    async with transaction(runtime.sessions) as session:
        entries, after = await audit.list_entries(session, wanted, limit=limit,
                                                  before_id=cursor)
    return {"items": [entry_json(e) for e in entries],
            "next_cursor": str(after) if after else None}

