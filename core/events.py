"""Domain events, dispatched inside the transaction that caused them.

A service emits `await publish(session, event)`; every subscriber runs right away on
the same session, so whatever they write commits or rolls back together with the cause.
Subscribers may publish further events. Each runtime has its own bus, reached through
the session (`session.info["bus"]`): two runtimes in one process never share events.
Effects outside the database do not belong in a subscriber: they go to the outbox.
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
        self._handlers: dict[type[DomainEvent], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]):
        """Call `handler(session, event)` for every published `event_type` (and subclasses)."""
        if handler not in self._handlers[event_type]:
            self._handlers[event_type].append(handler)

    def clear(self) -> None:
        self._handlers.clear()

    async def publish(self, session: AsyncSession, event: DomainEvent) -> None:
        """Run every subscriber of `event` on `session`, in the caller's transaction."""
        depth = session.info.get("event_depth", 0)
        if depth >= MAX_DEPTH:
            raise RuntimeError(f"domain events nested deeper than {MAX_DEPTH}: {event!r}")
        session.info["event_depth"] = depth + 1
        try:
            for event_type in type(event).__mro__:
                for handler in list(self._handlers.get(event_type, ())):
                    await handler(session, event)
        finally:
            session.info["event_depth"] = depth


async def publish(session: AsyncSession, event: DomainEvent) -> None:
    """Publish `event` on the bus of the session's runtime (`session.info["bus"]`)."""
    event_bus = session.info.get("bus")
    if event_bus is None:
        raise RuntimeError("this session has no event bus; open it from the runtime's sessions")
    await event_bus.publish(session, event)
