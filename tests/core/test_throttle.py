"""Shared throttle counters (core.throttle), for real: the database side on this run's
database (SQLite file or PostgreSQL), the Redis side when the run has Redis. Two throttles
are two processes' worth of connections; one test runs a second process for real."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.db import make_engine, raw_store_url
from core.errors import SystemFault
from core.runtime import Runtime
from core.throttle import (
    Change,
    DatabaseCounters,
    RedisCounters,
    Throttle,
    ThrottleCounter,
    counters_engine,
    decide_in_order,
    open_throttle,
)
from core.windows import Window, whole_seconds
from tests.support import TEST_REDIS_URL, process_env, unused_port

BACKENDS = ["database", pytest.param("redis", marks=pytest.mark.skipif(
    not TEST_REDIS_URL, reason="FRONTDESK_TEST_REDIS_URL not set"))]
WINDOW = Window(limit=3, seconds=60)


def settings_for(runtime: Runtime, backend: str):
    """The runtime's settings, with the counters in the database or in Redis."""
    jobs = runtime.settings.jobs.model_copy(
        update={"redis_url": TEST_REDIS_URL if backend == "redis" else ""})
    return runtime.settings.model_copy(update={"jobs": jobs})


@pytest.fixture(params=BACKENDS)
async def throttles(request, runtime: Runtime) -> AsyncIterator[tuple[Throttle, Throttle]]:
    """Two throttles on the same counters, each with connections of its own."""
    settings = settings_for(runtime, request.param)
    engines = [make_engine(raw_store_url(settings.database.url)) for _ in range(2)]
    pair = [open_throttle(settings, engine) for engine in engines]
    yield pair[0], pair[1]
    for throttle, engine in zip(pair, engines, strict=True):
        await throttle.close()
        await engine.dispose()


async def test_a_limit_holds_across_throttles_and_frees_up_with_time(throttles, manual_clock):
    first, second = throttles
    assert [await t.hit("form:contact", "198.51.100.4", WINDOW)
            for t in (first, second, first)] == [0, 0, 0]
    # 09:00:10, three in this minute: until 09:01:20, when they weigh as two.
    wait = await second.hit("form:contact", "198.51.100.4", WINDOW)
    assert wait == pytest.approx(70)
    assert await first.hit("form:contact", "198.51.100.4", WINDOW) == wait  # not counted
    assert await first.hit("form:contact", "198.51.100.5", WINDOW) == 0   # another client
    assert await first.hit("form:other", "198.51.100.4", WINDOW) == 0     # another limit
    manual_clock.advance(timedelta(seconds=whole_seconds(wait)))
    assert await second.hit("form:contact", "198.51.100.4", WINDOW) == 0
    assert await first.hit("form:contact", "198.51.100.4", WINDOW) > 0


async def test_hits_at_once_from_two_throttles_never_pass_the_limit(throttles):
    first, second = throttles
    window = Window(limit=7, seconds=3600)
    waits = await asyncio.gather(*(t.hit("smtp-message", "192.0.2.1", window)
                                   for _ in range(10) for t in (first, second)))
    assert sum(1 for wait in waits if wait == 0) == 7


async def test_change_reads_and_writes_several_keys_as_one(throttles, manual_clock):
    first, second = throttles
    seen: list[list] = []

    def record(*changes):
        def decide(now: float, values: list) -> list | None:
            seen.append(values)
            return list(changes) if changes else None
        return decide

    await first.change(["a", "b"], [60, 60], record({"n": 1}, {"n": 2}))
    await second.change(["a", "b"], [60, 60], record(None, {"n": 3}))  # None: delete
    await first.change(["a", "b"], [60, 60], record())  # nothing to write
    await second.change(["b", "a"], [60, 60], record())
    assert seen == [[None, None], [{"n": 1}, {"n": 2}], [None, {"n": 3}], [{"n": 3}, None]]


CHILD = """
import asyncio, json, sys
from core.db import make_engine, raw_store_url
from core.settings import settings_from_dict
from core.throttle import open_throttle
from core.windows import Window, whole_seconds

async def main():
    settings = settings_from_dict(json.loads(sys.argv[1]), env={})
    engine = make_engine(raw_store_url(settings.database.url))
    throttle = open_throttle(settings, engine)
    print("ready", flush=True)
    sys.stdin.readline()
    waits = [await throttle.hit("login-source", "203.0.113.9", Window(25, 3600))
             for _ in range(20)]
    await throttle.close()
    await engine.dispose()
    print(json.dumps(waits), flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", BACKENDS)
async def test_another_process_shares_the_limit(runtime, backend):
    settings = settings_for(runtime, backend)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, json.dumps(settings.model_dump(mode="json")),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=process_env())
    assert child.stdin is not None and child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 60) == b"ready\n"
    throttle = open_throttle(settings, runtime.raw_engine)
    try:
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        here = [await throttle.hit("login-source", "203.0.113.9", Window(25, 3600))
                for _ in range(20)]
        there = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
    finally:
        await throttle.close()
        await child.wait()
    assert sum(1 for wait in here + there if wait == 0) == 25


async def test_the_database_side_keeps_counts_beside_a_sqlite_file(runtime, manual_clock):
    """On a SQLite file the counters live in the raw store, whose connections commit
    without a disk sync."""
    url = make_url(runtime.settings.database.url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite file only")
    engine = counters_engine(runtime.settings, runtime.raw_engine)
    assert engine is not runtime.raw_engine
    throttle = Throttle(DatabaseCounters(engine, owned=True))
    try:
        await throttle.hit("form:contact", "198.51.100.4", WINDOW)
        async with engine.connect() as connection:
            synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
    finally:
        await throttle.close()
    assert synchronous == 1  # NORMAL
    raw_file = make_url(raw_store_url(str(url))).database
    with sqlite3.connect(raw_file) as db:
        assert db.execute("SELECT count(*) FROM throttle_counters").fetchone() == (1,)
    with sqlite3.connect(url.database) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'throttle_counters'"
                          ).fetchall() == []


async def test_expired_counters_are_purged(runtime, manual_clock):
    throttle = Throttle(DatabaseCounters(runtime.raw_engine))
    for client in ("198.51.100.1", "198.51.100.2"):
        await throttle.hit("form:contact", client, WINDOW)
    manual_clock.advance(timedelta(minutes=10))
    await throttle.hit("form:contact", "198.51.100.3", WINDOW)
    async with runtime.raw_engine.connect() as connection:
        left = await connection.scalar(select(func.count()).select_from(ThrottleCounter))
    assert left == 1


async def test_unreachable_counters_fail_changes_and_let_hits_through(runtime):
    throttle = Throttle(RedisCounters(f"redis://127.0.0.1:{unused_port()}/0", "test:"))
    try:
        with pytest.raises(SystemFault):
            await throttle.change(["k"], [60], lambda now, values: None)
        assert await throttle.hit("smtp-message", "192.0.2.1", WINDOW) == 0
    finally:
        await throttle.close()


def test_changes_in_one_batch_see_each_other_in_order():
    def add(n: int):
        def decide(now: float, values: list) -> list:
            return [{"n": (values[0] or {"n": 0})["n"] + n}] + values[1:]
        return decide

    changes = [Change(["a"], [60], add(1)), Change(["a", "b"], [30, 120], add(10)),
               Change(["b"], [60], lambda now, values: None),   # leaves b alone
               Change(["b"], [60], lambda now, values: [None])]  # deletes it
    assert decide_in_order(changes, {"a": {"n": 5}, "b": {"x": 1}}, 0.0) == {
        "a": ({"n": 16}, 60), "b": (None, 120)}
