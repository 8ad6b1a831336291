"""Domain events, dispatched inside the transaction that caused them.

A service emits `await publish(session, event)`; every subscriber runs right away on
the same session, so whatever they write commits or rolls back together with the cause.
Subscribers may publish further events. Each runtime has its own bus, reached through
the session (`session.info["bus"]`): two runtimes in one process never share events.
Effects outside the database do not belong in a subscriber: they go to the outbox.

A service that did the same thing many times (ingest opening a batch of conversations)
publishes the events together with `publish_many`. A subscriber registered with
`subscribe_many` then gets them in one call, to do its part for all of them at once; one
registered with `subscribe` gets them one by one, as always. Either way every subscriber
sees every event, subscribers run in the order they subscribed, and events in the order
given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession


class DomainEvent:
    """Base class of every domain event (subclasses are frozen dataclasses)."""


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, Any], Awaitable[None]]

MAX_DEPTH = 16


class EventBus:
    """Maps event types to subscribers; publishing runs them in subscription order."""

    def __init__(self) -> None:
        # Each subscriber with whether it takes a list of events (`subscribe_many`).
        self._handlers: dict[type[DomainEvent], list[tuple[Handler, bool]]] = defaultdict(list)

    def subscribe(self, event_type: type[E],
                  handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
        """Call `handler(session, event)` for every published `event_type` (and subclasses)."""
        if (handler, False) not in self._handlers[event_type]:
            self._handlers[event_type].append((handler, False))

    def subscribe_many(self, event_type: type[E],
                       handler: Callable[[AsyncSession, list[E]], Awaitable[None]]) -> None:
        """Like `subscribe`, but `handler(session, events)` gets the events published
        together in one list (a list of one for a lone `publish`)."""
        if (handler, True) not in self._handlers[event_type]:
            self._handlers[event_type].append((handler, True))

    def clear(self) -> None:
        self._handlers.clear()

    async def publish(self, session: AsyncSession, event: DomainEvent) -> None:
        """Run every subscriber of `event` on `session`, in the caller's transaction."""
        await self.publish_many(session, [event])

    async def publish_many(self, session: AsyncSession, events: list[DomainEvent]) -> None:
        """Publish events of one type together: each subscriber in turn, for all of them."""
        if not events:
            return
        kind = type(events[0])
        if any(type(event) is not kind for event in events):
            raise TypeError("publish_many takes events of one type")
        depth = session.info.get("event_depth", 0)
        if depth >= MAX_DEPTH:
            raise RuntimeError(f"domain events nested deeper than {MAX_DEPTH}: {events[0]!r}")
        session.info["event_depth"] = depth + 1
        try:
            for event_type in kind.__mro__:
                for handler, takes_list in list(self._handlers.get(event_type, ())):
                    if takes_list:
                        await handler(session, list(events))
                        continue
                    for event in events:
                        await handler(session, event)
        finally:
            session.info["event_depth"] = depth


async def publish(session: AsyncSession, event: DomainEvent) -> None:
    """Publish `event` on the bus of the session's runtime (`session.info["bus"]`)."""
    event_bus = session.info.get("bus")
    if event_bus is None:
        raise RuntimeError("this session has no event bus; open it from the runtime's sessions")
    await event_bus.publish(session, event)


async def publish_many(session: AsyncSession, events: list[DomainEvent]) -> None:
    """Publish events of one type together on the session's bus (see `EventBus`)."""
    event_bus = session.info.get("bus")
    if event_bus is None:
        raise RuntimeError("this session has no event bus; open it from the runtime's sessions")
    await event_bus.publish_many(session, events)
