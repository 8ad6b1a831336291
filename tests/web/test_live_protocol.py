"""The live socket's protocol, by value: frames in, actions out."""

from __future__ import annotations

import json

import pytest

from core.live import LiveEvent
from web.live.protocol import (
    CLOSE_BINARY,
    CLOSE_INVALID,
    CLOSE_LOGGED_OUT,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    MAX_FRAME_CHARS,
    Announce,
    Close,
    LiveProtocol,
    Send,
    Tell,
)

ME = 7


def frames(*values) -> list[str]:
    return [json.dumps(v) for v in values]


@pytest.mark.parametrize("sent, expected", [
    (frames({"type": "ping"}), [Send({"type": "pong"})]),
    (frames({"type": "viewing", "conversation_id": 3}), [Announce(3, "viewing"), Tell(3)]),
    (frames({"type": "viewing", "conversation_id": 3}, {"type": "replying", "conversation_id": 3}),
     [Announce(3, "viewing"), Tell(3), Announce(3, "replying")]),
    (frames({"type": "replying", "conversation_id": 3}, {"type": "replying", "conversation_id": 3}),
     [Announce(3, "replying"), Tell(3), Announce(3, "replying")]),
    (frames({"type": "viewing", "conversation_id": 3}, {"type": "viewing", "conversation_id": 4}),
     [Announce(3, "viewing"), Tell(3), Announce(3, "left"), Announce(4, "viewing"), Tell(4)]),
    (frames({"type": "viewing", "conversation_id": 3}, {"type": "left"}),
     [Announce(3, "viewing"), Tell(3), Announce(3, "left")]),
    (frames({"type": "viewing", "conversation_id": 3}, {"type": "left"},
            {"type": "viewing", "conversation_id": 3}),
     [Announce(3, "viewing"), Tell(3), Announce(3, "left"), Announce(3, "viewing"), Tell(3)]),
    (frames({"type": "left"}), []),
    (frames({"type": "ping", "extra": [1, 2]}), [Send({"type": "pong"})]),
])
def test_frames_the_protocol_knows(sent, expected):
    protocol = LiveProtocol(ME)
    assert protocol.start() == [Send({"type": "hello", "user_id": ME})]
    actions = [action for frame in sent for action in protocol.received(frame)]
    assert actions == expected


@pytest.mark.parametrize("frame, code", [
    (b'{"type": "ping"}', CLOSE_BINARY),
    ("not json", CLOSE_INVALID),
    ("[1, 2]", CLOSE_INVALID),
    ('"ping"', CLOSE_INVALID),
    ("{}", CLOSE_POLICY),
    ('{"type": "shout"}', CLOSE_POLICY),
    ('{"type": "viewing"}', CLOSE_POLICY),
    ('{"type": "viewing", "conversation_id": "3"}', CLOSE_POLICY),
    ('{"type": "viewing", "conversation_id": true}', CLOSE_POLICY),
    ('{"type": "viewing", "conversation_id": 0}', CLOSE_POLICY),
    ('{"type": "viewing", "conversation_id": 2147483648}', CLOSE_POLICY),
    ('{"type": "viewing", "conversation_id": 1.5}', CLOSE_POLICY),
    ("x" * (MAX_FRAME_CHARS + 1), CLOSE_TOO_BIG),
])
def test_a_bad_frame_closes_with_a_code_that_says_why(frame, code):
    protocol = LiveProtocol(ME)
    [close] = protocol.received(frame)
    assert isinstance(close, Close) and close.code == code
    assert protocol.received('{"type": "ping"}') == []  # nothing after the close


def test_a_bad_frame_while_watching_also_says_the_user_left():
    protocol = LiveProtocol(ME)
    protocol.received('{"type": "replying", "conversation_id": 5}')
    assert protocol.received("garbage") == [Announce(5, "left"),
                                            Close(CLOSE_INVALID, "frames are JSON objects")]


def test_events_become_frames_but_not_ones_own_presence():
    protocol = LiveProtocol(ME)
    change = LiveEvent("conversation", inbox_id=1, data={"conversation_id": 3, "change": "status"})
    assert protocol.event(change) == [Send({"type": "conversation", "conversation_id": 3,
                                            "change": "status"})]
    mine = LiveEvent("presence", inbox_id=1, data={"conversation_id": 3, "user_id": ME,
                                                   "state": "viewing"})
    theirs = LiveEvent("presence", inbox_id=1, data={"conversation_id": 3, "user_id": 8,
                                                     "state": "viewing"})
    assert protocol.event(mine) == []
    assert protocol.event(theirs) == [Send({"type": "presence", "conversation_id": 3,
                                            "user_id": 8, "state": "viewing"})]


def test_ending_a_socket_tells_where_the_user_was():
    protocol = LiveProtocol(ME)
    protocol.received('{"type": "viewing", "conversation_id": 9}')
    assert protocol.ended() == [Announce(9, "left")]
    assert protocol.ended() == []


def test_falling_behind_and_logging_out():
    behind = LiveProtocol(ME)
    behind.received('{"type": "viewing", "conversation_id": 9}')
    assert behind.fell_behind() == [Send({"type": "reload"}), Announce(9, "left"),
                                    Close(CLOSE_TRY_AGAIN, "fell behind")]
    out = LiveProtocol(ME)
    assert out.logged_out() == [Close(CLOSE_LOGGED_OUT, "log in again")]
    assert out.event(LiveEvent("conversation", inbox_id=1)) == []


def frame_of(conversation_id: int, user_id: int) -> dict:
    return {"type": "presence", "conversation_id": conversation_id, "user_id": user_id,
            "name": "X", "state": "viewing"}


@pytest.mark.parametrize("watching, told, sent", [
    (3, [frame_of(3, 8), frame_of(3, ME), frame_of(3, 9)], [frame_of(3, 8), frame_of(3, 9)]),
    (3, [frame_of(4, 8)], []),  # moved on meanwhile: not this conversation's
    (None, [frame_of(3, 8)], []),
    (3, [], []),
])
def test_who_is_there_is_told_for_the_conversation_watched_without_oneself(watching, told,
                                                                           sent):
    protocol = LiveProtocol(ME)
    if watching is not None:
        protocol.received(json.dumps({"type": "viewing", "conversation_id": watching}))
    assert protocol.present(told) == [Send(frame) for frame in sent]
