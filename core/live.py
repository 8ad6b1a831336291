"""Live updates: what committed transactions tell the connected browsers.

A transaction that changes something people are looking at announces it with
`announce(session, event)`; the events wait in the session and reach the runtime's hub
only once the transaction has committed (rolled back, they are forgotten). The hub fans
them out to this process's subscriptions. With Redis configured (`RedisHub`) it publishes
them on a Redis channel instead, and every process, this one included, fans out what it
receives, so any number of servers stay in step.

An event names its `inbox_id` (who may see it follows from that) or a `user_id` (a
notification for one person). Each subscription holds its own filter, applied before an
event is queued for it: nothing out of a person's scope ever reaches their socket. A
subscription that falls behind (its queue is full) is marked `lagged` and stops queueing;
its reader tells the browser to reload what it shows rather than miss updates silently.

Core knows no domain: the filter is a plain predicate given by the web room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import after_commit

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
"""Events a subscription holds for a slow reader before it is marked lagged."""


@dataclass(frozen=True)
class LiveEvent:
    """One change: `kind` (e.g. "conversation.changed"), where it happened, and a small
    JSON-able `data` (ids and a few fields, never message bodies)."""

    kind: str
    inbox_id: int | None = None
    user_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The event as one JSON text (what goes over Redis)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveEvent:
        """The event of `to_json`; ValueError for anything else."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            raise ValueError("not a live event")
        return cls(kind=raw["kind"], inbox_id=_optional_int(raw.get("inbox_id")),
                   user_id=_optional_int(raw.get("user_id")), data=dict(raw.get("data") or {}))


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("ids are integers")
    return value


Accepts = Callable[[LiveEvent], bool]


class Subscription:
    """One reader's queue of events, filtered by its own predicate."""

    def __init__(self, hub: LocalHub, accepts: Accepts, size: int = QUEUE_SIZE):
        self._hub = hub
        self.accepts = accepts
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(size)
        self.lagged = asyncio.Event()

    def offer(self, event: LiveEvent) -> None:
        """Queue `event` if the filter takes it; mark the subscription lagged when full."""
        if self.lagged.is_set() or not self.accepts(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged.set()

    async def next(self) -> LiveEvent | None:
        """The next event, or None once the subscription has lagged."""
        if self.lagged.is_set() and self.queue.empty():
            return None
        getter = asyncio.ensure_future(self.queue.get())
        lagging = asyncio.ensure_future(self.lagged.wait())
        done, _ = await asyncio.wait({getter, lagging}, return_when=asyncio.FIRST_COMPLETED)
        lagging.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        return None

    def close(self) -> None:
        """Stop receiving events."""
        self._hub.unsubscribe(self)


class LocalHub:
    """Fans events out to the subscriptions of this process."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, accepts: Accepts, size: int = QUEUE_SIZE) -> Subscription:
        """A new subscription that receives the events `accepts` takes."""
        subscription = Subscription(self, accepts, size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    @property
    def listened_to(self) -> bool:
        """Whether an event published now could reach anyone (here: a subscription of
        this process), so that publishers may skip the work of making one."""
        return bool(self._subscriptions)

    def deliver(self, events: Sequence[LiveEvent]) -> None:
        """Offer `events` to every subscription of this process."""
        for event in events:
            for subscription in list(self._subscriptions):
                subscription.offer(event)

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """Send committed events to everyone concerned (here: this process)."""
        self.deliver(events)

    async def start(self) -> None:
        """Begin receiving events from elsewhere (nothing to do in one process)."""

    async def close(self) -> None:
        self._subscriptions.clear()


class RedisHub(LocalHub):
    """Publishes events on a Redis channel; fans out what the channel carries, from every
    server process, to this process's subscriptions."""

    def __init__(self, redis_url: str, channel: str):
        super().__init__()
        from redis.asyncio import Redis

        self.channel = channel
        self._redis = Redis.from_url(redis_url)
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe to the channel (returns once subscribed, so nothing published after
        it is missed); a second call does nothing. Only a process that serves sockets
        needs to: any process may publish."""
        if self._listener is not None and not self._listener.done():
            return
        self._ready.clear()
        self._listener = asyncio.create_task(self._listen(), name="live-redis-listener")
        waiting = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({waiting, self._listener},
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._listener in done:
            waiting.cancel()
            self._listener.result()  # raises what stopped it

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    event = LiveEvent.from_json(message["data"])
                except (ValueError, TypeError):
                    log.warning("ignored a malformed live event on %s", self.channel)
                    continue
                self.deliver([event])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    @property
    def listened_to(self) -> bool:
        return True  # other processes may be listening

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        if not events:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(self.channel, event.to_json())
            await pipe.execute()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._redis.aclose()
        await super().close()


def make_hub(redis_url: str, channel: str) -> LocalHub:
    """The hub for a runtime: through Redis when `redis_url` is set, else in-process."""
    return RedisHub(redis_url, channel) if redis_url else LocalHub()


def announce(session: AsyncSession, *events: LiveEvent) -> None:
    """Send `events` to the live hub of the session's runtime once the surrounding
    transaction commits: nothing when it (or the savepoint they were announced in) rolls
    back, nor when the runtime has no hub. Announce what one operation changed together,
    so that it travels together."""
    hub: LocalHub | None = session.info.get("live")
    if hub is None or not events:
        return

    async def send() -> None:
        await hub.publish(events)

    after_commit(session, send)
