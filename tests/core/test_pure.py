"""Tables for the small pure pieces: transitions, threading, cursors, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from core.errors import InvalidInput
from core.pagination import decode_cursor, encode_cursor
from core.ratelimit import SlidingWindowLimiter
from inbox.threading import reference_ids
from tickets.state import Transition, classify, reopen_status

PIPELINE = {"new": False, "waiting_on_contact": False, "waiting_on_us": False, "closed": True,
            "resolved": True}


@pytest.mark.parametrize("old, new, expected", [
    ("new", "new", Transition.NONE),
    ("new", "waiting_on_us", Transition.MOVE),
    ("new", "closed", Transition.CLOSE),
    ("waiting_on_contact", "closed", Transition.CLOSE),
    ("closed", "waiting_on_us", Transition.REOPEN),
    ("closed", "new", Transition.REOPEN),
    ("closed", "resolved", Transition.MOVE),
])
def test_transitions(old, new, expected):
    assert classify(PIPELINE, old, new) is expected


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown status 'done'"):
        classify(PIPELINE, "new", "done")


@pytest.mark.parametrize("ordered, expected", [
    ([("new", False), ("waiting_on_us", False), ("closed", True)], "waiting_on_us"),
    ([("open", False), ("pending", False), ("done", True)], "open"),
])
def test_reopen_status(ordered, expected):
    assert reopen_status(ordered) == expected


@pytest.mark.parametrize("in_reply_to, references, expected", [
    (None, [], ()),
    ("a", [], ("a",)),
    ("c", ["a", "b", "c"], ("c", "b", "a")),
    (None, ["a", " ", "b"], ("b", "a")),
])
def test_reference_order(in_reply_to, references, expected):
    assert reference_ids(in_reply_to, references) == expected


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor("2026-01-01T00:00:00+00:00", 42)) == (
        "2026-01-01T00:00:00+00:00", 42)
    for garbage in ("", "!!!", "e30", encode_cursor("x", 1)[:-3], "WyJhIiwgImIiXQ"):
        with pytest.raises(InvalidInput):
            decode_cursor(garbage)


def test_sliding_window_limiter_with_manual_clock():
    manual = clock.ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    with clock.use(manual):
        limiter = SlidingWindowLimiter(limit=2, window_seconds=60)
        limiter.hit("ip")
        limiter.hit("ip")
        assert limiter.blocked_for("ip") == 61
        manual.advance(timedelta(seconds=30))
        assert limiter.blocked_for("ip") == 31
        manual.advance(timedelta(seconds=31))
        assert limiter.blocked_for("ip") == 0
        assert limiter.blocked_for("other") == 0
