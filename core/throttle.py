"""Throttle counters shared by every server process: in Redis when `[jobs] redis_url` is
set, in the database otherwise.

`Throttle.hit(kind, subject, window)` counts one hit of a subject (a client address, say)
if the window has room for it, and otherwise says how long to wait; nothing is counted then
(forms and SMTP clients; it lets hits through while the counters cannot be reached).
`Throttle.change(...)` is the general form: it reads small records (`core.windows`), lets a
pure function decide, and writes what it decided, atomically against every other process.

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

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, String, delete, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from core import clock, sqlite_driver
from core.db import RawBase, UTCDateTime, make_engine, raw_store_url
from core.errors import SystemFault
from core.settings import Settings
from core.windows import Window, WindowCount, count_at, window_wait, with_hit

log = logging.getLogger(__name__)

Value = dict[str, Any]
Decide = Callable[[float, list[Value | None]], list[Value | None] | None]
"""Given now (a POSIX timestamp) and the stored values of the keys (None: none), the values
to store (None: delete), or None to leave them all as they are. May be called more than
once (Redis retries), so it keeps no state but what it returns."""

PURGE_EVERY = timedelta(minutes=5)
LOCK_PATIENCE_MS = 2000
"""How long a change waits for a lock (another process's change, or a long commit of raw
mail in the same SQLite file) before the counters count as unreachable."""
REDIS_TRIES = 100
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


class CounterStore(Protocol):
    async def change(self, keys: Sequence[str], keep_seconds: Sequence[float],
                     decide: Decide, now: datetime) -> None:
        """Read the values of `keys`, call `decide`, write what it returned, as one atomic
        step against every other process. A written value is kept at least
        `keep_seconds` (one per key) from `now`."""
        ...

    async def close(self) -> None:
        """Let go of connections (and of an engine of its own)."""
        ...


class Throttle:
    """The counters of every throttle (login, forms, SMTP), through one `CounterStore`."""

    def __init__(self, store: CounterStore):
        self.store = store

    async def change(self, keys: Sequence[str], keep_seconds: Sequence[float],
                     decide: Decide) -> None:
        """See `CounterStore.change`, now. Raises SystemFault when the store cannot be
        reached."""
        try:
            await self.store.change(keys, keep_seconds, decide, clock.now())
        except SystemFault:
            raise
        except Exception as exc:
            log.error("throttle counters unavailable", exc_info=exc)
            raise SystemFault("throttle counters unavailable") from exc

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
        """Close the store."""
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


class DatabaseCounters:
    """Counters in the `throttle_counters` table of `engine`; `owned`: dispose it on close."""

    def __init__(self, engine: AsyncEngine, *, owned: bool = False):
        self.engine = engine
        self.owned = owned
        self.postgres = engine.dialect.name == "postgresql"
        self._purged_at: datetime | None = None

    async def change(self, keys: Sequence[str], keep_seconds: Sequence[float],
                     decide: Decide, now: datetime) -> None:
        async with self.engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, the lock
            if self.postgres:
                await self._lock(connection, keys)
            rows = await connection.execute(select(ThrottleCounter.key, ThrottleCounter.value)
                                            .where(ThrottleCounter.key.in_(keys)))
            stored: dict[str, Value] = {key: value for key, value in rows}
            values = decide(now.timestamp(), [stored.get(key) for key in keys])
            if values is not None:
                await self._write(connection, keys, keep_seconds, values, now)
            await self._purge_now_and_then(connection, now)

    async def _lock(self, connection: AsyncConnection, keys: Sequence[str]) -> None:
        # Counts need not survive a crash; the commit need not wait for the disk.
        await connection.execute(text("SET LOCAL synchronous_commit = off"))
        await connection.execute(text(f"SET LOCAL lock_timeout = {LOCK_PATIENCE_MS}"))
        for key in sorted(set(keys)):  # one order for every process: no deadlock
            await connection.execute(select(func.pg_advisory_xact_lock(_advisory_lock_id(key))))

    async def _write(self, connection: AsyncConnection, keys: Sequence[str],
                     keep_seconds: Sequence[float], values: Sequence[Value | None],
                     now: datetime) -> None:
        gone = [key for key, value in zip(keys, values, strict=True) if value is None]
        kept = [{"key": key, "value": value, "expires_at": now + timedelta(seconds=keep)}
                for key, value, keep in zip(keys, values, keep_seconds, strict=True)
                if value is not None]
        if gone:
            await connection.execute(delete(ThrottleCounter)
                                     .where(ThrottleCounter.key.in_(gone)))
        if kept:
            insert = (postgresql.insert if self.postgres else sqlite.insert)(ThrottleCounter)
            await connection.execute(insert.on_conflict_do_update(
                index_elements=["key"],
                set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at}),
                kept)

    async def _purge_now_and_then(self, connection: AsyncConnection, now: datetime) -> None:
        if self._purged_at is not None and abs(now - self._purged_at) < PURGE_EVERY:
            return
        self._purged_at = now
        await connection.execute(delete(ThrottleCounter)
                                 .where(ThrottleCounter.expires_at < now))

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

    async def change(self, keys: Sequence[str], keep_seconds: Sequence[float],
                     decide: Decide, now: datetime) -> None:
        from redis.exceptions import WatchError

        names = [self.prefix + key for key in keys]
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(REDIS_TRIES):
                try:
                    await pipe.watch(*names)
                    stored = await pipe.mget(names)
                    values = decide(now.timestamp(),
                                    [None if raw is None else json.loads(raw) for raw in stored])
                    if values is None:
                        await pipe.reset()
                        return
                    pipe.multi()
                    for name, value, keep in zip(names, values, keep_seconds, strict=True):
                        if value is None:
                            pipe.delete(name)
                        else:  # the expiry only frees memory: `decide` judges the age
                            pipe.set(name, json.dumps(value), px=max(1, round(keep * 1000)))
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
