"""Parsing beside the event loop: in a worker process, or a thread when it died."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from connectors.email import parsers
from connectors.email.parse import EmailParseError, ParsedEmail
from core.limits import Limits

MAIL = (b"From: Anna Berg <anna@example.org>\r\nTo: help@example.com\r\n"
        b"Subject: Printer on fire\r\nMessage-ID: <p1@example.org>\r\n\r\nIt smokes.\r\n")


async def test_each_item_is_parsed_or_its_error_given():
    first, second = await parsers.parse_batch(
        [("support", MAIL), ("support", b"\r\n\r\nno headers at all")], Limits())
    assert isinstance(first, ParsedEmail) and first.message.subject == "Printer on fire"
    assert isinstance(second, EmailParseError)


async def test_a_batch_split_between_workers_comes_back_in_order():
    items = [("support", MAIL.replace(b"Printer on fire", f"Mail {n}".encode()))
             if n % 3 else ("support", b"\r\n\r\nno headers at all") for n in range(7)]
    results = await parsers.parse_batch(items, Limits())
    assert [r.message.subject if isinstance(r, ParsedEmail) else None for r in results] == [
        None if n % 3 == 0 else f"Mail {n}" for n in range(7)]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: parsing runs in a thread")
async def test_a_dead_worker_is_replaced_and_the_batch_still_parsed(caplog):
    await parsers.parse_batch([("support", MAIL)], Limits())  # the worker is up
    pool = parsers._pool()
    assert pool is not None
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="connectors.email.parsers"):
        [parsed] = await parsers.parse_batch([("support", MAIL)], Limits())
    assert isinstance(parsed, ParsedEmail)
    assert "the mail parser process died" in caplog.text
    [again] = await parsers.parse_batch([("support", MAIL)], Limits())
    assert isinstance(again, ParsedEmail) and parsers._pool() is not pool


def started_workers(pool: ProcessPoolExecutor) -> set[int]:
    """The pids of workers that have run their start: each answers a task only after it."""
    futures = [pool.submit(os.getpid) for _ in range(8 * parsers.PARSER_PROCESSES)]
    return {future.result(timeout=30) for future in futures}


async def test_workers_parse_at_the_lowest_priority():
    """They use what the cores have to spare: the SMTP receiver and the server come first."""
    await parsers.parse_batch([("support", MAIL)] * 2, Limits())
    pool = parsers._pool()
    assert pool is not None
    for pid in started_workers(pool):
        assert os.getpriority(os.PRIO_PROCESS, pid) == parsers.WORKER_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, 0) < parsers.WORKER_NICENESS  # not the server


async def test_a_ctrl_c_is_left_to_the_server():
    """SIGINT (a Ctrl-C reaches the whole process group) does not end a worker."""
    await parsers.parse_batch([("support", MAIL)] * 2, Limits())
    pool = parsers._pool()
    assert pool is not None
    workers = started_workers(pool)
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    # Had one ended, the pool would be broken, and the next batch parsed by a new one.
    [parsed] = await parsers.parse_batch([("support", MAIL)], Limits())
    assert isinstance(parsed, ParsedEmail) and parsers._pool() is pool
    assert started_workers(pool) <= workers


KILLED_PARENT = """
import asyncio, os, signal
from connectors.email import parsers
from core.limits import Limits

async def main():
    await parsers.parse_batch([("support", b"From: a@example.org\\r\\n\\r\\nhi")], Limits())
    print(*parsers._pool()._processes, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: parsing runs in a thread")
def test_the_worker_does_not_outlive_a_killed_server():
    done = subprocess.run([sys.executable, "-c", KILLED_PARENT], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parents[3])
    assert done.returncode == -signal.SIGKILL, done.stderr
    workers = [int(pid) for pid in done.stdout.split()]
    assert workers
    # The run ends once the workers let go of the output they shared; they are gone then.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and (
            time.monotonic() < deadline):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
