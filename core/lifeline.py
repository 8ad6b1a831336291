"""Helper processes that end with the process that started them, however that one ends.

The parent keeps the sending end of a pipe (`lifeline()`) and gives the receiving end to
the child, which calls `follow(end)` first thing. Only the parent holds the sending end, so
the child sees the end of the pipe exactly when the parent is gone: a clean exit, a crash,
SIGKILL or the OOM killer. No polling.
"""

from __future__ import annotations

import os
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext


def lifeline(context: SpawnContext) -> tuple[Connection, Connection]:
    """A new pipe as (the child's end, the parent's end); the parent keeps its end open
    for as long as the child should live."""
    return context.Pipe(duplex=False)


def follow(end: Connection) -> None:
    """In a child: exit (at once, status 0) when the parent's end of the pipe closes."""

    def watch() -> None:
        try:
            end.recv()  # nothing is ever sent: this returns when the parent is gone
        except EOFError:
            pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
