"""Tables for the small pure pieces: transitions, threading, cursors, rate limits."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from core.errors import InvalidInput
from core.pagination import cursor_instant, cursor_rank, decode_cursor, encode_cursor
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


def _raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    encode_cursor("2026-01-01T00:00:00+00:00", 0), encode_cursor("2026-01-01T00:00:00+00:00",
                                                                 2**31),
    encode_cursor("x", 2**70), encode_cursor("x", -5), encode_cursor("x", True),
    _raw_cursor("[" * 100_000), _raw_cursor('["x", 1e400]'),
])
def test_made_up_cursors_are_refused(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


@pytest.mark.parametrize("value, accepted", [
    ("2026-01-01T00:00:00+00:00", True), ("1900-01-01T00:00:00+14:00", True),
    ("8999-12-31T23:59:59-12:00", True), ("2026-01-01T00:00:00", False),
    ("0001-01-01T00:00:00+14:00", False), ("9999-12-31T23:59:59-14:00", False),
    ("yesterday", False), (None, False), (5, False),
])
def test_cursor_instants_are_aware_and_in_range(value, accepted):
    if accepted:
        assert cursor_instant(value) == datetime.fromisoformat(value)
    else:
        with pytest.raises(InvalidInput):
            cursor_instant(value)


@pytest.mark.parametrize("value, accepted", [(-1, True), (0, True), (3, True), (4, False),
                                             (2**80, False), (True, False), ("1", False),
                                             (None, False)])
def test_cursor_ranks_are_one_of_the_ranks(value, accepted):
    if accepted:
        assert cursor_rank(value, range(-1, 4)) == value
    else:
        with pytest.raises(InvalidInput):
            cursor_rank(value, range(-1, 4))

