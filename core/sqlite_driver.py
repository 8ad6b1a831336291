"""An asyncio SQLite driver for SQLAlchemy that runs statements inline under the write lock.

URL: ``sqlite+frontdesk:///path/to/file.db`` with `create_async_engine`, after `register()`.
Types, SQL and reflection are those of SQLAlchemy's pysqlite dialect.

Each connection wraps a `sqlite3.Connection` and one worker thread of its own. A call runs
either inline, on the event loop's thread, or in the worker, with the loop free meanwhile:

- Inline: a statement while this connection holds the write lock, i.e. after it ran
  ``BEGIN IMMEDIATE`` (or ``EXCLUSIVE``) and before the transaction ended. In WAL mode such
  a statement never waits on another connection, so it costs what SQLite costs (microseconds)
  instead of a round trip to a thread.
- In the worker: everything that may wait or sync to disk. Opening and closing, ``BEGIN``,
  ``COMMIT``, ``ROLLBACK``, ``PRAGMA``, ``VACUUM``, and any statement outside a transaction
  or inside a transaction that does not hold the write lock (after a deferred ``BEGIN``).

Calls on one connection never overlap: while a worker call is under way (its task may have
been cancelled), every later call goes to the worker too, behind it.

The connections of one engine take turns at the write lock through a `WriteGate`, first come
first served, so they do not poll for it in SQLite's busy handler. Other engines and other
processes still meet them at SQLite's lock: a ``BEGIN IMMEDIATE`` that finds it taken tries
again every half millisecond, in the worker, up to the busy timeout.

The inline rule relies on WAL mode (or an in-memory database); in rollback-journal mode a
statement under the write lock may still wait for readers, so set ``journal_mode=WAL``.
Statements run inline without limit: a transaction that does heavy work holds the loop.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, AdaptedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

T = TypeVar("T")

# Statements that start, end or configure something always go to the worker.
_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|END|ROLLBACK|PRAGMA|VACUUM)\b", re.IGNORECASE)
_TAKES_WRITE_LOCK = re.compile(r"\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)
LOCK_POLL_SECONDS = 0.0005


class WriteGate:
    """First come, first served turns at SQLite's write lock for connections that share it.

    A courtesy, not the lock: SQLite's own write lock (with its busy timeout) is what keeps
    writers apart. Without the gate, connections of one engine that want the lock at once
    wait in SQLite's busy handler, which polls with sleeps growing to 100 ms: the lock sits
    idle between turns and newcomers overtake old waiters for seconds. With it, they queue
    here and only the head of the queue asks SQLite. Used on the event loop's thread only.
    """

    def __init__(self) -> None:
        self._holder: object | None = None
        self._waiters: deque[tuple[asyncio.Future[None], object]] = deque()

    def enter_now(self, owner: object) -> bool:
        """Take the turn if it is free and nobody queues (or `owner` has it); no waiting."""
        while self._waiters and self._waiters[0][0].done():
            self._waiters.popleft()
        if self._holder is None and not self._waiters:
            self._holder = owner
        return self._holder is owner

    async def enter(self, owner: object, patience: float) -> None:
        """Queue for the turn; after `patience` seconds stop queueing and go anyway."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((future, owner))
        try:
            async with asyncio.timeout(patience):
                await future
        except TimeoutError:
            self.leave(owner)
        except BaseException:
            self.leave(owner)
            raise

    def leave(self, owner: object) -> None:
        """End `owner`'s turn (if it has it) and hand it to the next live waiter."""
        if self._holder is not owner:
            return
        self._holder = None
        while self._waiters:
            future, waiter = self._waiters.popleft()
            if not future.done():
                self._holder = waiter
                future.set_result(None)
                return


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(fn)
    except RuntimeError:  # the loop is closed: nobody is left to wait
        pass


async def _call(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


class InlineCursor:
    """A DBAPI cursor; rows are fetched whole at execute time, so reads never touch SQLite."""

    __slots__ = ("_owner", "_cursor", "_rows")

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._connection.cursor()
        self._rows: deque[Any] = deque()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    def execute(self, operation: str, parameters: Any = None) -> InlineCursor:
        self._owner._run_statement(operation, self._execute, operation, parameters)
        return self

    def executemany(self, operation: str, seq_of_parameters: Any) -> InlineCursor:
        self._owner._run_statement(operation, self._executemany, operation, seq_of_parameters)
        return self

    def _execute(self, operation: str, parameters: Any) -> None:
        cursor = self._cursor
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        self._rows = deque(cursor.fetchall()) if cursor.description else deque()

    def _executemany(self, operation: str, seq_of_parameters: Any) -> None:
        self._cursor.executemany(operation, seq_of_parameters)
        self._rows = deque()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        count = min(self.arraysize if size is None else size, len(rows))
        return [rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's AsyncConnection calls this after execute; the rows are already here."""


class InlineConnection(AdaptedConnection):
    """A DBAPI connection for SQLAlchemy's greenlet bridge; see the module docstring.

    Methods are called from SQLAlchemy's greenlet on the event loop thread; a worker call
    suspends that greenlet (`await_`) until the worker is done.
    """

    __slots__ = ("_worker", "_calls", "_loop", "_gate", "_patience", "_write_locked", "_closed")

    # SQLAlchemy's AdaptedConnection types this as an asyncio driver's connection; ours is
    # sqlite3's own, which this class drives from its worker thread.
    _connection: sqlite3.Connection  # type: ignore[assignment]

    def __init__(self, connection: sqlite3.Connection, worker: ThreadPoolExecutor,
                 gate: WriteGate, patience: float) -> None:
        self._connection = connection
        self._worker = worker
        self._calls: deque[Future[Any]] = deque()  # submitted to the worker, maybe not done
        self._loop = asyncio.get_running_loop()
        self._gate = gate
        self._patience = patience
        self._write_locked = False
        self._closed = False

    @classmethod
    def open(cls, database: str, *, gate: WriteGate, **kwargs: Any) -> InlineConnection:
        """Open `database` in a new worker thread (`sqlite3.connect` arguments).

        `gate` orders the write transactions of the connections that share it; a turn is
        awaited at most `timeout` seconds (sqlite3's busy timeout, 5 by default), then the
        connection asks SQLite anyway.
        """
        kwargs["check_same_thread"] = False
        kwargs.setdefault("isolation_level", None)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            connection = await_(asyncio.wrap_future(
                worker.submit(lambda: sqlite3.connect(database, **kwargs))))
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(connection, worker, gate, float(kwargs.get("timeout", 5.0)))

    # Where each call runs.

    def _busy(self) -> bool:
        calls = self._calls
        while calls and calls[0].done():
            calls.popleft()
        return bool(calls)

    def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        future = self._worker.submit(fn, *args)
        self._calls.append(future)
        try:
            return await_(asyncio.wrap_future(future))
        finally:
            if future.done():
                self._settle()
            else:
                # The awaiting task was cancelled; settle once the worker is through.
                future.add_done_callback(lambda _: _call_soon(self._loop, self._settle))

    def _settle(self) -> None:
        """Give up the gate once the transaction is over."""
        if not self._busy() and not self._connection.in_transaction:
            self._write_locked = False
            self._gate.leave(self)

    def _holds_write_lock(self) -> bool:
        if not self._connection.in_transaction:
            self._write_locked = False
        return self._write_locked

    def _run_statement(self, operation: str, fn: Callable[..., None], *args: Any) -> None:
        if not self._busy() and self._holds_write_lock() and not _CONTROL.match(operation):
            # Awaiting a coroutine that never suspends runs `fn` right here, on the loop's
            # thread; AsyncConnection.execute insists that its driver awaited something.
            try:
                await_(_call(fn, *args))
            except BaseException:
                self._settle()  # some errors roll the transaction back
                raise
            return
        if _TAKES_WRITE_LOCK.match(operation) and not self._gate.enter_now(self):
            await_(self._gate.enter(self, self._patience))
        self._in_worker(self._tracked, operation, fn, *args)

    def _tracked(self, operation: str, fn: Callable[..., None], *args: Any) -> None:
        """Run a statement in the worker, then note whether the write lock is held."""
        takes_lock = bool(_TAKES_WRITE_LOCK.match(operation))
        try:
            if takes_lock:
                self._polling_for_lock(fn, *args)
            else:
                fn(*args)
        finally:
            took_lock = self._write_locked or takes_lock
            self._write_locked = took_lock and self._connection.in_transaction

    def _polling_for_lock(self, fn: Callable[..., object], *args: Any) -> None:
        """Run `fn` (a BEGIN that takes the write lock), trying again every
        LOCK_POLL_SECONDS while another process holds the lock, for the busy timeout at
        most. SQLite's own busy handler sleeps up to 100 ms between tries, so a writer in
        another process would find the lock free long after it was."""
        connection = self._connection
        [(timeout_ms,)] = connection.execute("PRAGMA busy_timeout").fetchall()
        give_up = time.monotonic() + timeout_ms / 1000
        connection.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    fn(*args)
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or (
                            time.monotonic() >= give_up):
                        raise
                time.sleep(LOCK_POLL_SECONDS)
        finally:
            connection.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")

    async def insert_committed(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Run INSERT `sql` for each of `rows` in a transaction of its own and commit it, in
        one call to the worker, outside SQLAlchemy (a hot path's shortcut: no greenlet, one
        thread round trip); returns the new rowids in order. The rows' values must be what
        SQLite stores (bind processors applied). Takes its turn at the write gate; call
        with no transaction open on this connection."""
        def insert(connection: sqlite3.Connection) -> list[int]:
            connection.executemany(sql, rows)
            # Each new row got the largest rowid + 1 (short of 2**63) under our write lock.
            [(last,)] = connection.execute("SELECT last_insert_rowid()").fetchall()
            return list(range(last - len(rows) + 1, last + 1))

        return await self.run_committed(insert)

    async def run_committed(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the `sqlite3.Connection` in a transaction of its own
        that holds the write lock, and commit it (roll it back if `work` raises), in one
        call to the worker, outside SQLAlchemy; returns what `work` returned. `work` runs
        in the worker thread. Takes its turn at the write gate; call with no transaction
        open on this connection."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        if not self._gate.enter_now(self):
            await self._gate.enter(self, self._patience)
        future = self._worker.submit(self._committed, work)
        self._calls.append(future)
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        finally:
            if future.done():
                self._settle()
            else:
                future.add_done_callback(lambda _: _call_soon(self._loop, self._settle))

    def _committed(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connection
        self._polling_for_lock(connection.execute, "BEGIN IMMEDIATE")
        try:
            result = work(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    # The DBAPI surface SQLAlchemy uses.

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    def execute(self, operation: str, parameters: Any = None) -> InlineCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def commit(self) -> None:
        if self._busy() or self._connection.in_transaction:
            self._in_worker(self._connection.commit)
        else:
            self._settle()

    def rollback(self) -> None:
        if self._busy() or self._connection.in_transaction:
            self._in_worker(self._connection.rollback)
        else:
            self._settle()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # sqlite3 commits an open transaction when autocommit is switched on.
        if self._busy() or self._connection.in_transaction:
            self._in_worker(setattr, self._connection, "isolation_level", value)
        else:
            # typeshed lists the named levels only; "" (deferred BEGIN), which SQLAlchemy's
            # pysqlite dialect sets, is one sqlite3 accepts too.
            self._connection.isolation_level = value  # type: ignore[assignment]

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        if self._busy():
            self._in_worker(lambda: self._connection.create_function(*args, **kwargs))
        else:
            self._connection.create_function(*args, **kwargs)

    def close(self) -> None:
        """Close in the worker (after any call under way), then let the worker go.

        Outside SQLAlchemy's greenlet (garbage collection, maybe on another thread) the
        close is queued, not awaited.
        """
        if self._closed:
            return
        self._closed = True
        future = self._worker.submit(self._connection.close)
        self._worker.shutdown(wait=False)
        if not in_greenlet():
            _call_soon(self._loop, lambda: self._gate.leave(self))
            return
        try:
            await_(asyncio.shield(asyncio.wrap_future(future)))
        finally:
            self._write_locked = False
            self._gate.leave(self)

    terminate = close


class _SQLiteModule:
    """The DBAPI module as SQLAlchemy sees it: sqlite3's names, exceptions and types."""

    paramstyle = "qmark"

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)


class FrontdeskSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite's dialect (types, SQL, reflection) on top of `InlineConnection`."""

    driver = "frontdesk"
    is_async = True
    has_terminate = True
    supports_statement_cache = True
    supports_server_side_cursors = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.write_gate = WriteGate()

    @classmethod
    def import_dbapi(cls) -> Any:
        return _SQLiteModule()

    # DBAPIConnection is a Protocol with __getattr__ and __setattr__, which an adapted
    # connection (SQLAlchemy's own asyncio adapters included) deliberately does not have.
    def connect(self, *cargs: Any, **cparams: Any) -> InlineConnection:  # type: ignore[override]
        return InlineConnection.open(*cargs, gate=self.write_gate, **cparams)

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if is_file_database(url) else pool.StaticPool

    def get_driver_connection(self, connection: Any) -> sqlite3.Connection:
        return connection.driver_connection  # type: ignore[no-any-return]

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.terminate()


def is_file_database(url: URL) -> bool:
    """Whether `url` names a database file (else an in-memory one, on a single connection)."""
    return url.database not in (None, "", ":memory:") and url.query.get("mode") != "memory"


def register() -> None:
    """Make ``sqlite+frontdesk://`` URLs resolve to this dialect."""
    registry.register("sqlite.frontdesk", __name__, FrontdeskSQLiteDialect.__name__)


__all__ = ["FrontdeskSQLiteDialect", "InlineConnection", "InlineCursor", "WriteGate",
           "is_file_database", "register"]
