"""SLA jobs: announce due-soon and breach at their instants; recover after restarts.

- `sla.notice(clock_id, kind, instant)`: scheduled for the exact instant by the tracker.
  It announces only if the clock still has that deadline (a re-plan makes old jobs moot)
  and only once (a unique notice row per clock, kind and deadline).
- `sla.sweep`: every minute, announces every deadline that has passed without a notice —
  after a restart, or when an in-process timer was lost. Nothing scheduled is ever lost.
- `sla.replan_all(version)`: after new settings, re-plans every open ticket in batches.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock as wall
from core import metrics
from core.db import transaction
from core.events import publish
from core.jobs import registry
from sla.events import SlaBreached, SlaDueSoon
from sla.models import SlaClock, SlaNotice
from sla.service import enqueue_notices, replan_ticket
from tickets.models import Ticket

log = logging.getLogger(__name__)
BATCH = 200


async def _announce(session: AsyncSession, row: SlaClock, kind: str, instant: datetime) -> bool:
    ticket = await session.get(Ticket, row.ticket_id)
    if ticket is None or ticket.deleted_at is not None:
        return False
    seen = await session.scalar(select(SlaNotice.id).where(
        SlaNotice.clock_id == row.id, SlaNotice.kind == kind, SlaNotice.due_at == instant))
    if seen is not None:
        return False
    now = wall.now()
    session.add(SlaNotice(clock_id=row.id, kind=kind, due_at=instant, emitted_at=now))
    await session.flush()
    event = SlaDueSoon if kind == "due_soon" else SlaBreached
    await publish(session, event(ticket.id, row.id, row.kind, row.due_at or instant, now))
    return True


async def notice(ctx: dict[str, Any], clock_id: int, kind: str, instant_iso: str) -> bool:
    """Job: announce `kind` for the clock if its deadline is still `instant` and has come."""
    instant = datetime.fromisoformat(instant_iso)
    if wall.now() < instant:
        return False
    try:
        async with transaction(ctx["runtime"].sessions) as session:
            row = await session.get(SlaClock, clock_id)
            current = None if row is None else (
                row.due_soon_at if kind == "due_soon" else row.due_at)
            if row is None or current != instant or row.stopped_at is not None:
                return False
            announced = await _announce(session, row, kind, instant)
    except IntegrityError:
        return False  # announced concurrently by the sweep
    if announced and kind == "breach":
        metrics.SLA_BREACHES.labels(row.kind).inc()
    return announced


def _noticed(kind: str, instant: Any) -> Any:
    return exists().where(SlaNotice.clock_id == SlaClock.id, SlaNotice.kind == kind,
                          SlaNotice.due_at == instant)


async def sweep(ctx: dict[str, Any]) -> int:
    """Job: announce every passed deadline of a running clock that has no notice yet."""
    now = wall.now()
    announced = 0
    breached: list[str] = []
    async with transaction(ctx["runtime"].sessions) as session:
        rows = (await session.scalars(select(SlaClock).where(
            SlaClock.stopped_at.is_(None), SlaClock.due_at.is_not(None),
            or_(and_(SlaClock.due_soon_at <= now, ~_noticed("due_soon", SlaClock.due_soon_at)),
                and_(SlaClock.due_at <= now, ~_noticed("breach", SlaClock.due_at))))
            .order_by(SlaClock.due_at).limit(1000))).all()
        for row in rows:
            for kind, instant in (("due_soon", row.due_soon_at), ("breach", row.due_at)):
                if instant is not None and instant <= now:
                    if await _announce(session, row, kind, instant):
                        announced += 1
                        breached += [row.kind] if kind == "breach" else []
    for clock_kind in breached:
        metrics.SLA_BREACHES.labels(clock_kind).inc()
    return announced


async def recover(runtime: Any) -> int:
    """At start: schedule the notices of every running clock again (in-process timers do
    not survive a restart; on Redis the job ids make this a no-op) and announce what passed
    while nothing ran. Returns how many clocks were scheduled.

    Only deadlines still ahead get a job: the passed ones are the sweep's (now, and every
    minute after), so a restart over tens of thousands of overdue clocks does not run a
    job for each of them at once."""
    now = wall.now()
    async with transaction(runtime.sessions) as session:
        rows = (await session.scalars(select(SlaClock).where(
            SlaClock.stopped_at.is_(None), SlaClock.due_at.is_not(None)))).all()
    for row in rows:
        await enqueue_notices(runtime.queue, row, after=now)
    await sweep({"runtime": runtime})
    return len(rows)


async def replan_all(ctx: dict[str, Any], version: int) -> int:
    """Job: re-plan the clocks of every live ticket under the settings in force."""
    sessions = ctx["runtime"].sessions
    done, after_id = 0, 0
    while True:
        async with transaction(sessions) as session:
            batch = (await session.scalars(select(Ticket).where(
                and_(Ticket.deleted_at.is_(None), Ticket.id > after_id))
                .order_by(Ticket.id).limit(BATCH))).all()
            for ticket in batch:
                await replan_ticket(session, ticket)
        if not batch:
            return done
        done += len(batch)
        after_id = batch[-1].id


registry.register("sla.notice", notice)
registry.register("sla.sweep", sweep, every_seconds=60)
registry.register("sla.replan_all", replan_all)
