"""The presence board by value (events and times in, claims out), and two servers'
boards agreeing through Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from core.live import LiveEvent, RedisHub
from tests.support import TEST_REDIS_URL
from web.live.presence import CLAIM_LIFETIME, PresenceBoard, claim_of
from web.live.socket import presence_tracker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def said(user_id: int, state: str, conversation_id: int = 5, inbox_id: int = 1) -> LiveEvent:
    return LiveEvent("presence", inbox_id=inbox_id, data={
        "conversation_id": conversation_id, "user_id": user_id, "name": f"U{user_id}",
        "state": state})


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize("heard, asked_at, present", [
    ([], 0, []),
    ([(0, said(1, "viewing"))], 1, [(1, "viewing")]),
    ([(0, said(2, "viewing")), (1, said(1, "replying"))], 2, [(1, "replying"), (2, "viewing")]),
    ([(0, said(1, "viewing")), (5, said(1, "replying"))], 6, [(1, "replying")]),
    ([(0, said(1, "viewing")), (5, said(1, "left"))], 6, []),
    ([(0, said(1, "left"))], 1, []),
    # a claim lives CLAIM_LIFETIME (40 s) unless renewed
    ([(0, said(1, "viewing"))], 39.9, [(1, "viewing")]),
    ([(0, said(1, "viewing"))], 40, []),
    ([(0, said(1, "viewing")), (30, said(1, "viewing"))], 60, [(1, "viewing")]),
    # other conversations' claims and other events are not this one's
    ([(0, said(1, "viewing", conversation_id=6))], 1, []),
    ([(0, LiveEvent("conversation", inbox_id=1, data={"conversation_id": 5}))], 1, []),
    ([(0, said(1, "shouting"))], 1, []),
])
def test_the_board_keeps_unexpired_claims(heard, asked_at, present):
    board = PresenceBoard()
    for at, event in heard:
        board.heard(event, s(at))
    assert [(c.user_id, c.state) for c in board.present(5, s(asked_at))] == present


@pytest.mark.parametrize("event", [
    LiveEvent("presence", inbox_id=None, data={"conversation_id": 5, "user_id": 1,
                                               "state": "viewing"}),
    LiveEvent("presence", inbox_id=1, data={"conversation_id": "5", "user_id": 1,
                                            "state": "viewing"}),
    LiveEvent("presence", inbox_id=1, data={"conversation_id": 5, "user_id": True,
                                            "state": "viewing"}),
    LiveEvent("presence", inbox_id=1, data={"conversation_id": 5, "user_id": 1}),
])
def test_malformed_presence_makes_no_claim(event):
    assert claim_of(event, T0) is None


def test_expired_claims_are_forgotten_when_anything_is_heard():
    board = PresenceBoard()
    board.heard(said(1, "viewing", conversation_id=7), T0)
    board.heard(said(2, "viewing"), T0 + CLAIM_LIFETIME)
    assert board.conversations == {5}


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FRONTDESK_TEST_REDIS_URL")
async def test_two_servers_boards_agree_through_redis():
    channel = f"test-presence-{uuid.uuid4().hex}"
    first, second = RedisHub(TEST_REDIS_URL, channel), RedisHub(TEST_REDIS_URL, channel)
    try:
        await first.start()
        await second.start()
        on_first, on_second = presence_tracker(first), presence_tracker(second)
        on_first.joined()
        on_second.joined()
        await first.publish([said(1, "replying")])
        async with asyncio.timeout(10):
            while not on_second.board.present(5, clock.now()):
                await asyncio.sleep(0.01)
        [claim] = on_second.board.present(5, clock.now())
        assert (claim.user_id, claim.state) == (1, "replying")
        assert [c.user_id for c in on_first.board.present(5, clock.now())] == [1]
        await second.publish([said(1, "left")])
        async with asyncio.timeout(10):
            while on_first.board.present(5, clock.now()):
                await asyncio.sleep(0.01)
    finally:
        await first.close()
        await second.close()
