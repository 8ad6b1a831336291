"""The one place in Frontdesk that reads the wall clock.

Logic takes time as an argument; edges call `now()`. Tests replace the source with
`use(...)` and move time by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

EARLIEST_YEAR, LATEST_YEAR = 1900, 8999
"""The years of the instants Frontdesk takes from outside (query parameters, cursors): far
enough from 1 and 9999 that moving one across time zones or adding a year never
overflows."""


def in_supported_range(instant: datetime) -> bool:
    """Whether `instant` is aware and its (local) year lies in the supported years."""
    return instant.utcoffset() is not None and EARLIEST_YEAR <= instant.year <= LATEST_YEAR


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def now() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return _source()


class ManualClock:
    """A clock that only moves when told to; for tests and replays."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self.current = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    def set(self, instant: datetime) -> None:
        self.current = instant.astimezone(UTC)


@contextmanager
def use(source: Callable[[], datetime]) -> Iterator[None]:
    """Make `now()` answer from `source` inside the block."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
