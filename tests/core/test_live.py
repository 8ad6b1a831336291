"""The live hub: events after commit only, filtered per subscription, across processes
through Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.db import savepoint, transaction
from core.live import LiveEvent, LocalHub, RedisHub, announce
from tests.support import TEST_REDIS_URL


def event(inbox_id: int | None = 1, kind: str = "conversation.changed", **data) -> LiveEvent:
    return LiveEvent(kind=kind, inbox_id=inbox_id, data=data)


@pytest.mark.parametrize("sent", [
    event(),
    LiveEvent(kind="notification", user_id=7, data={"text": "élan", "ids": [1, 2]}),
    LiveEvent(kind="x"),
])
def test_an_event_survives_its_json(sent):
    assert LiveEvent.from_json(sent.to_json()) == sent


@pytest.mark.parametrize("text", ['"x"', "[]", '{"kind": 1}', '{"kind": "a", "inbox_id": true}',
                                  '{"kind": "a", "user_id": "7"}', "not json"])
def test_anything_else_is_not_an_event(text):
    with pytest.raises(ValueError):
        LiveEvent.from_json(text)


async def test_each_subscription_gets_only_what_its_filter_takes():
    hub = LocalHub()
    support = hub.subscribe(lambda e: e.inbox_id == 1)
    sales = hub.subscribe(lambda e: e.inbox_id == 2)
    await hub.publish([event(1, n=1), event(2, n=2), event(1, n=3)])
    assert [(await support.next()).data["n"] for _ in range(2)] == [1, 3]
    assert (await sales.next()).data["n"] == 2
    assert support.queue.empty() and sales.queue.empty()
    sales.close()
    await hub.publish([event(2)])
    assert hub.subscribers == 1 and sales.queue.empty()


async def test_a_reader_that_falls_behind_is_told_so_instead_of_missing_events_silently():
    hub = LocalHub()
    slow = hub.subscribe(lambda e: True, size=2)
    await hub.publish([event(n=n) for n in range(5)])
    assert slow.lagged.is_set()
    assert [(await slow.next()).data["n"] for _ in range(2)] == [0, 1]
    assert await slow.next() is None


async def test_a_waiting_reader_wakes_for_an_event_or_for_lagging():
    hub = LocalHub()
    reader = hub.subscribe(lambda e: True, size=1)
    waiting = asyncio.create_task(reader.next())
    await asyncio.sleep(0)
    await hub.publish([event(n=1)])
    assert (await waiting).data["n"] == 1
    waiting = asyncio.create_task(reader.next())
    await asyncio.sleep(0)
    await hub.publish([event(n=2), event(n=3)])
    assert (await waiting).data["n"] == 2
    assert await reader.next() is None


async def test_events_reach_the_hub_after_commit_and_never_after_a_rollback(runtime):
    hub = LocalHub()
    runtime.sessions.kw["info"]["live"] = hub
    seen = hub.subscribe(lambda e: True)
    async with transaction(runtime.sessions) as session:
        announce(session, event(n=1), event(n=2))
        assert seen.queue.empty()  # not before the commit
    assert [(await seen.next()).data["n"] for _ in range(2)] == [1, 2]
    with pytest.raises(RuntimeError):
        async with transaction(runtime.sessions) as session:
            announce(session, event(n=3))
            raise RuntimeError("the work failed")
    async with transaction(runtime.sessions) as session:
        with pytest.raises(RuntimeError):
            async with savepoint(session):
                announce(session, event(n=4))
                raise RuntimeError("this part failed")
        announce(session, event(n=5))
    assert (await seen.next()).data["n"] == 5
    assert seen.queue.empty()


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis: set FRONTDESK_TEST_REDIS_URL")
async def test_two_servers_share_events_through_redis():
    channel = f"frontdesk-test:live:{uuid.uuid4().hex}"
    first, second = RedisHub(TEST_REDIS_URL, channel), RedisHub(TEST_REDIS_URL, channel)
    await first.start()
    await second.start()
    try:
        on_first = first.subscribe(lambda e: e.inbox_id == 1)
        on_second = second.subscribe(lambda e: e.inbox_id == 1)
        elsewhere = second.subscribe(lambda e: e.inbox_id == 2)
        await first.publish([event(1, n=1), event(2, n=2)])
        async with asyncio.timeout(10):
            assert (await on_first.next()).data["n"] == 1
            assert (await on_second.next()).data["n"] == 1
            assert (await elsewhere.next()).data["n"] == 2
    finally:
        await first.close()
        await second.close()
