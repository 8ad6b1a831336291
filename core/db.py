"""Database plumbing: the declarative base, engines, sessions and transactions.

Callers own their sessions (`async with transaction(sessionmaker) as session:`); service
functions take a session and never commit. After the commit, callbacks registered with
`after_commit(session, fn)` run: that is where jobs are kicked, never before.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import DateTime, MetaData, Table, bindparam, event, insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from core import sqlite_driver

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        # Every model maps one Table (never a join or a select); DeclarativeBase says only
        # FromClause, which Core's insert() and update() do not take.
        __table__: ClassVar[Table]


class RawBase(DeclarativeBase):
    """Tables of the raw store (`raw_store_url`): inbound mail as it was accepted."""

    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        __table__: ClassVar[Table]  # as in Base


Model = type[Base] | type[RawBase]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone; we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL + synchronous=FULL: a commit is on disk before we acknowledge anything.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


READ_ONLY = "frontdesk_read_only"
"""Execution option of a connection whose transaction only reads (see `reading`)."""


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two deferred transactions that both read and
    # then write would deadlock and one would fail at once instead of waiting its turn.
    # One that only reads needs no lock: in WAL mode it reads beside the writer.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN DEFERRED")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def raw_store_url(url: str) -> str:
    """Where raw inbound mail is kept for the database at `url`. A SQLite file keeps it
    in a file of its own beside it (`frontdesk.db` -> `frontdesk.raw.db`), so that
    accepting mail never waits for SQLite's one write lock on the main file; any other
    database keeps it in its own tables."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not (
            parsed.database and sqlite_driver.is_file_database(parsed)):
        return url
    path = Path(parsed.database)
    return parsed.set(database=str(path.with_name(f"{path.stem}.raw{path.suffix}"))
                      ).render_as_string(hide_password=False)


def make_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 30_000) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, full sync, foreign keys and a data dir;
    both backends wait `busy_timeout_ms` for another writer's lock, then fail.

    SQLite URLs (``sqlite+aiosqlite://``) run on `core.sqlite_driver`: statements inside a
    transaction run inline on the event loop, waits and disk syncs in a thread.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and sqlite_driver.is_file_database(parsed):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Keep the connections (a worker thread each): opening one costs a thread and
            # four PRAGMAs, too much to pay per request under load.
            pool = {"pool_size": 20, "max_overflow": 20}
        sqlite_driver.register()
        # isolation_level=None: the driver's own implicit BEGIN is off; `_sqlite_begin`
        # issues ours.
        engine = create_async_engine(parsed.set(drivername="sqlite+frontdesk"), echo=echo,
                                     connect_args={"timeout": busy_timeout_ms / 1000,
                                                   "isolation_level": None},
                                     **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # The same patience for locks on PostgreSQL: a write waits at most this long, then
    # fails (an SMTP sender then hears 451 and retries) instead of hanging. A commit is on
    # disk when it returns (whatever the server's default), since a `250` follows it.
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
        connect_args={"server_settings": {"lock_timeout": str(int(busy_timeout_ms)),
                                          "synchronous_commit": "on"}})


async def insert_rows(session: AsyncSession, model: Model,
                      rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` (column values) into the table of `model` in one statement, in the
    session's transaction; returns their ids in order. The rows skip the ORM unit of
    work: they are not in the session until something loads them."""
    if not rows:
        return []
    table = model.__table__
    if session.get_bind().dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list((await session.execute(statement, list(rows))).scalars())
    # SQLAlchemy cannot match SQLite's RETURNING rows to parameters and would insert row
    # by row. It need not: SQLite gives a new row the largest rowid + 1 (short of 2**63),
    # and our writes hold the write lock, so the ids grow in the order of the rows.
    statement = insert(table).returning(table.c.id)
    return sorted((await session.execute(statement, list(rows))).scalars())


async def insert_committed(engine: AsyncEngine, model: Model,
                           rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` (column values, all with the same keys) into the table of `model` in a
    transaction of their own and commit; returns their ids in order. For a hot write path
    with nothing else in its transaction: on SQLite it skips SQLAlchemy's execution
    machinery (one trip to the connection's thread, the values converted by the columns'
    own types); elsewhere it is a Core insert."""
    if not rows:
        return []
    table = model.__table__
    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return list((await connection.execute(statement, list(rows))).scalars())
    keys = list(rows[0])
    sql, convert = _sqlite_insert(engine.dialect, table, tuple(keys))
    values = [[convert[key](row[key]) for key in keys] for row in rows]
    try:
        return await _on_sqlite(engine, lambda driver: driver.insert_committed(sql, values))
    except sqlite3.Error as exc:  # as SQLAlchemy would raise it (IntegrityError...)
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


async def run_committed(engine: AsyncEngine, work: Callable[[sqlite3.Connection], T]) -> T:
    """SQLite only: `work(connection)` on a `sqlite3.Connection` of `engine`, in the
    connection's thread, in a transaction of its own that holds the write lock, then
    committed; one trip to that thread, outside SQLAlchemy (for hot paths whose SQL is
    small and fixed). Returns what `work` returned; its sqlite3 errors propagate as they are."""
    return await _on_sqlite(engine, lambda driver: driver.run_committed(work))


async def _on_sqlite(engine: AsyncEngine,
                     call: Callable[[sqlite_driver.InlineConnection], Awaitable[T]]) -> T:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.dbapi_connection
        assert isinstance(driver, sqlite_driver.InlineConnection)
        return await call(driver)


def _sqlite_insert(dialect: Dialect, table: Table, keys: tuple[str, ...]
                   ) -> tuple[str, dict[str, Callable[[Any], Any]]]:
    """The INSERT statement for `keys` of `table` and each column's value converter."""
    cached = _SQLITE_INSERTS.get((table.name, keys))
    if cached is None:
        statement = insert(table).values({key: bindparam(key) for key in keys})
        compiled = statement.compile(dialect=dialect)
        assert compiled.positiontup == list(keys)
        convert: dict[str, Callable[[Any], Any]] = {}
        for key in keys:
            processor = table.c[key].type.bind_processor(dialect)
            convert[key] = processor if processor is not None else _same
        cached = _SQLITE_INSERTS[(table.name, keys)] = (str(compiled), convert)
    return cached


def _same(value: Any) -> Any:
    return value


_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Callable[[Any], Any]]]] = {}


AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the surrounding `transaction()` has committed."""
    session.info.setdefault("after_commit", []).append(callback)


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A nested unit inside the caller's transaction. On error its writes are rolled back,
    and so are the after-commit callbacks registered inside it; the error propagates and
    the surrounding transaction goes on. Every object in the session is expired then, so
    nothing read inside the savepoint outlives it (a row it wrote and the ORM loaded may
    be gone, and its id taken again by another)."""
    callbacks = session.info.setdefault("after_commit", [])
    mark = len(callbacks)
    try:
        async with session.begin_nested():
            yield session
    except BaseException:
        del callbacks[mark:]
        session.expire_all()
        raise


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work that only reads, then ends (rolled back: nothing it would write is
    kept, and no after-commit callback runs). On SQLite it does not queue for the write
    lock behind writers and their disk syncs: it reads, beside them, what was committed
    when it first reads (WAL). Elsewhere it is a plain transaction. For hot reads that
    must not wait on writes, such as a socket catching up after a commit."""
    async with sessions() as session:
        try:
            await session.connection(execution_options={READ_ONLY: True})
            yield session
        finally:
            session.info.pop("after_commit", None)
            await session.rollback()


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error, then after-commit callbacks.

    Callback failures are logged, not raised: the work is already committed, and whatever a
    callback kicks is also recovered by the periodic sweeps.
    """
    async with sessions() as session:
        async with session.begin():
            yield session
        callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception("after-commit callback failed")
