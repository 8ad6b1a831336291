"""SQLite through SQLAlchemy's asyncio layer: aiosqlite against `core.sqlite_driver`.

Run: .venv/bin/python bench/sqlite_driver.py

Two engines on two fresh files with the same settings (WAL, synchronous=FULL, foreign keys,
busy_timeout, BEGIN IMMEDIATE per transaction, a pool of 20 connections):
  old: ``create_async_engine("sqlite+aiosqlite://...")`` with core.db's connect and begin
       hooks, as `make_engine` built it before;
  new: ``core.db.make_engine("sqlite+aiosqlite://...")``, which runs on core.sqlite_driver.
Workloads, through an AsyncSession each:
  statements: primary-key SELECTs inside one open transaction, Core (one column, the
       driver's cost shows) and ORM (whole objects, SQLAlchemy's own cost dominates);
  commits, 1 writer: transactions of one INSERT and one SELECT, one after another;
  commits, 16 writers: the same from 16 tasks at once (their p99 latency, and the longest
       the event loop went without running a 1 ms ticker, are printed too).
This machine is shared and noisy, so old and new run interleaved, in rounds, and their times
are summed per engine; the ratios are what count.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Integer, String, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as sqlalchemy_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import UTCDateTime, _sqlite_begin, _sqlite_pragmas, make_engine, transaction

ROUNDS = 5
STATEMENTS_PER_ROUND = 1000
COMMITS_PER_ROUND = 40
WRITERS = 16
COMMITS_PER_WRITER = 6
AT = datetime(2026, 1, 1, tzinfo=UTC)


class Model(DeclarativeBase):
    pass


class Item(Model):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def old_engine(path: Path) -> AsyncEngine:
    engine = sqlalchemy_async_engine(f"sqlite+aiosqlite:///{path}",
                                     connect_args={"timeout": 30, "isolation_level": None},
                                     pool_size=20, max_overflow=20)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas(30_000))
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


@dataclass
class Contender:
    name: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    longest_stall: float = 0.0

    def __post_init__(self) -> None:
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def add(self, workload: str, seconds: float, count: int) -> None:
        self.seconds[workload] = self.seconds.get(workload, 0.0) + seconds
        self.counts[workload] = self.counts.get(workload, 0) + count

    def rate(self, workload: str) -> float:
        return self.counts[workload] / self.seconds[workload]


async def prepare(contender: Contender) -> None:
    async with contender.engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
    async with transaction(contender.sessions) as session:
        session.add_all(Item(name=f"seed {n}", created_at=AT, payload={"n": n})
                        for n in range(1, 101))


async def core_statements(contender: Contender) -> None:
    table = Item.__table__
    async with transaction(contender.sessions) as session:
        await session.execute(select(table.c.name).where(table.c.id == 1))
        started = time.perf_counter()
        for n in range(STATEMENTS_PER_ROUND):
            item_id = n % 100 + 1
            query = select(table.c.name).where(table.c.id == item_id)
            name = (await session.execute(query)).scalar()
            assert name == f"seed {item_id}"
        contender.add("core", time.perf_counter() - started, STATEMENTS_PER_ROUND)


async def orm_statements(contender: Contender) -> None:
    async with transaction(contender.sessions) as session:
        await session.execute(select(Item).where(Item.id == 1))
        started = time.perf_counter()
        for n in range(STATEMENTS_PER_ROUND):
            item_id = n % 100 + 1
            row = (await session.execute(select(Item).where(Item.id == item_id))).scalar_one()
            assert row.id == item_id
        contender.add("orm", time.perf_counter() - started, STATEMENTS_PER_ROUND)


async def one_commit(contender: Contender, name: str) -> float:
    started = time.perf_counter()
    async with transaction(contender.sessions) as session:
        item = Item(name=name, created_at=AT, payload={"k": name})
        session.add(item)
        await session.flush()
        await session.scalar(select(Item.name).where(Item.id == item.id))
    return time.perf_counter() - started


async def serial_commits(contender: Contender) -> None:
    started = time.perf_counter()
    for n in range(COMMITS_PER_ROUND):
        await one_commit(contender, f"serial {n}")
    contender.add("serial", time.perf_counter() - started, COMMITS_PER_ROUND)


async def ticker(stop: asyncio.Event) -> float:
    longest, last = 0.0, time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def concurrent_commits(contender: Contender) -> None:
    async def writer(w: int) -> None:
        for n in range(COMMITS_PER_WRITER):
            contender.latencies.append(await one_commit(contender, f"writer {w}.{n}"))

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    contender.add("concurrent", time.perf_counter() - started, WRITERS * COMMITS_PER_WRITER)
    stop.set()
    contender.longest_stall = max(contender.longest_stall, await tick)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(old: Contender, new: Contender) -> None:
    print("SQLite via SQLAlchemy asyncio, same run, interleaved rounds "
          f"({ROUNDS} rounds):")
    print(f"  {'':34} {'old':>10} {'new':>10} {'new/old':>9}")
    rows: list[tuple[str, float, float]] = [
        ("statements/s, Core PK select", old.rate("core"), new.rate("core")),
        ("statements/s, ORM PK select", old.rate("orm"), new.rate("orm")),
        ("commits/s, 1 writer", old.rate("serial"), new.rate("serial")),
        (f"commits/s, {WRITERS} writers", old.rate("concurrent"), new.rate("concurrent")),
    ]
    for label, a, b in rows:
        print(f"  {label:34} {a:10.0f} {b:10.0f} {b / a:8.2f}x")
    print(f"  {f'p99 commit latency, {WRITERS} writers':34} "
          f"{p99(old.latencies) * 1000:8.1f}ms {p99(new.latencies) * 1000:8.1f}ms")
    print(f"  {'longest event-loop stall':34} "
          f"{old.longest_stall * 1000:8.1f}ms {new.longest_stall * 1000:8.1f}ms")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = Contender("old", old_engine(Path(tmp) / "old.db"))
        new = Contender("new", make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'new.db'}"))
        workloads: list[Callable[[Contender], Awaitable[None]]] = [
            core_statements, orm_statements, serial_commits, concurrent_commits]
        try:
            for contender in (old, new):
                await prepare(contender)
                for workload in workloads:  # warm up: connections, statement caches
                    await workload(contender)
                contender.seconds.clear()
                contender.counts.clear()
                contender.latencies.clear()
                contender.longest_stall = 0.0
            for _ in range(ROUNDS):
                for workload in workloads:
                    for contender in (old, new):
                        await workload(contender)
        finally:
            await old.engine.dispose()
            await new.engine.dispose()
    report(old, new)


if __name__ == "__main__":
    asyncio.run(main())
