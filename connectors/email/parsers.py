"""Where raw mail is parsed: beside the event loop, never on it.

`parse_batch(items, limits)` parses (inbox, raw bytes) pairs and gives, for each, its
`ParsedEmail` or its `EmailParseError`. Parsing is pure Python, so a thread would share the
interpreter with the server; when the machine has a core to spare it runs in a worker
process instead (spawned, and gone within PARENT_CHECK_SECONDS of this process, however
this one ends). A worker that dies (a message that exhausts its memory, say) is replaced,
and that batch is parsed in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from connectors.email.parse import EmailParseError, ParsedEmail, ParseLimits, parse_email

log = logging.getLogger(__name__)

Parsed = ParsedEmail | EmailParseError

_workers: ProcessPoolExecutor | None = None
PARENT_CHECK_SECONDS = 1.0


def parse_each(items: Sequence[tuple[str, bytes]], limits: ParseLimits) -> list[Parsed]:
    """Parse each (inbox, raw) pair; what cannot be read comes back as its error."""
    results: list[Parsed] = []
    for inbox, raw in items:
        try:
            results.append(parse_email(raw, inbox=inbox, limits=limits))
        except EmailParseError as exc:
            results.append(exc)
    return results


def _follow(parent: int) -> None:
    """Worker initializer: end this worker once `parent` is gone. A worker holds both ends
    of its task pipe, so it would never see the parent close it; a parent that was killed
    (SIGKILL, the OOM killer) would leave it behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _pool() -> ProcessPoolExecutor | None:
    global _workers
    if _workers is None and (os.cpu_count() or 1) > 1:
        _workers = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_follow, initargs=(os.getpid(),))
    return _workers


def _discard_pool() -> None:
    global _workers
    if _workers is not None:
        _workers.shutdown(wait=False, cancel_futures=True)
    _workers = None


async def parse_batch(items: Sequence[tuple[str, bytes]], limits: ParseLimits) -> list[Parsed]:
    """`parse_each` in the worker process (or a thread), without blocking the loop."""
    pool = _pool()
    if pool is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, parse_each, list(items), limits)
        except BrokenProcessPool:
            log.warning("the mail parser process died; parsing %d messages in a thread",
                        len(items))
            _discard_pool()
    return await asyncio.to_thread(parse_each, list(items), limits)
