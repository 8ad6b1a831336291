"""The audit log's one writer and its reader.

Every service function that changes how the service runs (channels, people and access, SLA
settings, forms, webhooks) calls `record_change` in its own transaction, so an entry exists
exactly when the change committed. Entries are never changed or deleted by the service.
Values in `before`/`after` are plain JSON; a secret is never among them (write "(set)").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.models import AuditEntry
from core import clock
from core.pagination import MAX_ID

SYSTEM = "system"
"""The actor name of a change nobody made by hand (seeding from config.toml, say)."""


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it (dates as ISO text, tuples and sets as sorted lists)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def changed_only(before: Mapping[str, Any], after: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys whose value differs between `before` and `after`, from each side."""
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


async def record_change(session: AsyncSession, *, actor: User | None, action: str,
                        subject_type: str, subject_id: int | str | None, summary: str,
                        before: Mapping[str, Any] | None = None,
                        after: Mapping[str, Any] | None = None) -> None:
    """Add an audit entry to the caller's transaction: `actor` (None: the system) did
    `action` (e.g. "inbox.updated") to `subject_type`/`subject_id`; `summary` says it in
    words for the log page."""
    session.add(AuditEntry(
        created_at=clock.now(), actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else SYSTEM, action=action[:64],
        subject_type=subject_type[:32],
        subject_id=None if subject_id is None else str(subject_id)[:64], summary=summary,
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None))


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list: by actor, subject type, action prefix ("inbox." matches every
    inbox action) and a period [since, until)."""

    actor_id: int | None = None
    subject_type: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_entries(session: AsyncSession, wanted: AuditFilter, *, limit: int,
                       before_id: int | None = None) -> tuple[list[AuditEntry], int | None]:
    """The entries matching `wanted`, newest first, `limit` at a time, starting below
    `before_id`; returns (entries, the next page's `before_id` or None)."""
    query = select(AuditEntry)
    if wanted.actor_id is not None:
        query = query.where(AuditEntry.actor_id == wanted.actor_id)
    if wanted.subject_type:
        query = query.where(AuditEntry.subject_type == wanted.subject_type)
    if wanted.action:
        query = query.where(AuditEntry.action.startswith(wanted.action, autoescape=True))
    if wanted.since is not None:
        query = query.where(AuditEntry.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.created_at < wanted.until)
    if before_id is not None:
        query = query.where(AuditEntry.id < min(before_id, MAX_ID))
    rows = list((await session.scalars(
        query.order_by(AuditEntry.id.desc()).limit(limit + 1))).all())
    entries = rows[:limit]
    return entries, (entries[-1].id if len(rows) > limit else None)


async def subject_types(session: AsyncSession) -> list[str]:
    """The subject types that have entries (for the log page's filter)."""
    return sorted((await session.scalars(select(AuditEntry.subject_type).distinct())).all())
