"""The event bus: subscribers one event at a time, or the events published together."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.events import DomainEvent, EventBus


@dataclass(frozen=True)
class Opened(DomainEvent):
    n: int


@dataclass(frozen=True)
class Closed(DomainEvent):
    n: int


class FakeSession:
    def __init__(self) -> None:
        self.info: dict = {}


async def test_each_subscriber_in_turn_sees_every_event_in_order():
    bus, seen = EventBus(), []

    async def one(session, event):
        seen.append(("one", event.n))

    async def many(session, events):
        seen.append(("many", [e.n for e in events]))

    bus.subscribe(Opened, one)
    bus.subscribe_many(Opened, many)
    await bus.publish_many(FakeSession(), [Opened(1), Opened(2)])
    await bus.publish(FakeSession(), Opened(3))
    assert seen == [("one", 1), ("one", 2), ("many", [1, 2]), ("one", 3), ("many", [3])]


async def test_events_published_together_are_of_one_type():
    bus = EventBus()
    with pytest.raises(TypeError):
        await bus.publish_many(FakeSession(), [Opened(1), Closed(1)])
    await bus.publish_many(FakeSession(), [])  # nothing to do
