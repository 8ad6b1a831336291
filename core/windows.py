"""The arithmetic of throttles: sliding windows and progressive delays. Pure: no I/O.

Time is a float of seconds (a POSIX timestamp), passed in. Counts are kept in small records
that `core.throttle` stores where every server process sees them:

- `WindowCount`: hits in a fixed bucket of `Window.seconds` and in the bucket before it.
  The hits in the sliding window that ends now are estimated as the previous bucket's,
  weighted by how much of it the window still covers, plus the current bucket's (the
  "sliding window counter" of Cloudflare and of the `limits` library): two numbers per
  key whatever the limit, and no burst of twice the limit across a bucket's edge.
- `Streak`: failures in a row (of one account from one source) and when the last one was.
  Each failure past the free ones doubles the wait before the next attempt, up to a cap;
  a streak is forgotten `forget_after` seconds after its last failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MAX_DOUBLINGS = 64
"""Past this many doublings every delay is capped anyway; keeps 2**n finite."""


@dataclass(frozen=True)
class Window:
    """At most `limit` hits in any `seconds` (as estimated by `WindowCount`)."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class WindowCount:
    """Hits in bucket number `bucket` (the instants [bucket, bucket + 1) * seconds) and in
    the bucket before it."""

    bucket: int
    current: int
    previous: int


def bucket_of(now: float, seconds: float) -> int:
    """The number of the fixed bucket of length `seconds` holding the instant `now`."""
    return math.floor(now / seconds)


def count_at(stored: WindowCount | None, now: float, window: Window) -> WindowCount:
    """`stored` as seen from `now`: moved on to now's bucket (what was current becomes the
    previous bucket, or both are empty when more than a bucket has passed)."""
    bucket = bucket_of(now, window.seconds)
    if stored is None or stored.bucket < bucket - 1:
        return WindowCount(bucket, 0, 0)
    if stored.bucket == bucket - 1:
        return WindowCount(bucket, 0, stored.current)
    if stored.bucket > bucket:  # the clock went back: start again rather than guess
        return WindowCount(bucket, 0, 0)
    return stored


def estimate(count: WindowCount, now: float, window: Window) -> float:
    """Hits in the sliding window that ends at `now` (`count` already at now's bucket)."""
    covered = 1.0 - (now - count.bucket * window.seconds) / window.seconds
    return count.previous * covered + count.current


def window_wait(count: WindowCount, now: float, window: Window) -> float:
    """Seconds from `now` until one more hit fits in `window` (0: it fits now), if no other
    hit is counted meanwhile. `count` is already at now's bucket."""
    room = window.limit - 1  # what the estimate may be before the hit
    if estimate(count, now, window) <= room:
        return 0.0
    start = count.bucket * window.seconds
    if count.current <= room:
        # Within this bucket, as the previous bucket's weight runs out.
        fraction = 1.0 - (room - count.current) / count.previous
        return max(0.0, start + fraction * window.seconds - now)
    # In the next bucket, as this bucket's hits (then the previous ones) lose weight.
    fraction = 1.0 - room / count.current
    return max(0.0, start + window.seconds + fraction * window.seconds - now)


def with_hit(count: WindowCount) -> WindowCount:
    """`count` with one more hit in its current bucket."""
    return replace(count, current=count.current + 1)


def without_hit(count: WindowCount, bucket: int) -> WindowCount:
    """`count` with one hit counted in bucket number `bucket` taken back (a login that
    was counted as a failure before it succeeded); unchanged if that bucket is gone."""
    if bucket == count.bucket:
        return replace(count, current=max(0, count.current - 1))
    if bucket == count.bucket - 1:
        return replace(count, previous=max(0, count.previous - 1))
    return count


@dataclass(frozen=True)
class Backoff:
    """`free` failures in a row cost nothing; after each further one, the next attempt
    waits `first_delay` seconds, doubled per failure, at most `max_delay`. A streak is
    forgotten `forget_after` seconds after its last failure."""

    free: int
    first_delay: float
    max_delay: float
    forget_after: float


@dataclass(frozen=True)
class Streak:
    """`failures` in a row, the last one at `last_at`."""

    failures: int
    last_at: float


def streak_at(stored: Streak | None, now: float, backoff: Backoff) -> Streak | None:
    """`stored` as seen from `now`: None once it is forgotten."""
    if stored is None or now - stored.last_at >= backoff.forget_after:
        return None
    if stored.last_at > now:  # the clock went back: start again rather than guess
        return None
    return stored


def delay_after(failures: int, backoff: Backoff) -> float:
    """How long the attempt after `failures` failures in a row must wait after the last."""
    if failures <= backoff.free:
        return 0.0
    doublings = min(failures - backoff.free - 1, MAX_DOUBLINGS)
    return float(min(backoff.first_delay * 2**doublings, backoff.max_delay))


def streak_wait(streak: Streak | None, now: float, backoff: Backoff) -> float:
    """Seconds from `now` until the next attempt may be made (0: now). `streak` is
    already as seen from now (`streak_at`)."""
    if streak is None:
        return 0.0
    return max(0.0, streak.last_at + delay_after(streak.failures, backoff) - now)


def with_failure(streak: Streak | None, now: float) -> Streak:
    """`streak` (as seen from `now`) with one more failure, at `now`."""
    return Streak(1 if streak is None else streak.failures + 1, now)


def whole_seconds(wait: float) -> int:
    """A wait as a `Retry-After`: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait))


@dataclass(frozen=True)
class Attempt:
    """The verdict on a login attempt (`attempt`): `wait` 0 when it may go ahead, with the
    records to keep (the attempt counted as a failure in both); otherwise the seconds to
    wait, and the records as they were."""

    wait: float
    streak: Streak | None
    count: WindowCount


def attempt(streak: Streak | None, count: WindowCount, now: float, backoff: Backoff,
            window: Window) -> Attempt:
    """Judge an attempt under a `backoff` (its `streak`, as seen from now) and a `window`
    (its `count`, at now's bucket). An attempt that may go ahead is counted as a failure
    at once, before anyone knows: so attempts made in parallel wait their turn as well. A
    correct one is taken back afterwards."""
    wait = max(streak_wait(streak, now, backoff), window_wait(count, now, window))
    if wait:
        return Attempt(wait, streak, count)
    return Attempt(0.0, with_failure(streak, now), with_hit(count))
