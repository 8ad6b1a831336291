"""Tables for the small pure pieces: transitions, threading, cursors, rate limits."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.pagination import decode_cursor, encode_cursor
from inbox.threading import choose_conversation, reference_ids
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


@pytest.mark.parametrize("by_key, refs, known, expected", [
    (7, ("a",), {"a": 3}, 7),
    (None, ("a", "b"), {"b": 3}, 3),
    (None, ("a", "b"), {"a": 5, "b": 3}, 5),
    (None, ("a",), {}, None),
    (None, (), {}, None),
])
def test_choose_conversation(by_key, refs, known, expected):
    assert choose_conversation(by_key, refs, known) == expected


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor("2026-01-01T00:00:00+00:00", 42)) == (
        "2026-01-01T00:00:00+00:00", 42)
    for garbage in ("", "!!!", "e30", encode_cursor("x", 1)[:-3], "WyJhIiwgImIiXQ"):
        with pytest.raises(InvalidInput):
            decode_cursor(garbage)
