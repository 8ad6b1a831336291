"""The arithmetic of throttles (core.windows), as tables of values."""

from __future__ import annotations

import pytest

from core.windows import (
    Attempt,
    Backoff,
    Streak,
    Window,
    WindowCount,
    attempt,
    bucket_of,
    count_at,
    delay_after,
    estimate,
    streak_at,
    streak_wait,
    whole_seconds,
    window_wait,
    with_failure,
    with_hit,
    without_hit,
)

MINUTE = Window(limit=10, seconds=60)
BACKOFF = Backoff(free=3, first_delay=2, max_delay=900, forget_after=86400)


@pytest.mark.parametrize("now, seconds, bucket", [
    (0, 60, 0), (59.999, 60, 0), (60, 60, 1), (125, 60, 2), (1_700_000_000, 900, 1_888_888),
])
def test_bucket_of(now, seconds, bucket):
    assert bucket_of(now, seconds) == bucket


@pytest.mark.parametrize("stored, now, expected", [
    (None, 30, WindowCount(0, 0, 0)),
    (WindowCount(0, 4, 2), 30, WindowCount(0, 4, 2)),       # same bucket: as it is
    (WindowCount(0, 4, 2), 90, WindowCount(1, 0, 4)),       # next: current becomes previous
    (WindowCount(0, 4, 2), 150, WindowCount(2, 0, 0)),      # later: nothing left
    (WindowCount(5, 4, 2), 30, WindowCount(0, 0, 0)),       # clock went back
])
def test_count_at_moves_on_to_nows_bucket(stored, now, expected):
    assert count_at(stored, now, MINUTE) == expected


@pytest.mark.parametrize("count, now, expected", [
    (WindowCount(1, 3, 12), 60, 15.0),     # the whole previous bucket still covered
    (WindowCount(1, 3, 12), 75, 12.0),     # three quarters of it
    (WindowCount(1, 3, 12), 90, 9.0),
    (WindowCount(1, 3, 0), 119, 3.0),
])
def test_estimate_weights_the_previous_bucket(count, now, expected):
    assert estimate(count, now, MINUTE) == expected


@pytest.mark.parametrize("count, now, window, wait", [
    (WindowCount(0, 5, 0), 30, MINUTE, 0),
    (WindowCount(0, 9, 0), 30, MINUTE, 0),          # the tenth hit fits
    # Ten in this bucket: wait into the next, until 9/10 of them have lost their weight.
    (WindowCount(0, 10, 0), 30, MINUTE, 36),
    # Three here, twelve before: wait until the estimate is 9 (half the previous bucket).
    (WindowCount(1, 3, 12), 75, MINUTE, 15),
    (WindowCount(1, 3, 12), 90, MINUTE, 0),
    # A limit of one: the hit must leave the window entirely (two buckets on).
    (WindowCount(0, 1, 0), 0, Window(1, 60), 120),
    (WindowCount(0, 1, 0), 90, Window(1, 60), 30),
])
def test_window_wait(count, now, window, wait):
    assert window_wait(count, now, window) == wait


def test_the_wait_is_exactly_when_one_more_hit_fits():
    count = WindowCount(1, 3, 12)
    wait = window_wait(count, 75, MINUTE)
    assert estimate(count, 75 + wait, MINUTE) == MINUTE.limit - 1
    assert window_wait(count, 75 + wait, MINUTE) == 0


@pytest.mark.parametrize("count, bucket, expected", [
    (WindowCount(3, 2, 5), 3, WindowCount(3, 1, 5)),
    (WindowCount(3, 2, 5), 2, WindowCount(3, 2, 4)),
    (WindowCount(3, 2, 5), 1, WindowCount(3, 2, 5)),   # gone already
    (WindowCount(3, 0, 5), 3, WindowCount(3, 0, 5)),   # never below nothing
])
def test_without_hit(count, bucket, expected):
    assert without_hit(count, bucket) == expected


def test_with_hit():
    assert with_hit(WindowCount(7, 2, 5)) == WindowCount(7, 3, 5)


@pytest.mark.parametrize("failures, delay", [
    (0, 0), (1, 0), (3, 0), (4, 2), (5, 4), (6, 8), (12, 512), (13, 900), (10_000, 900),
])
def test_each_failure_past_the_free_ones_doubles_the_delay_up_to_the_cap(failures, delay):
    assert delay_after(failures, BACKOFF) == delay


@pytest.mark.parametrize("stored, now, expected", [
    (None, 100, None),
    (Streak(4, 100), 150, Streak(4, 100)),
    (Streak(4, 100), 100 + 86399, Streak(4, 100)),
    (Streak(4, 100), 100 + 86400, None),      # forgotten a day after the last failure
    (Streak(4, 100), 50, None),               # clock went back
])
def test_streak_at(stored, now, expected):
    assert streak_at(stored, now, BACKOFF) == expected


@pytest.mark.parametrize("streak, now, wait", [
    (None, 0, 0),
    (Streak(3, 100), 100, 0),
    (Streak(4, 100), 100, 2),
    (Streak(4, 100), 101.5, 0.5),
    (Streak(6, 100), 100, 8),
    (Streak(6, 100), 200, 0),
])
def test_streak_wait(streak, now, wait):
    assert streak_wait(streak, now, BACKOFF) == wait


def test_with_failure():
    assert with_failure(None, 5) == Streak(1, 5)
    assert with_failure(Streak(4, 1), 5) == Streak(5, 5)


@pytest.mark.parametrize("wait, seconds", [(0.001, 1), (1.0, 1), (1.2, 2), (36.0, 36)])
def test_whole_seconds(wait, seconds):
    assert whole_seconds(wait) == seconds


SOURCE = Window(limit=5, seconds=900)


@pytest.mark.parametrize("streak, count, now, expected", [
    # Goes ahead, counted as a failure in both at once.
    (None, WindowCount(0, 0, 0), 10, Attempt(0, Streak(1, 10), WindowCount(0, 1, 0))),
    (Streak(3, 5), WindowCount(0, 3, 0), 10, Attempt(0, Streak(4, 10), WindowCount(0, 4, 0))),
    # The account must wait at this source: nothing changes.
    (Streak(4, 9), WindowCount(0, 4, 0), 10, Attempt(1, Streak(4, 9), WindowCount(0, 4, 0))),
    # The source is full, whatever the account: until its five failures weigh as four.
    (None, WindowCount(0, 5, 0), 10, Attempt(1070, None, WindowCount(0, 5, 0))),
])
def test_attempt(streak, count, now, expected):
    assert attempt(streak, count, now, BACKOFF, SOURCE) == expected
