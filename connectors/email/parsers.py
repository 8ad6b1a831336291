"""Where raw mail is parsed: beside the event loop, never on it.

`parse_batch(items, limits)` parses (inbox, raw bytes) pairs and gives, for each, its
`ParsedEmail` or its `EmailParseError`. Parsing is pure Python, so a thread would share the
interpreter with the server; when the machine has a core to spare it runs in worker
processes instead (spawned, and gone as soon as this process is, however this one ends),
each batch split between them, at the lowest priority. A worker that dies (a message that
exhausts its memory, say) is replaced, and that batch is parsed in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection

from connectors.email.parse import EmailParseError, ParsedEmail, parse_email
from core.lifeline import follow, lifeline
from core.limits import Limits

log = logging.getLogger(__name__)

Parsed = ParsedEmail | EmailParseError

_workers: ProcessPoolExecutor | None = None
_lifeline: Connection | None = None
"""The sending end of the pipe the workers listen on: only this process holds it, so it
closes (and they see the end of the pipe) exactly when this process ends."""


def parse_each(items: Sequence[tuple[str, bytes]], limits: Limits) -> list[Parsed]:
    """Parse each (inbox, raw) pair; what cannot be read comes back as its error."""
    results: list[Parsed] = []
    for inbox, raw in items:
        try:
            results.append(parse_email(raw, inbox=inbox, limits=limits))
        except EmailParseError as exc:
            results.append(exc)
    return results


PARSER_PROCESSES = 2
"""Worker processes on a machine with more than one core; a batch is split between them."""
WORKER_NICENESS = 19
"""How much the workers lower their priority (19, the lowest)."""


def _worker_count() -> int:
    return PARSER_PROCESSES if (os.cpu_count() or 1) > 1 else 0


def _pool() -> ProcessPoolExecutor | None:
    global _workers, _lifeline
    if _workers is None and _worker_count():
        context = multiprocessing.get_context("spawn")
        listening, _lifeline = lifeline(context)
        _workers = ProcessPoolExecutor(max_workers=_worker_count(), mp_context=context,
                                       initializer=_start_worker, initargs=(listening,))
    return _workers


def _start_worker(listening: Connection) -> None:
    """In a new worker: end with the server (not with a Ctrl-C, which reaches the whole
    process group: the server ends the workers itself), and parse only with what the
    machine's cores have to spare (the lowest priority): parsing runs ahead of ingest, and
    a sender waiting for its `250` comes first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    follow(listening)
    os.nice(WORKER_NICENESS)


def _discard_pool() -> None:
    global _workers
    if _workers is not None:
        _workers.shutdown(wait=False, cancel_futures=True)
    _workers = None


async def parse_batch(items: Sequence[tuple[str, bytes]], limits: Limits) -> list[Parsed]:
    """`parse_each` in the worker processes (or a thread), without blocking the loop; the
    results in the order of `items`."""
    pool = _pool()
    if pool is not None:
        loop = asyncio.get_running_loop()
        count = _worker_count()
        shares = [list(items[start::count]) for start in range(count)]
        try:
            parts = await asyncio.gather(*(loop.run_in_executor(pool, parse_each, share, limits)
                                           for share in shares if share))
            results: list[Parsed] = [None] * len(items)  # type: ignore[list-item]
            for start, part in enumerate(parts):
                results[start::count] = part
            return results
        except BrokenProcessPool:
            log.warning("the mail parser process died; parsing %d messages in a thread",
                        len(items))
            _discard_pool()
    return await asyncio.to_thread(parse_each, list(items), limits)
