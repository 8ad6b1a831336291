"""The outbox: effects on the outside world, recorded in the transaction that causes them.

`add(session, kind, payload)` writes a row; once the transaction commits, a job delivers it.
Delivery is claimed before the effect (status `sending`, attempts + 1, committed), so two
workers never perform the same row at once; the outcome is recorded after. Temporary
failures come back with exponential backoff; the periodic sweep picks up rows whose kick
was lost (a restart). A row still `sending` after `STUCK_AFTER` lost its worker during
delivery: whether the effect happened is unknown, and performing it again could send an
email twice, so the sweep fails it (`STUCK_DETAIL`) and its handler records that outcome.
Effects happen at most once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import JSON, Integer, String, Text, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core import clock, metrics
from core.db import Base, UTCDateTime, transaction
from core.jobs import enqueue_after_commit, registry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
STUCK_AFTER = timedelta(minutes=15)
STUCK_DETAIL = "delivery outcome unknown: the worker stopped during delivery"


class OutboxItem(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class Outcome:
    """What a delivery attempt did: `sent`, `retry` (temporary failure) or `failed`. A
    retry comes back after `retry_after` when the handler names it, else after `backoff`."""

    result: Literal["sent", "retry", "failed"]
    detail: str = ""
    retry_after: timedelta | None = None


class OutboxHandler(Protocol):
    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome: ...

    async def record(
        self, session: AsyncSession, payload: dict[str, Any], outcome: Outcome
    ) -> None: ...


handlers: dict[str, OutboxHandler] = {}


def _kick_job_id(item_id: int, attempt: int) -> str:
    return f"outbox:{item_id}:{attempt}"


async def add(session: AsyncSession, kind: str, payload: dict[str, Any]) -> OutboxItem:
    """Record an effect to perform after commit; returns the (flushed) row."""
    now = clock.now()
    item = OutboxItem(kind=kind, payload=payload, status="pending", attempts=0,
                      created_at=now, next_attempt_at=now)
    session.add(item)
    await session.flush()
    enqueue_after_commit(session, "outbox.deliver", item.id, job_id=_kick_job_id(item.id, 0))
    return item


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... capped at 1 hour."""
    return min(timedelta(seconds=30 * 2 ** max(0, attempts - 1)), timedelta(hours=1))


async def _claim(sessions: async_sessionmaker[AsyncSession], item_id: int) -> OutboxItem | None:
    now = clock.now()
    async with transaction(sessions) as session:
        claimed = cast(CursorResult[Any], await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.status == "pending",
                   OutboxItem.next_attempt_at <= now)
            .values(status="sending", attempts=OutboxItem.attempts + 1, claimed_at=now)
        ))
        if claimed.rowcount != 1:
            return None
        return await session.get(OutboxItem, item_id)


async def deliver(ctx: dict[str, Any], item_id: int) -> None:
    """Job: perform outbox row `item_id` once, then record the outcome."""
    runtime = ctx["runtime"]
    item = await _claim(runtime.sessions, item_id)
    if item is None:
        return
    handler = handlers.get(item.kind)
    if handler is None:
        outcome = Outcome("failed", f"no handler for outbox kind {item.kind!r}")
    else:
        try:
            outcome = await handler.deliver(ctx, item.payload)
        except Exception as exc:
            log.exception("outbox %s (%s) raised", item_id, item.kind)
            outcome = Outcome("retry", f"{type(exc).__name__}: {exc}")
    if outcome.result == "retry" and item.attempts >= MAX_ATTEMPTS:
        outcome = Outcome("failed", f"gave up after {item.attempts} attempts: {outcome.detail}")
    await _record(runtime, item, handler, outcome)


async def _record(runtime: Any, item: OutboxItem, handler: OutboxHandler | None,
                  outcome: Outcome) -> None:
    now = clock.now()
    retry_at = now + (outcome.retry_after or backoff(item.attempts))
    async with transaction(runtime.sessions) as session:
        row = await session.get(OutboxItem, item.id)
        assert row is not None
        row.last_error = outcome.detail or None
        if outcome.result == "retry":
            row.status, row.next_attempt_at = "pending", retry_at
        else:
            row.status, row.done_at = outcome.result, now
        if handler is not None:
            await handler.record(session, item.payload, outcome)
    if outcome.result != "sent":
        _count_failure(item.kind, outcome.result)
    if outcome.result == "retry":
        await runtime.queue.enqueue("outbox.deliver", item.id, defer_until=retry_at,
                                    job_id=_kick_job_id(item.id, item.attempts))


def _count_failure(kind: str, result: str) -> None:
    metrics.OUTBOX_FAILURES.labels(kind if kind in handlers else "unknown", result).inc()


async def backlog(session: AsyncSession) -> int:
    """How many rows wait to be delivered: pending (due or backing off) or being sent."""
    return int(await session.scalar(
        select(func.count()).select_from(OutboxItem)
        .where(OutboxItem.status.in_(("pending", "sending")))) or 0)


async def _fail_stuck(runtime: Any, now: datetime) -> int:
    """Fail rows claimed more than STUCK_AFTER ago (their worker stopped mid-delivery) and
    let each handler record that outcome; returns how many."""
    outcome = Outcome("failed", STUCK_DETAIL)
    async with transaction(runtime.sessions) as session:
        stuck = (await session.scalars(
            select(OutboxItem)
            .where(OutboxItem.status == "sending", OutboxItem.claimed_at < now - STUCK_AFTER)
            .order_by(OutboxItem.id).limit(500).with_for_update(skip_locked=True)
        )).all()
        for row in stuck:
            log.warning("outbox %s (%s): %s", row.id, row.kind, STUCK_DETAIL)
            row.status, row.done_at, row.last_error = "failed", now, STUCK_DETAIL
            handler = handlers.get(row.kind)
            if handler is not None:
                await handler.record(session, row.payload, outcome)
    for row in stuck:
        _count_failure(row.kind, "failed")
    return len(stuck)


async def sweep(ctx: dict[str, Any]) -> int:
    """Periodic job: fail rows stuck in `sending` and re-kick due pending rows (returns how
    many were re-kicked)."""
    runtime = ctx["runtime"]
    now = clock.now()
    await _fail_stuck(runtime, now)
    async with transaction(runtime.sessions) as session:
        due = (await session.execute(
            select(OutboxItem.id, OutboxItem.attempts)
            .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.id).limit(500)
        )).all()
    for item_id, attempts in due:
        await runtime.queue.enqueue("outbox.deliver", item_id,
                                    job_id=f"outbox-sweep:{item_id}:{attempts}")
    return len(due)


registry.register("outbox.deliver", deliver)
registry.register("outbox.sweep", sweep, every_seconds=30)
