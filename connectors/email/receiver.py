"""The inbound SMTP server of `frontdesk serve`, in a process of its own.

The server's process runs HTTP, the jobs and their database work, all in one interpreter;
a sender waiting for its `250` would wait behind all of that. So `frontdesk serve` runs the
SMTP receiver (`connectors.email.smtp_in`, unchanged) in a spawned child process:

- The server binds the listening socket itself, so a port in use fails `serve` at start,
  and connections that arrive while the receiver restarts wait in the socket's backlog.
- The receiver has its own engine on the raw store, the only database it writes (on a
  SQLite file, a file of its own, so the server's writes never hold it up); its per
  client limits count there too (or in Redis when configured, `core.throttle`). It commits
  raw mail exactly as in-process;
  the jobs that a commit kicks (`email.process`) travel back over a pipe and the server
  enqueues them on its own queue. If the server dies before enqueuing one, the mail is
  still committed and `email.sweep` picks it up.
- The receiver also tells the server, over the same pipe, when mail starts waiting to be
  committed and when none is left, so that processing gives way to the receiver (its
  cores) as it does in-process (`runtime.extras["smtp_in.commits"]`).
- The receiver learns which inbox owns which address from the server: its directory
  (`inbox.directory`) at start, then each new one over a second pipe, server to receiver,
  as soon as the server has reloaded it (`core.settings_version`). Why not let it reload
  by itself? Its only engine is on the raw store, which on a SQLite file is another
  database than the one the inboxes live in; a second engine, a watcher and a poll in
  the receiver would do again what the server does already. The pipe keeps the receiver
  what it is (no reads of the main database in the path of an SMTP session) and a new
  address is taken as soon as the server knows it.
- The receiver ends with the server however that ends (`core.lifeline`). If it dies on its
  own, the server logs it and starts another one a second later; one that keeps dying
  young (a database it cannot open, say) is restarted ever later, a minute apart at most.
- `stop_receiver` asks it to stop (SIGTERM): it stops listening, lets the commits under
  way finish, so their senders get their `250`, and exits. It ignores SIGINT, which a
  Ctrl-C sends to the server and it alike: the server stops it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from core import metrics
from core.db import make_engine, raw_store_url
from core.lifeline import follow, lifeline
from core.logs import configure_logging
from core.settings import Settings
from core.throttle import Throttle, open_throttle
from inbox.directory import CHANNELS, ChannelDirectory, Channels, current_directory

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
STABLE_SECONDS = 60.0
EXIT_STATUS_WAIT = 1.0
STOP_GRACE_SECONDS = 15.0
QUIET_SECONDS = 0.005
JOB, QUIET, REJECTED = "job", "quiet", "rejected"
"""The kinds of message on the pipe from the receiver to the server."""
LISTEN_BACKLOG = 1024


# ---------------------------------------------------------------- in the receiver


class RelayQueue:
    """A job queue that hands every job to the server's queue, over a pipe; the same pipe
    tells the server whether mail waits to be committed (`tell_quiet`)."""

    def __init__(self, pipe: Connection):
        self.pipe = pipe

    async def start(self, ctx: dict[str, Any]) -> None:
        """Nothing to start: the server runs the jobs."""

    async def close(self) -> None:
        self.pipe.close()

    async def enqueue(self, name: str, *args: Any, job_id: str | None = None,
                      defer_until: datetime | None = None) -> None:
        """Send the job to the server; it enqueues it on its own queue."""
        self.pipe.send((JOB, (name, args, job_id, defer_until)))

    def tell_quiet(self, quiet: bool) -> None:
        """Tell the server that no mail waits to be committed (True) or that some does."""
        self.pipe.send((QUIET, quiet))

    def tell_rejected(self, reason: str) -> None:
        """Tell the server that mail was refused, for its metrics (`core.metrics`)."""
        self.pipe.send((REJECTED, reason))


@dataclass
class ReceiverRuntime:
    """What `start_smtp` needs of a runtime, and no more."""

    settings: Settings
    raw_sessions: async_sessionmaker[Any]
    throttle: Throttle
    extras: dict[str, Any] = field(default_factory=dict)


def _receive(settings: Settings, listener: socket.socket, jobs: Connection,
             parent_end: Connection, server_pid: int, directory: ChannelDirectory,
             directories: Connection) -> None:
    """The receiver process: serve SMTP on `listener` until SIGTERM."""
    follow(parent_end)
    # Ctrl-C in a terminal reaches the whole process group; the server stops the receiver
    # itself (SIGTERM), once it stopped taking work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.logging)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        asyncio.run(_serve(settings, listener, jobs, server_pid, directory, directories))
    else:
        uvloop.run(_serve(settings, listener, jobs, server_pid, directory, directories))


def _follow_directories(pipe: Connection, channels: Channels) -> None:
    """Take the newest directory the server sent (called when the pipe is readable)."""
    try:
        while pipe.poll():
            directory = pipe.recv()
            if isinstance(directory, ChannelDirectory):
                channels.replace(directory)
    except (EOFError, OSError):  # the server is gone; the lifeline ends this process
        asyncio.get_running_loop().remove_reader(pipe.fileno())


async def _serve(settings: Settings, listener: socket.socket, jobs: Connection,
                 server_pid: int, directory: ChannelDirectory,
                 directories: Connection) -> None:
    from connectors.email.smtp_in import start_smtp, stop_smtp

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    engine = make_engine(raw_store_url(settings.database.url),
                         busy_timeout_ms=settings.database.busy_timeout_ms)
    queue = RelayQueue(jobs)
    metrics.rejection_sink = queue.tell_rejected
    sessions = async_sessionmaker(engine, expire_on_commit=False,
                                  info={"jobs": queue, "cache": {}})
    throttle = open_throttle(settings, engine)
    channels = Channels(directory)
    loop.add_reader(directories.fileno(), _follow_directories, directories, channels)
    try:
        server = await start_smtp(ReceiverRuntime(settings, sessions, throttle,
                                                  extras={CHANNELS: channels}),
                                  listener=listener, on_quiet=queue.tell_quiet,
                                  fault_kills=(server_pid,))
        await stopping.wait()
        await stop_smtp(server)
    finally:
        await throttle.close()
        await engine.dispose()
        await queue.close()


# ---------------------------------------------------------------- in the server


class ReceiverCommits:
    """The server's view of the receiver's pending commits (see GroupCommit.quiet), kept
    from what the receiver tells over its pipe."""

    def __init__(self) -> None:
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._busy = asyncio.Event()
        self._quiet_at = -QUIET_SECONDS  # loop time since when it has been quiet

    def tell(self, quiet: bool) -> None:
        """The receiver has no mail waiting to be committed any more (True), or has some."""
        if quiet:
            self._quiet_at = asyncio.get_running_loop().time()
            self._busy.clear()
            self._quiet.set()
        else:
            self._quiet.clear()
            self._busy.set()

    async def quiet(self, patience: float) -> None:
        """Return once the receiver has had no mail waiting to be committed for
        QUIET_SECONDS, or after `patience` seconds. Senders whose `250` just went out send
        their next message within milliseconds: a moment's pause is not the end of them."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(patience):
                while True:
                    await self._quiet.wait()
                    left = self._quiet_at + QUIET_SECONDS - loop.time()
                    if left <= 0:
                        return
                    try:
                        async with asyncio.timeout(left):
                            await self._busy.wait()  # busy again: wait for the next pause
                    except TimeoutError:
                        return
        except TimeoutError:
            pass


class Receiver:
    """The receiver process as seen from the server: started, restarted, stopped."""

    def __init__(self, runtime: Any, listener: socket.socket):
        self.runtime = runtime
        self.listener = listener
        self.context = multiprocessing.get_context("spawn")
        self.commits = ReceiverCommits()
        """Whether the receiver has mail waiting to be committed, as it tells."""
        self.process: SpawnProcess | None = None
        self._jobs: Connection | None = None
        self._directories: Connection | None = None
        self._lifeline: Connection | None = None
        self._stopping = False
        self._enqueues: set[asyncio.Task[None]] = set()
        self._restart: asyncio.TimerHandle | None = None
        self._started_at = 0.0
        self._early_deaths = 0
        self.stop_following: Callable[[], None] = lambda: None
        """Stops sending it new directories (set by `start_receiver`)."""

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def start(self) -> None:
        """Spawn a receiver process on the listening socket."""
        loop = asyncio.get_running_loop()
        jobs_in, jobs_out = self.context.Pipe(duplex=False)
        directories_in, directories_out = self.context.Pipe(duplex=False)
        child_end, self._lifeline = lifeline(self.context)
        process = self.context.Process(
            target=_receive, name="frontdesk-smtp", daemon=True,
            args=(self.runtime.settings, self.listener, jobs_out, child_end,
                  os.getpid(), current_directory(self.runtime), directories_in))
        process.start()
        jobs_out.close()
        directories_in.close()
        child_end.close()
        self.process, self._jobs, self._directories = process, jobs_in, directories_out
        self._started_at = loop.time()
        loop.add_reader(jobs_in.fileno(), self._forward_jobs)
        loop.add_reader(process.sentinel, self._ended)
        log.info("inbound SMTP receiver started (pid %d) on port %d", process.pid, self.port)

    def send_directory(self, directory: ChannelDirectory) -> None:
        """Hand the receiver a new directory (it takes it before its next command). A
        receiver that is gone gets the current one when it is started again."""
        if self._directories is None:
            return
        try:
            self._directories.send(directory)
        except (BrokenPipeError, EOFError, OSError):
            log.warning("could not send the new channel directory to the SMTP receiver; "
                        "its next start takes it")

    def _forward_jobs(self) -> None:
        """Enqueue on the server's queue every job the receiver sent; note what it told
        of its pending commits."""
        pipe = self._jobs
        assert pipe is not None
        try:
            while pipe.poll():
                kind, message = pipe.recv()
                if kind == QUIET:
                    self.commits.tell(message)
                    continue
                if kind == REJECTED:
                    metrics.count_relayed_rejection(message)
                    continue
                name, args, job_id, defer_until = message
                task = asyncio.create_task(self.runtime.queue.enqueue(
                    name, *args, job_id=job_id, defer_until=defer_until))
                self._enqueues.add(task)
                task.add_done_callback(self._enqueued)
        except (EOFError, OSError):  # the receiver is gone; its sentinel says so too
            asyncio.get_running_loop().remove_reader(pipe.fileno())

    def _enqueued(self, task: asyncio.Task[None]) -> None:
        self._enqueues.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not enqueue a job of the SMTP receiver (email.sweep will "
                      "pick up its mail)", exc_info=task.exception())

    def _ended(self) -> None:
        """The receiver process ended: forward what it sent last, restart unless stopping."""
        process = self.process
        assert process is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(process.sentinel)
        self._release()
        self.commits.tell(True)
        if self._stopping:
            return
        process.join(EXIT_STATUS_WAIT)  # its end of the pipe may close just before it is reaped
        delay = self._restart_delay(loop.time())
        log.error("inbound SMTP receiver (pid %d) ended with %s; starting another in %.0f s",
                  process.pid, process.exitcode, delay)
        self._restart = loop.call_later(delay, self.start)

    def _restart_delay(self, now: float) -> float:
        """RESTART_DELAY, doubled for each restart in a row of a receiver that died young
        (within STABLE_SECONDS of its start), up to MAX_RESTART_DELAY."""
        if now - self._started_at >= STABLE_SECONDS:
            self._early_deaths = 0
        self._early_deaths += 1
        return float(min(RESTART_DELAY * 2 ** (self._early_deaths - 1), MAX_RESTART_DELAY))

    def _release(self) -> None:
        if self._jobs is not None:
            self._forward_jobs()
            asyncio.get_running_loop().remove_reader(self._jobs.fileno())
            self._jobs.close()
            self._jobs = None
        if self._directories is not None:
            self._directories.close()
            self._directories = None
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Let the receiver finish its commits and exit (killed after `grace_seconds`),
        enqueue the jobs it sent, and close the listening socket."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        process = self.process
        if process is not None:
            loop = asyncio.get_running_loop()
            if process.exitcode is None:
                process.terminate()
                await loop.run_in_executor(None, process.join, grace_seconds)
            if process.exitcode is None:
                log.warning("inbound SMTP receiver did not stop in %.0f s; killed",
                            grace_seconds)
                process.kill()
                await loop.run_in_executor(None, process.join)
            loop.remove_reader(process.sentinel)
            self._release()
        if self._enqueues:
            await asyncio.gather(*self._enqueues, return_exceptions=True)
        self.listener.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for the receiver (raises OSError: port in use...)."""
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return socket.create_server(address, family=family, backlog=LISTEN_BACKLOG)


async def start_receiver(runtime: Any, *, port: int | None = None,
                         listener: socket.socket | None = None) -> Receiver:
    """Listen on `[smtp_in]` host and port (or `port`; or on `listener`, bound already)
    and start the receiver process; the server's processing gives way to its commits from
    now on."""
    config = runtime.settings.smtp_in
    if listener is None:
        listener = listening_socket(config.host, config.port if port is None else port)
    receiver = Receiver(runtime, listener)
    from connectors.email.smtp_in import RECEIVER_COMMITS

    runtime.extras[RECEIVER_COMMITS] = receiver.commits
    receiver.start()
    channels = runtime.extras.get(CHANNELS)
    if isinstance(channels, Channels):
        receiver.stop_following = channels.listen(receiver.send_directory)
    return receiver


async def stop_receiver(receiver: Receiver) -> None:
    """Stop the receiver (see Receiver.stop)."""
    receiver.stop_following()
    await receiver.stop()
