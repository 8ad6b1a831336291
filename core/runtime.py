"""The running parts of one Frontdesk process: settings, database, jobs, event bus.

`Runtime.start(settings, install=...)` opens the engine and the job queue; `install(runtime)`
subscribes the rooms' rules on the bus (the server wires them; core knows no domain).
Sessions from `runtime.sessions` carry the bus, the queue and a small cache of rows that do
not change while running (inbox ids, the default pipeline) in `session.info`.
`runtime.live` is the hub of live updates (`core.live`; sessions carry it as "live").
`runtime.raw_sessions` reach the raw store (`core.db.raw_store_url`), with the same info: on
a SQLite file a database of its own, elsewhere the main one (then they are the same).
`runtime.throttle` holds the throttle counters every process shares (`core.throttle`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import make_engine, raw_store_url
from core.events import EventBus
from core.jobs import ArqQueue, InProcessQueue, JobQueue
from core.live import LocalHub, make_hub
from core.settings import Settings
from core.throttle import Throttle, open_throttle


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    queue: JobQueue
    bus: EventBus
    raw_engine: AsyncEngine
    raw_sessions: async_sessionmaker[AsyncSession]
    throttle: Throttle
    live: LocalHub = field(default_factory=LocalHub)
    extras: dict[str, Any] = field(default_factory=dict)
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What `close` stops first, newest first (background work a room started)."""

    @classmethod
    async def start(
        cls, settings: Settings, *, install: Callable[[Runtime], None],
        queue: JobQueue | None = None, start_queue: bool = True,
    ) -> Runtime:
        """Open the database engine and the job queue, and wire the rooms."""
        engine = make_engine(settings.database.url,
                             busy_timeout_ms=settings.database.busy_timeout_ms)
        if queue is None:
            redis_url = settings.jobs.redis_url
            queue = ArqQueue(redis_url, settings.jobs.queue_name) if redis_url else InProcessQueue()
        bus = EventBus()
        live = make_hub(settings.jobs.redis_url, f"{settings.jobs.queue_name}:live")
        info = {"bus": bus, "jobs": queue, "cache": {}, "live": live}
        sessions = async_sessionmaker(engine, expire_on_commit=False, info=info)
        raw_engine, raw_sessions = engine, sessions
        if raw_store_url(settings.database.url) != settings.database.url:
            raw_engine = make_engine(raw_store_url(settings.database.url),
                                     busy_timeout_ms=settings.database.busy_timeout_ms)
            raw_sessions = async_sessionmaker(raw_engine, expire_on_commit=False, info=info)
        runtime = cls(settings=settings, engine=engine, sessions=sessions, queue=queue, bus=bus,
                      raw_engine=raw_engine, raw_sessions=raw_sessions, live=live,
                      throttle=open_throttle(settings, raw_engine))
        install(runtime)
        if start_queue:
            await queue.start({"runtime": runtime})
        return runtime

    def provide(self, name: str, value: Any) -> None:
        """Make `value` available to every session from now on as `session.info[name]`
        (how a lower room reaches a service a higher one wires in)."""
        self.sessions.kw["info"][name] = value

    async def close(self) -> None:
        """Stop what rooms registered in `closing`, the job queue, the live hub and the
        throttle, and dispose of the engines."""
        while self.closing:
            await self.closing.pop()()
        await self.queue.close()
        await self.live.close()
        await self.throttle.close()
        await self.engine.dispose()
        if self.raw_engine is not self.engine:
            await self.raw_engine.dispose()
