"""Throttle counters shared by every server process: in Redis when `[jobs] redis_url` is
set, in the database otherwise.

`Throttle.hit(kind, subject, window)` counts one hit of a subject (a client address, say)
if the window has room for it, and otherwise says how long to wait; nothing is counted then
(forms and SMTP clients; it lets hits through while the counters cannot be reached).
`Throttle.change(...)` is the general form: it reads small records (`core.windows`), lets a
pure function decide, and writes what it decided, atomically against every other process.
Changes asked for while one is under way go together in the next one, as raw mail commits
do: under a flood from one client, one transaction counts many hits.

Two sides behind one small interface (`CounterStore`):

- `DatabaseCounters`: the table `throttle_counters` of the raw store (`core.db.raw_store_url`).
  On a SQLite file that is the file beside the main one, so counting never waits for the
  main file's write lock, and the SMTP receiver (which writes only the raw store) counts
  there too; its connections commit without a disk sync (`synchronous=NORMAL`: a power cut
  may forget the last counts, nothing else). On PostgreSQL, the same database; a change
  takes transaction-level advisory locks on its keys and commits without waiting for the
  disk (`synchronous_commit = off`). Either way a change waits at most LOCK_PATIENCE_MS
  for a lock.
- `RedisCounters`: one key per counter under `<[jobs] queue_name>:throttle:`, changed in a
  WATCH / MULTI transaction and expiring by itself.

Time comes from `core.clock`; keys are hashed, so no address or email is kept in clear.
A store that cannot be reached raises SystemFault from `change` (logins then fail).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, String, delete, event, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from core import clock, sqlite_driver
from core.db import RawBase, UTCDateTime, make_engine, raw_store_url, run_committed
from core.errors import SystemFault
from core.settings import Settings
from core.windows import Window, WindowCount, count_at, window_wait, with_hit

log = logging.getLogger(__name__)

Value = dict[str, Any]
Decide = Callable[[float, list[Value | None]], list[Value | None] | None]
"""Given now (a POSIX timestamp) and the stored values of the keys (None: none), the values
to store (None: delete), or None to leave them all as they are. May be called more than
once (Redis retries) and in another thread (SQLite's), so it keeps no state but the last
verdict it computed."""

PURGE_EVERY = timedelta(minutes=5)
LOCK_PATIENCE_MS = 2000
"""How long a change waits for a lock (another process's change, or a long commit of raw
mail in the same SQLite file) before the counters count as unreachable."""
REDIS_TRIES = 100
MAX_BATCH = 256
T = TypeVar("T")


def counter_key(kind: str, *parts: str) -> str:
    """The key of the counter of `kind` for a subject made of `parts` (hashed)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest[:40]}"


def load(record: type[T], value: Value | None) -> T | None:
    """The record (a `core.windows` dataclass) a stored value holds, or None (none kept,
    or a value of another shape, e.g. from an older version)."""
    if value is None:
        return None
    try:
        return record(**value)
    except TypeError:
        return None


def dump(record: Any) -> Value:
    """The value to store for a `core.windows` record."""
    return asdict(record)


@dataclass(frozen=True)
class Change:
    """Read the values of `keys`, `decide`, write what it returned; a written value is kept
    at least `keep_seconds` (one per key)."""

    keys: Sequence[str]
    keep_seconds: Sequence[float]
    decide: Decide


Written = dict[str, tuple[Value | None, float]]
"""What a batch of changes writes: per key, its value (None: delete) and how long to keep it."""


def decide_in_order(changes: Sequence[Change], stored: dict[str, Value | None],
                    now: float) -> Written:
    """Run the decisions of `changes` one after the other, each seeing what the ones before
    it decided, starting from `stored`; returns what they wrote."""
    current = dict(stored)
    written: Written = {}
    for change in changes:
        values = change.decide(now, [current.get(key) for key in change.keys])
        if values is None:
            continue
        for key, value, keep in zip(change.keys, values, change.keep_seconds, strict=True):
            current[key] = value
            written[key] = (value, max(keep, written.get(key, (None, 0.0))[1]))
    return written


class CounterStore(Protocol):
    async def apply(self, changes: Sequence[Change], now: datetime) -> None:
        """Make `changes`, in order, as one atomic step against every other process
        (`decide_in_order`); what is written is kept from `now`."""
        ...

    async def close(self) -> None:
        """Let go of connections (and of an engine of its own)."""
        ...


@dataclass
class _Waiting:
    change: Change
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class Throttle:
    """The counters of every throttle (login, forms, SMTP), through one `CounterStore`."""

    def __init__(self, store: CounterStore):
        self.store = store
        self._queue: deque[_Waiting] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def change(self, keys: Sequence[str], keep_seconds: Sequence[float],
                     decide: Decide) -> None:
        """Read the values of `keys`, `decide` (given now), write what it returned, as one
        atomic step against every other process; a written value is kept at least
        `keep_seconds` (one per key). Raises SystemFault when the store cannot be reached."""
        waiting = _Waiting(Change(keys, keep_seconds, decide))
        self._queue.append(waiting)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="throttle-changes")
        await waiting.done

    async def _run(self) -> None:
        """Make the queued changes, a batch at a time, until none is left."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            try:
                await self.store.apply([waiting.change for waiting in batch], clock.now())
            except Exception as exc:
                log.error("throttle counters unavailable", exc_info=exc)
                outcome: SystemFault | None = SystemFault("throttle counters unavailable")
            else:
                outcome = None
            for waiting in batch:
                if waiting.done.done():
                    continue
                if outcome is None:
                    waiting.done.set_result(None)
                else:
                    waiting.done.set_exception(outcome)

    async def hit(self, kind: str, subject: str, window: Window) -> float:
        """Count one hit of `subject` against `window` if it has room: returns 0. Otherwise
        count nothing and return the seconds until one more hit would fit.

        When the counters cannot be reached the hit goes through (0, logged): these limits
        keep clients from flooding what is accepted; they must not refuse all of it."""
        wait = 0.0

        def decide(now: float, values: list[Value | None]) -> list[Value | None] | None:
            nonlocal wait
            count = count_at(load(WindowCount, values[0]), now, window)
            wait = window_wait(count, now, window)
            return None if wait else [dump(with_hit(count))]

        try:
            await self.change([counter_key(kind, subject)], [2 * window.seconds], decide)
        except SystemFault:
            return 0.0
        return wait

    async def close(self) -> None:
        """Let the changes under way finish, then close the store."""
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)
        await self.store.close()


# ---------------------------------------------------------------- in the database


class ThrottleCounter(RawBase):
    """One throttle counter (a `core.windows` record as JSON) and until when it matters."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def _advisory_lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


_SQLITE_UPSERT = ("INSERT INTO throttle_counters (key, value, expires_at) VALUES (?, ?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                  "expires_at = excluded.expires_at")


class DatabaseCounters:
    """Counters in the `throttle_counters` table of `engine`; `owned`: dispose it on close.

    On SQLite a batch runs in one trip to the connection's thread, on sqlite3 itself
    (`core.db.run_committed`): the SMTP receiver counts every message, and SQLAlchemy's
    execution costs more than the counting (measured: half of the receiver's throughput)."""

    def __init__(self, engine: AsyncEngine, *, owned: bool = False):
        self.engine = engine
        self.owned = owned
        self.postgres = engine.dialect.name == "postgresql"
        self._purged_at: datetime | None = None
        expires_at = ThrottleCounter.__table__.c.expires_at.type
        self._sqlite_time = expires_at.bind_processor(engine.dialect) or str

    def _purge_due(self, now: datetime) -> bool:
        """Whether this batch also deletes expired counters (every PURGE_EVERY)."""
        if self._purged_at is not None and abs(now - self._purged_at) < PURGE_EVERY:
            return False
        self._purged_at = now
        return True

    async def apply(self, changes: Sequence[Change], now: datetime) -> None:
        keys = sorted({key for change in changes for key in change.keys})
        purge = self._purge_due(now)
        if not self.postgres:
            await run_committed(self.engine, lambda connection: self._apply_on_sqlite(
                connection, changes, keys, now, purge))
            return
        async with self.engine.begin() as connection:
            await self._lock(connection, keys)
            rows = await connection.execute(select(ThrottleCounter.key, ThrottleCounter.value)
                                            .where(ThrottleCounter.key.in_(keys)))
            stored: dict[str, Value | None] = {key: value for key, value in rows}
            written = decide_in_order(changes, stored, now.timestamp())
            if written:
                await self._write(connection, written, now)
            if purge:
                await connection.execute(delete(ThrottleCounter)
                                         .where(ThrottleCounter.expires_at < now))

    def _apply_on_sqlite(self, connection: sqlite3.Connection, changes: Sequence[Change],
                         keys: Sequence[str], now: datetime, purge: bool) -> None:
        """`apply` in SQLite's thread, holding the write lock."""
        marks = ", ".join("?" * len(keys))
        rows = connection.execute(
            f"SELECT key, value FROM throttle_counters WHERE key IN ({marks})", keys)
        stored: dict[str, Value | None] = {key: json.loads(value) for key, value in rows}
        written = decide_in_order(changes, stored, now.timestamp())
        gone = [(key,) for key, (value, _) in written.items() if value is None]
        kept = [(key, json.dumps(value), self._sqlite_time(now + timedelta(seconds=keep)))
                for key, (value, keep) in written.items() if value is not None]
        if gone:
            connection.executemany("DELETE FROM throttle_counters WHERE key = ?", gone)
        if kept:
            connection.executemany(_SQLITE_UPSERT, kept)
        if purge:
            connection.execute("DELETE FROM throttle_counters WHERE expires_at < ?",
                               (self._sqlite_time(now),))

    async def _lock(self, connection: AsyncConnection, keys: Sequence[str]) -> None:
        # Counts need not survive a crash; the commit need not wait for the disk.
        await connection.execute(text("SET LOCAL synchronous_commit = off"))
        await connection.execute(text(f"SET LOCAL lock_timeout = {LOCK_PATIENCE_MS}"))
        for key in keys:  # sorted: one order for every process, so no deadlock
            await connection.execute(select(func.pg_advisory_xact_lock(_advisory_lock_id(key))))

    async def _write(self, connection: AsyncConnection, written: Written,
                     now: datetime) -> None:
        gone = [key for key, (value, _) in written.items() if value is None]
        kept = [{"key": key, "value": value, "expires_at": now + timedelta(seconds=keep)}
                for key, (value, keep) in written.items() if value is not None]
        if gone:
            await connection.execute(delete(ThrottleCounter)
                                     .where(ThrottleCounter.key.in_(gone)))
        if kept:
            insert = postgresql.insert(ThrottleCounter)
            await connection.execute(insert.on_conflict_do_update(
                index_elements=["key"],
                set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at}),
                kept)

    async def close(self) -> None:
        if self.owned:
            await self.engine.dispose()


def _no_disk_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def counters_engine(settings: Settings, raw_engine: AsyncEngine) -> AsyncEngine:
    """The engine throttle counters are written through: on a SQLite file, one of their
    own on the raw store whose commits skip the disk sync; elsewhere `raw_engine`."""
    url = raw_store_url(settings.database.url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not sqlite_driver.is_file_database(parsed):
        return raw_engine
    engine = make_engine(url, busy_timeout_ms=min(settings.database.busy_timeout_ms,
                                                  LOCK_PATIENCE_MS))
    # After make_engine's own connect listener, which asks for a full sync.
    event.listen(engine.sync_engine, "connect", _no_disk_sync)
    return engine


# ---------------------------------------------------------------- in Redis


class RedisCounters:
    """Counters as JSON strings in Redis under `prefix`, expiring by themselves."""

    def __init__(self, url: str, prefix: str):
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.prefix = prefix

    async def apply(self, changes: Sequence[Change], now: datetime) -> None:
        from redis.exceptions import WatchError

        keys = sorted({key for change in changes for key in change.keys})
        names = [self.prefix + key for key in keys]
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(REDIS_TRIES):
                try:
                    await pipe.watch(*names)
                    raw = await pipe.mget(names)
                    stored = {key: None if value is None else json.loads(value)
                              for key, value in zip(keys, raw, strict=True)}
                    written = decide_in_order(changes, stored, now.timestamp())
                    if not written:
                        await pipe.reset()
                        return
                    pipe.multi()
                    for key, (value, keep) in written.items():
                        if value is None:
                            pipe.delete(self.prefix + key)
                        else:  # the expiry only frees memory: the decisions judge the age
                            pipe.set(self.prefix + key, json.dumps(value),
                                     px=max(1, round(keep * 1000)))
                    await pipe.execute()
                    return
                except WatchError:
                    continue
        raise SystemFault(f"throttle counters changed under us {REDIS_TRIES} times in a row")

    async def close(self) -> None:
        await self.redis.aclose()


def open_throttle(settings: Settings, raw_engine: AsyncEngine) -> Throttle:
    """The throttle of a process: Redis when `[jobs] redis_url` is set, else the raw store
    (`raw_engine`, or an engine of its own beside it on a SQLite file)."""
    if settings.jobs.redis_url:
        return Throttle(RedisCounters(settings.jobs.redis_url,
                                      f"{settings.jobs.queue_name}:throttle:"))
    engine = counters_engine(settings, raw_engine)
    return Throttle(DatabaseCounters(engine, owned=engine is not raw_engine))
