"""The SMTP receiver of `frontdesk serve`, in a process of its own: what it commits is
processed by the server, it comes back when it dies, it stops cleanly and it never outlives
the server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.email.receiver import (
    MAX_RESTART_DELAY,
    RESTART_DELAY,
    STABLE_SECONDS,
    Receiver,
    ReceiverCommits,
    start_receiver,
    stop_receiver,
)
from connectors.email.smtp_in import RECEIVER_COMMITS
from core.runtime import Runtime
from inbox.models import Conversation
from tests.connectors.email.test_smtp_in import count, deliver, mail, raw_rows
from tests.support import run_jobs

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [{"slug": "support", "name": "Support",
                         "addresses": ["help@example.com"]}]}


@pytest.fixture
async def receiver(runtime: Runtime) -> AsyncIterator[Receiver]:
    receiver = await start_receiver(runtime, port=0)
    yield receiver
    await stop_receiver(receiver)


async def processed(runtime: Runtime, conversations: int) -> None:
    """Run the jobs the receiver handed over until `conversations` exist."""
    async with asyncio.timeout(30):
        while await count(runtime, Conversation) < conversations:
            await run_jobs(runtime)
            await asyncio.sleep(0.05)


async def test_mail_committed_by_the_receiver_is_processed_by_the_server(runtime, receiver):
    assert receiver.process is not None and receiver.process.pid != os.getpid()
    replies = await asyncio.gather(*(deliver(receiver, mail(f"Question {n}"))
                                     for n in range(5)))
    assert all(reply.code == 250 for reply in replies)
    rows = await raw_rows(runtime)
    assert len(rows) == 5
    await processed(runtime, 5)
    assert {row.status for row in await raw_rows(runtime)} == {"processed"}


async def test_a_receiver_that_dies_is_replaced(runtime, receiver, caplog):
    first = receiver.process
    assert first is not None
    with caplog.at_level(logging.ERROR, logger="connectors.email.receiver"):
        os.kill(first.pid, signal.SIGKILL)
        async with asyncio.timeout(RESTART_DELAY + 30):
            while receiver.process is first or not receiver.process.is_alive():
                await asyncio.sleep(0.05)
            # Mail sent while it restarts waits in the listening socket's backlog.
            reply = await deliver(receiver, mail("After the crash"))
    assert reply.code == 250
    assert "ended with -9" in caplog.text
    await processed(runtime, 1)


async def test_a_ctrl_c_is_left_to_the_server(runtime, receiver):
    """SIGINT (a Ctrl-C reaches the whole process group) does not stop the receiver: the
    server stops it, once it stopped taking work itself."""
    first = receiver.process
    assert first is not None
    assert (await deliver(receiver, mail("Before a Ctrl-C"))).code == 250  # it is serving
    os.kill(first.pid, signal.SIGINT)
    # Had it ended, the server would have seen it and started another to take this one.
    assert (await deliver(receiver, mail("After a Ctrl-C"))).code == 250
    assert receiver.process is first and first.is_alive()


def test_a_receiver_that_keeps_dying_young_is_restarted_ever_later():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        receiver = Receiver(SimpleNamespace(), listener)
        receiver._started_at = 100.0
        delays = [receiver._restart_delay(101.0) for _ in range(8)]
        assert delays == [RESTART_DELAY * 2 ** n for n in range(6)] + [MAX_RESTART_DELAY] * 2
        receiver._started_at = 200.0  # this one ran a good while before it died
        assert receiver._restart_delay(200.0 + STABLE_SECONDS) == RESTART_DELAY


async def test_stopping_lets_the_last_commits_through_and_frees_the_port(runtime):
    receiver = await start_receiver(runtime, port=0)
    port, process = receiver.port, receiver.process
    assert process is not None
    reply = await deliver(receiver, mail("Just before the stop"))
    await stop_receiver(receiver)
    assert reply.code == 250
    assert not process.is_alive() and process.exitcode == 0
    # The job it sent last was enqueued on the server's queue.
    await processed(runtime, 1)
    with socket.create_server(("127.0.0.1", port)):
        pass


async def test_a_port_in_use_fails_the_start(runtime):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(OSError):
            await start_receiver(runtime, port=taken.getsockname()[1])


async def still_waiting(task: asyncio.Task[None]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=0.05)
    return not done


async def test_processing_gives_way_while_the_receiver_has_mail_to_commit():
    commits = ReceiverCommits()
    async with asyncio.timeout(0.5):
        await commits.quiet(10.0)  # never told of mail: no wait at all
    commits.tell(False)  # mail waiting
    waiting = asyncio.create_task(commits.quiet(10.0))
    assert await still_waiting(waiting)
    commits.tell(True)  # committed: quiet from now on
    async with asyncio.timeout(5):
        await waiting
    commits.tell(False)
    commits.tell(True)
    commits.tell(False)  # a moment's pause is not the end of the senders
    waiting = asyncio.create_task(commits.quiet(10.0))
    assert await still_waiting(waiting)
    commits.tell(True)
    async with asyncio.timeout(5):
        await waiting
    commits.tell(False)
    async with asyncio.timeout(5):
        await commits.quiet(0.05)  # patience runs out: processing goes on


async def test_the_receiver_tells_the_server_when_mail_waits_and_when_none_is_left(
        runtime, receiver):
    assert runtime.extras[RECEIVER_COMMITS] is receiver.commits
    told: list[bool] = []
    quiet_again = asyncio.Event()
    tell = receiver.commits.tell

    def noting(quiet: bool) -> None:
        told.append(quiet)
        if quiet:
            quiet_again.set()
        tell(quiet)

    receiver.commits.tell = noting  # type: ignore[method-assign]
    assert (await deliver(receiver, mail("One"))).code == 250
    async with asyncio.timeout(10):
        await quiet_again.wait()
    assert told == [False, True]


KILLED_SERVER = """
import asyncio, os, signal, sys
import server
from connectors.email.receiver import start_receiver
from core.migrations import upgrade
from core.settings import settings_from_dict

async def main():
    settings = settings_from_dict({
        "secret_key": "receiver-test-secret-key-0123456789",
        "database": {"url": "sqlite+aiosqlite:///" + sys.argv[1]},
        "inboxes": [{"slug": "support", "name": "S", "addresses": ["help@example.com"]}]})
    await asyncio.to_thread(upgrade, settings.database.url)
    runtime = await server.start_runtime(settings)
    receiver = await start_receiver(runtime, port=0)
    print(receiver.process.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_the_receiver_does_not_outlive_a_killed_server(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", KILLED_SERVER, str(tmp_path / "f.db")],
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[3])
    assert done.returncode == -signal.SIGKILL, done.stderr
    receiver = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{receiver}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{receiver}").exists()
