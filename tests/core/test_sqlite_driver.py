"""The SQLite driver behind `make_engine`: same results as before, and the loop stays free.

Statements under the write lock run inline on the event loop's thread; BEGIN, COMMIT,
ROLLBACK and anything outside a write transaction run in the connection's worker thread.
These tests run real SQLite files, real threads and a ticker that proves the loop ticks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core import sqlite_driver
from core.db import UTCDateTime, make_engine, transaction


class Model(DeclarativeBase):
    """Tables of these tests only (kept off `core.db.Base`, which the migrations mirror)."""


class Parent(Model):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Row(Model):
    __tablename__ = "row"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parent.id"), nullable=True)
    label: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    flag: Mapped[bool] = mapped_column(Boolean, default=False)
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


AT = datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "driver.db"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{db_path}")
    async with engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Ticker:
    """Counts loop turns every `period` seconds; `longest_gap` shows any freeze."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.ticks = 0
        self.longest_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.longest_gap = max(self.longest_gap, now - last)
            self.ticks += 1
            last = now

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


@contextmanager
def held_write_lock(path: Path, seconds: float) -> Iterator[None]:
    """Another connection, in another thread, holds BEGIN IMMEDIATE for `seconds`."""
    taken = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            connection.execute("COMMIT")
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert taken.wait(5)
        yield
    finally:
        thread.join()


def new_row(label: str, **values: Any) -> Row:
    return Row(**{"label": label, "at": AT, **values})


# The engine make_engine builds.


async def test_sqlite_urls_run_on_the_driver_with_the_usual_pragmas(engine: AsyncEngine):
    assert engine.dialect.name == "sqlite"
    assert engine.dialect.driver == "frontdesk"
    async with engine.connect() as connection:
        pragmas = {name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                   for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
        raw = await connection.get_raw_connection()
        assert raw.driver_connection.isolation_level is None
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                       "busy_timeout": 30000}


async def test_in_memory_database(tmp_path: Path):
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
            await connection.execute(Parent.__table__.insert().values(name="p"))
        async with engine.connect() as connection:
            assert (await connection.execute(select(Parent.name))).scalar_one() == "p"
    finally:
        await engine.dispose()


# Round trips.


@pytest.mark.parametrize(("column", "value"), [
    ("label", "plain"),
    ("label", "ünïcødé ✓ 日本"),
    ("body", None),
    ("body", "long text " * 2000),
    ("flag", True),
    ("flag", False),
    ("count", None),
    ("count", 0),
    ("count", -(2**62)),
    ("meta", {}),
    ("meta", {"nested": {"list": [1, 2.5, None, True]}, "ü": "x"}),
    ("tags", []),
    ("tags", ["a", "b"]),
    ("at", datetime(2000, 1, 1, tzinfo=UTC)),
    ("at", AT),
    ("until", None),
    ("until", datetime(2030, 6, 1, 12, tzinfo=UTC)),
])
async def test_round_trip(sessions, column: str, value: Any):
    values: dict[str, Any] = {"label": "x", "at": AT, column: value}
    async with transaction(sessions) as session:
        row = Row(**values)
        session.add(row)
        await session.flush()
        row_id = row.id
    async with sessions() as session:
        loaded = await session.get(Row, row_id)
        assert getattr(loaded, column) == value
        assert type(getattr(loaded, column)) is type(value)


async def test_datetimes_come_back_aware_utc(sessions):
    eastern = timezone(timedelta(hours=-5))
    async with transaction(sessions) as session:
        row = new_row("tz", at=datetime(2024, 1, 1, 7, tzinfo=eastern))
        session.add(row)
    async with sessions() as session:
        loaded = await session.get(Row, row.id)
    assert loaded is not None
    assert loaded.at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert loaded.at.tzinfo is UTC


async def test_naive_datetimes_are_refused(sessions):
    with pytest.raises(Exception, match="naive datetime"):
        async with transaction(sessions) as session:
            session.add(Row(label="naive", at=datetime(2024, 1, 1)))  # noqa: DTZ001


async def test_foreign_key_and_many_rows(sessions):
    async with transaction(sessions) as session:
        parent = Parent(name="p")
        session.add(parent)
        await session.flush()
        session.add_all([new_row(f"r{i}", parent_id=parent.id, count=i) for i in range(500)])
    async with sessions() as session:
        counts = (await session.scalars(select(Row.count).order_by(Row.count))).all()
        first = (await session.execute(select(Row.label).order_by(Row.id))).first()
    assert counts == list(range(500))
    assert first == ("r0",)


async def test_executemany(engine: AsyncEngine):
    async with engine.begin() as connection:
        result = await connection.execute(Parent.__table__.insert(),
                                          [{"name": f"p{n}"} for n in range(50)])
        assert result.rowcount == 50
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM parent"))).scalar()
    assert count == 50


# Transactions.


async def test_commit_is_visible_to_other_connections(sessions, db_path: Path):
    async with transaction(sessions) as session:
        session.add(Parent(name="kept"))
    with sqlite3.connect(db_path) as other:
        assert other.execute("SELECT name FROM parent").fetchall() == [("kept",)]


async def test_error_rolls_back(sessions):
    with pytest.raises(RuntimeError):
        async with transaction(sessions) as session:
            session.add(Parent(name="lost"))
            await session.flush()
            raise RuntimeError("boom")
    async with sessions() as session:
        assert (await session.scalars(select(Parent))).all() == []


async def test_savepoint_rolls_back_alone(sessions):
    async with transaction(sessions) as session:
        session.add(Parent(name="outer"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                session.add(Parent(name="outer"))
        session.add(Parent(name="after"))
    async with sessions() as session:
        names = (await session.scalars(select(Parent.name).order_by(Parent.name))).all()
    assert names == ["after", "outer"]


@pytest.mark.parametrize("violation", ["unique", "foreign key"])
async def test_integrity_errors_surface_as_sqlalchemy_errors(sessions, violation: str):
    async with transaction(sessions) as session:
        session.add(Parent(name="taken"))
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            if violation == "unique":
                session.add(Parent(name="taken"))
            else:
                session.add(new_row("orphan", parent_id=999))
    # The engine is unharmed: the next write transaction goes through at once.
    async with asyncio.timeout(2):
        async with transaction(sessions) as session:
            session.add(Parent(name="next"))


async def test_where_statements_run(engine: AsyncEngine):
    """Inside BEGIN IMMEDIATE..COMMIT on the loop's thread; the rest in a worker."""
    seen: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    def trace(dbapi_connection: Any, _record: Any) -> None:
        def traced(sql: str) -> None:
            if not sql.startswith("PRAGMA busy_timeout"):  # how BEGIN IMMEDIATE polls
                seen.append((sql.split()[0].upper(), threading.get_ident() == loop_thread))

        dbapi_connection.driver_connection.set_trace_callback(traced)

    await engine.dispose()
    event.listen(engine.sync_engine, "connect", trace)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        await connection.commit()
    async with engine.begin() as connection:
        await connection.execute(Parent.__table__.insert().values(name="a"))
        await connection.execute(select(Parent.name))
        await connection.execute(text("PRAGMA user_version"))
    assert seen == [
        ("BEGIN", False), ("SELECT", True), ("COMMIT", False),
        ("BEGIN", False), ("INSERT", True), ("SELECT", True), ("PRAGMA", False),
        ("COMMIT", False),
    ]


async def test_statements_outside_a_transaction_run_in_the_worker(engine: AsyncEngine):
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def record(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT thread_id()")
        threads.append(cursor.fetchone()[0])
        cursor.close()

    await engine.dispose()
    event.listen(engine.sync_engine, "connect", record)
    async with engine.begin() as connection:
        threads.append((await connection.execute(text("SELECT thread_id()"))).scalar_one())
    assert threads[0] != loop_thread
    assert threads[1] == loop_thread


# Waiting for the write lock without holding the loop.


async def test_two_transactions_take_turns(sessions):
    order: list[str] = []
    first_has_lock = asyncio.Event()

    async def first() -> None:
        async with transaction(sessions) as session:
            session.add(Parent(name="first"))
            await session.flush()
            first_has_lock.set()
            order.append("first holds")
            await asyncio.sleep(0.3)
            order.append("first commits")

    async def second() -> None:
        await first_has_lock.wait()
        async with transaction(sessions) as session:
            names = (await session.scalars(select(Parent.name))).all()
            order.append("second holds")
            session.add(Parent(name="second"))
        assert names == ["first"]

    async with Ticker() as ticker:
        async with asyncio.timeout(5):
            await asyncio.gather(first(), second())
    assert order == ["first holds", "first commits", "second holds"]
    assert ticker.ticks > 10
    assert ticker.longest_gap < 0.2


async def test_many_writers_all_finish_in_order_of_arrival(engine: AsyncEngine, sessions):
    finished: list[int] = []
    async with AsyncExitStack() as pooled:  # open the connections now, not while queueing
        for _ in range(12):
            await pooled.enter_async_context(engine.connect())

    async def writer(n: int) -> None:
        await asyncio.sleep(n * 0.03)
        async with transaction(sessions) as session:
            session.add(Parent(name=f"w{n}"))
            await session.flush()
            await asyncio.sleep(0.05)
        finished.append(n)

    async with asyncio.timeout(10):
        await asyncio.gather(*(writer(n) for n in range(12)))
    assert finished == list(range(12))


async def test_another_process_holding_the_lock_does_not_freeze_the_loop(sessions, db_path):
    async with Ticker() as ticker:
        with held_write_lock(db_path, 0.5):
            started = time.perf_counter()
            async with transaction(sessions) as session:
                session.add(Parent(name="after the lock"))
            waited = time.perf_counter() - started
    assert waited > 0.3
    assert ticker.ticks > 20
    assert ticker.longest_gap < 0.2


async def test_two_engines_on_one_file_wait_for_each_other_in_sqlite(sessions, db_path):
    other_engine = make_engine(f"sqlite+aiosqlite:///{db_path}")
    other = async_sessionmaker(other_engine, expire_on_commit=False)
    holding = asyncio.Event()

    async def hold() -> None:
        async with transaction(sessions) as session:
            session.add(Parent(name="one"))
            await session.flush()
            holding.set()
            await asyncio.sleep(0.3)

    async def wait_then_write() -> float:
        await holding.wait()
        started = time.perf_counter()
        async with transaction(other) as session:
            session.add(Parent(name="two"))
        return time.perf_counter() - started

    try:
        async with Ticker() as ticker:
            _, waited = await asyncio.gather(hold(), wait_then_write())
    finally:
        await other_engine.dispose()
    assert waited > 0.2
    assert ticker.longest_gap < 0.2


async def test_a_cancelled_waiter_leaves_no_lock_behind(sessions, db_path):
    with held_write_lock(db_path, 0.4):
        waiting = asyncio.create_task(_write(sessions, "cancelled in BEGIN"))
        queued = asyncio.create_task(_write(sessions, "cancelled in the queue"))
        await asyncio.sleep(0.1)
        waiting.cancel()
        queued.cancel()
        for task in (waiting, queued):
            with pytest.raises(asyncio.CancelledError):
                await task
    async with asyncio.timeout(3):
        await _write(sessions, "next")
        await _write(sessions, "and the next")
    async with sessions() as session:
        names = set((await session.scalars(select(Parent.name))).all())
    assert names == {"next", "and the next"}


async def _write(sessions: async_sessionmaker[AsyncSession], name: str) -> None:
    async with transaction(sessions) as session:
        session.add(Parent(name=name))


async def test_a_write_lock_held_elsewhere_is_polled_for_then_taken(engine: AsyncEngine,
                                                                     db_path: Path):
    """Another process's lock is asked for again and again (SQLite's busy handler would
    sleep up to 100 ms between tries), then taken; the busy timeout is as it was."""
    begins: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.set_trace_callback(
            lambda sql: begins.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)

    await engine.dispose()
    event.listen(engine.sync_engine, "connect", trace)
    with held_write_lock(db_path, 0.3):
        async with asyncio.timeout(5), engine.begin() as connection:
            await connection.execute(Parent.__table__.insert().values(name="after"))
    assert len(begins) > 2
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 30000
        names = (await connection.execute(select(Parent.name))).scalars().all()
    assert names == ["after"]


async def test_busy_timeout_still_ends_in_an_error(tmp_path: Path):
    path = tmp_path / "short.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")

    def short_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=100")
        cursor.close()

    event.listen(engine.sync_engine, "connect", short_timeout)
    try:
        with held_write_lock(path, 0.5):
            with pytest.raises(OperationalError, match="locked"):
                async with engine.begin():
                    pass
        async with asyncio.timeout(2), engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x)"))
    finally:
        await engine.dispose()


async def test_a_turn_held_too_long_ends_in_sqlites_own_error(tmp_path: Path):
    """Waiters queue at most the busy timeout, then meet SQLite's lock (and its timeout)."""
    sqlite_driver.register()
    engine = create_async_engine(f"sqlite+frontdesk:///{tmp_path / 'patience.db'}",
                                 connect_args={"timeout": 0.2})
    event.listen(engine.sync_engine, "begin",
                 lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    holding = asyncio.Event()

    async def hold() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x)"))
            holding.set()
            await asyncio.sleep(1.0)

    async def wait() -> float:
        await holding.wait()
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin():
                pass
        return time.perf_counter() - started

    try:
        async with asyncio.timeout(5):
            _, waited = await asyncio.gather(hold(), wait())
        async with asyncio.timeout(2), engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()
    assert 0.3 < waited < 0.9
