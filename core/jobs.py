"""The job queue facade: one small interface, an in-process side and an arq side.

Job functions are `async def fn(ctx, *args)`; `ctx["runtime"]` is the running `Runtime`.
Rooms register theirs in `registry`; `enqueue(name, *args, job_id=..., defer_until=...)`
deduplicates on `job_id` (arq's `_job_id` on Redis, a pending-set in process).

- `InProcessQueue`: asyncio tasks in the server process (the SQLite default). Jobs that are
  pending when the process stops are gone; everything jobs act on is recorded in the
  database first and picked up again by the periodic sweeps.
- `ArqQueue`: enqueues on Redis; `frontdesk worker` runs them (see `arq_worker_settings`).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from core import clock

if TYPE_CHECKING:
    from arq.typing import WorkerCoroutine

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


@dataclass
class JobRegistry:
    """Named job functions and periodic jobs (name -> interval in seconds)."""

    functions: dict[str, JobFunction] = field(default_factory=dict)
    periodic: dict[str, float] = field(default_factory=dict)

    def register(self, name: str, fn: JobFunction, *, every_seconds: float | None = None) -> None:
        """Make `fn` runnable as job `name`, optionally also every `every_seconds`."""
        self.functions[name] = fn
        if every_seconds is not None:
            self.periodic[name] = every_seconds


registry = JobRegistry()


def enqueue_after_commit(session: Any, name: str, *args: Any, job_id: str | None = None,
                         defer_until: datetime | None = None) -> None:
    """Enqueue job `name` once the session's transaction has committed (never before: a
    job must find what the transaction wrote). A session without a queue enqueues nothing."""
    from core.db import after_commit

    queue = session.info.get("jobs")
    if queue is None:
        return

    async def kick() -> None:
        await queue.enqueue(name, *args, job_id=job_id, defer_until=defer_until)

    after_commit(session, kick)


class JobQueue(Protocol):
    async def start(self, ctx: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None: ...


class InProcessQueue:
    """Runs jobs as asyncio tasks in this process; deferred jobs wait on `core.clock`.

    Deferred jobs sit in a heap ordered by their instant; a timer task starts each when
    `clock.now()` reaches it, and `drain()` also starts every job that is due by then (so a
    test that moves an injected clock sees its jobs run at the right instants)."""

    def __init__(self, jobs: JobRegistry = registry, *, run_periodic: bool = True,
                 concurrency: int = 4):
        self.jobs = jobs
        self.run_periodic = run_periodic
        # Bounded: a burst of jobs must not crowd out requests waiting for the database.
        self._slots = asyncio.Semaphore(concurrency)
        self.ctx: dict[str, Any] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._scheduled: list[tuple[datetime, int, str, str, tuple[Any, ...]]] = []
        self._scheduled_ids: set[str] = set()
        self._wakeup = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._counter = 0

    async def start(self, ctx: dict[str, Any]) -> None:
        self.ctx = ctx
        if self.run_periodic:
            for name, seconds in self.jobs.periodic.items():
                self._track(asyncio.create_task(self._every(name, seconds)))

    async def close(self) -> None:
        for task in [*self._tasks, *([self._timer] if self._timer else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._timer] if self._timer else []),
                             return_exceptions=True)
        self._tasks.clear()
        self._pending.clear()
        self._timer = None

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None:
        if name not in self.jobs.functions:
            raise LookupError(f"no job named {name!r}")
        if job_id is None:
            self._counter += 1
            job_id = f"{name}:{self._counter}"
        elif job_id in self._pending or job_id in self._scheduled_ids:
            return
        if defer_until is not None and defer_until > clock.now():
            self._counter += 1
            heapq.heappush(self._scheduled, (defer_until, self._counter, job_id, name, args))
            self._scheduled_ids.add(job_id)
            self._ensure_timer()
            self._wakeup.set()
            return
        self._start_now(job_id, name, args)

    def _start_now(self, job_id: str, name: str, args: tuple[Any, ...]) -> None:
        task = asyncio.create_task(self._run(job_id, name, args))
        self._pending[job_id] = task
        self._track(task)

    def _ensure_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._timer_loop())

    def _release_due(self) -> None:
        now = clock.now()
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, job_id, name, args = heapq.heappop(self._scheduled)
            self._scheduled_ids.discard(job_id)
            self._start_now(job_id, name, args)

    async def _timer_loop(self) -> None:
        while True:
            self._release_due()
            self._wakeup.clear()
            delay = None
            if self._scheduled:
                delay = max(0.0, (self._scheduled[0][0] - clock.now()).total_seconds())
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
            except TimeoutError:
                pass

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: str, name: str, args: tuple[Any, ...]) -> None:
        try:
            async with self._slots:
                await self.jobs.functions[name](self.ctx, *args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s (%s) failed", name, job_id)
        finally:
            if self._pending.get(job_id) is asyncio.current_task():
                del self._pending[job_id]

    async def _every(self, name: str, seconds: float) -> None:
        # Once at start (what a previous process left is picked up at once), then each period.
        while True:
            await self.enqueue(name, job_id=f"periodic:{name}")
            await asyncio.sleep(seconds)

    def scheduled(self) -> list[tuple[datetime, str]]:
        """(instant, job id) of every deferred job, soonest first."""
        return [(at, job_id) for at, _, job_id, _, _ in sorted(self._scheduled)]

    async def drain(self) -> None:
        """Run every job due by `clock.now()`, and those they enqueue, to completion.

        Jobs deferred to a later instant keep waiting."""
        while True:
            self._release_due()
            if not self._pending:
                return
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)


class ArqQueue:
    """Enqueues jobs on Redis for `frontdesk worker` (arq) to run."""

    def __init__(self, redis_url: str, queue_name: str):
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.pool: Any = None

    async def start(self, ctx: dict[str, Any]) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = await create_pool(
            RedisSettings.from_dsn(self.redis_url), default_queue_name=self.queue_name
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_until: datetime | None = None
    ) -> None:
        # arq's job ids are global to the Redis database; scope ours to this queue.
        scoped = f"{self.queue_name}:{job_id}" if job_id else None
        await self.pool.enqueue_job(
            name, *args, _job_id=scoped, _defer_until=defer_until, _queue_name=self.queue_name
        )


def cron_seconds(every_seconds: float) -> set[int] | None:
    """The `second=` set for an arq cron that fires every `every_seconds` (< 60)."""
    step = max(1, int(every_seconds))
    return set(range(0, 60, step)) if step < 60 else {0}


def arq_worker_settings(
    redis_url: str, queue_name: str, *, on_startup: Callable[[dict[str, Any]], Awaitable[None]],
    on_shutdown: Callable[[dict[str, Any]], Awaitable[None]], jobs: JobRegistry = registry,
) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` running every registered job."""
    from arq import cron, func
    from arq.connections import RedisSettings

    return {
        "functions": [func(_as_arq(fn), name=name) for name, fn in jobs.functions.items()],
        "cron_jobs": [
            cron(_as_arq(jobs.functions[name]), name=f"cron:{name}",
                 second=cron_seconds(seconds),
                 unique=True, run_at_startup=True)
            for name, seconds in jobs.periodic.items()
        ],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": queue_name,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "max_tries": 5,
    }


def _as_arq(fn: JobFunction) -> WorkerCoroutine:
    # arq's WorkerCoroutine protocol wants `(ctx, *args, **kwargs)`, which no job with named
    # parameters matches; arq calls a job with the arguments it was enqueued with.
    return cast("WorkerCoroutine", fn)
