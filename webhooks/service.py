"""Webhooks: the one writer of subscriptions and deliveries, and the rules that make them.

`WebhookRules` subscribes to the domain events, in the transaction that caused them: for
each event an active subscription names, a delivery row (its payload fixed then) and an
outbox item (`KIND`) are written with the cause, so a delivery exists exactly when its
cause committed, and is sent after commit by `webhooks.delivery`.

    conversation.created  ConversationOpened (not in spam)
    message.received      MessageAdded, inbound (not in spam)
    message.sent          MessageAdded, outbound: a reply or an automatic answer written
                          (it leaves through its channel's outbox afterwards)
    ticket.changed        TicketChanged
    sla.due_soon          SlaDueSoon
    sla.breached          SlaBreached

Every payload is `{"id", "type", "created_at", "data"}`; `id` names the event (the same for
every subscription and in a replay).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import record_change
from core import clock, outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventBus
from inbox.events import ConversationOpened, MessageAdded
from inbox.models import Contact, Conversation, Inbox, Message
from sla.events import SlaBreached, SlaDueSoon
from tickets.events import TicketChanged
from webhooks import rules
from webhooks.models import Delivery, Subscription

KIND = "webhook"
"""The outbox kind of a delivery (`webhooks.delivery` performs it)."""

SECRET_PREFIX = "whsec_"


def audit_view(row: Subscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription (never its secret)."""
    return {"url": row.url, "events": list(row.events), "active": row.active}


async def audit(session: AsyncSession, actor: User, action: str, row: Subscription,
                summary: str, *, before: dict[str, Any] | None = None,
                after: dict[str, Any] | None = None) -> None:
    """Record an admin's change of the subscription `row` in the audit log (subject
    "webhook"), in the caller's transaction."""
    await record_change(session, actor=actor, action=action, subject_type="webhook",
                        subject_id=row.id, summary=summary, before=before, after=after)


def new_secret() -> str:
    """A fresh signing secret (shown once; 48 hex digits of randomness)."""
    return SECRET_PREFIX + secrets.token_hex(24)


# ----------------------------------------------------------------------------- subscriptions


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (422 naming `url`) a target that is not http(s), or an address literal
    inside the network unless `allow_private`. Host names are checked at each delivery."""
    problem = rules.url_problem(url)
    if problem is None:
        host = rules.literal_address(urlsplit(url).hostname or "")
        if host is not None:
            problem = rules.target_refused([host], allow_private=allow_private)
    if problem is not None:
        raise InvalidInput(f"url {problem}", field="url")


def check_events(events: Sequence[str]) -> list[str]:
    """The events, each once and in `rules.EVENTS` order; 422 naming `events` when one is
    unknown or none is given."""
    unknown = sorted(set(events) - set(rules.EVENTS))
    if unknown:
        raise InvalidInput(f"unknown events: {', '.join(unknown)}; known: "
                           f"{', '.join(rules.EVENTS)}", field="events")
    if not events:
        raise InvalidInput("name at least one event", field="events")
    return [event for event in rules.EVENTS if event in events]


async def create_subscription(session: AsyncSession, *, url: str, events: Sequence[str],
                              created_by_id: int | None, allow_private: bool,
                              active: bool = True) -> Subscription:
    """A new subscription of `url` to `events`, with a new secret (the caller shows it once)."""
    check_url(url, allow_private=allow_private)
    now = clock.now()
    row = Subscription(url=url, events=check_events(events), secret=new_secret(),
                       active=active, created_by_id=created_by_id, created_at=now,
                       updated_at=now)
    session.add(row)
    await session.flush()
    return row


async def get_subscription(session: AsyncSession, subscription_id: int) -> Subscription:
    """The subscription `subscription_id`; 404 when there is none."""
    row = await session.get(Subscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook {subscription_id}")
    return row


async def list_subscriptions(session: AsyncSession) -> list[Subscription]:
    """Every subscription, oldest first."""
    return list((await session.scalars(select(Subscription).order_by(Subscription.id))).all())


async def update_subscription(session: AsyncSession, subscription_id: int,
                              changes: dict[str, Any], *, allow_private: bool) -> Subscription:
    """Change `url`, `events` and/or `active` of a subscription (other keys are ignored)."""
    row = await get_subscription(session, subscription_id)
    if "url" in changes:
        check_url(changes["url"], allow_private=allow_private)
        row.url = changes["url"]
    if "events" in changes:
        row.events = check_events(changes["events"])
    if "active" in changes:
        row.active = bool(changes["active"])
    row.updated_at = clock.now()
    return row


async def rotate_secret(session: AsyncSession, subscription_id: int) -> Subscription:
    """Give a subscription a new secret; the old one signs nothing from now on (a delivery
    retried later is signed with the new one)."""
    row = await get_subscription(session, subscription_id)
    row.secret, row.updated_at = new_secret(), clock.now()
    return row


async def delete_subscription(session: AsyncSession, subscription_id: int) -> None:
    """Remove a subscription and its delivery log (a delivery still waiting is not sent)."""
    row = await get_subscription(session, subscription_id)
    await session.delete(row)


# ----------------------------------------------------------------------------- deliveries


async def _queue(session: AsyncSession, subscription_id: int, event_id: str, event_type: str,
                 payload: dict[str, Any], replay_of_id: int | None = None) -> Delivery:
    delivery = Delivery(subscription_id=subscription_id, event_id=event_id,
                        event_type=event_type, payload=payload, status="pending", attempts=0,
                        created_at=clock.now(), replay_of_id=replay_of_id)
    session.add(delivery)
    await session.flush()
    await outbox.add(session, KIND, {"delivery_id": delivery.id})
    return delivery


async def active_subscriptions(session: AsyncSession) -> list[Subscription]:
    """Every active subscription, oldest first (there are few: one query, filtered here)."""
    return list((await session.scalars(
        select(Subscription).where(Subscription.active.is_(True)).order_by(Subscription.id)
    )).all())


async def subscribers(session: AsyncSession, event_type: str) -> list[Subscription]:
    """The active subscriptions that name `event_type`."""
    return [row for row in await active_subscriptions(session) if event_type in row.events]


async def emit(session: AsyncSession, event_type: str, data: dict[str, Any],
               to: Sequence[Subscription]) -> list[Delivery]:
    """Queue one event of `event_type` carrying `data` to each of `to` (one event id)."""
    if not to:
        return []
    now = clock.now()
    payload = {"id": f"evt_{uuid.uuid4().hex}", "type": event_type,
               "created_at": now.isoformat(), "data": plain(data)}
    return [await _queue(session, row.id, payload["id"], event_type, payload) for row in to]


async def replay(session: AsyncSession, delivery_id: int) -> Delivery:
    """A new delivery of the same payload (same event id) to the same subscription; 409
    when that subscription is inactive."""
    original = await session.get(Delivery, delivery_id)
    if original is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    subscription = await get_subscription(session, original.subscription_id)
    if not subscription.active:
        raise Conflict(f"webhook {subscription.id} is inactive; activate it first")
    return await _queue(session, subscription.id, original.event_id, original.event_type,
                        original.payload, replay_of_id=original.id)


async def list_deliveries(session: AsyncSession, subscription_id: int, *, limit: int,
                          before: int | None = None) -> tuple[list[Delivery], int | None]:
    """A subscription's deliveries newest first, `limit` of them older than id `before`;
    returns them and the cursor of the next page (None: no more). 404 without it."""
    await get_subscription(session, subscription_id)
    query = (select(Delivery).where(Delivery.subscription_id == subscription_id)
             .order_by(Delivery.id.desc()).limit(limit + 1))
    if before is not None:
        query = query.where(Delivery.id < before)
    rows = list((await session.scalars(query)).all())
    items = rows[:limit]
    return items, (items[-1].id if len(rows) > limit else None)


def plain(value: Any) -> Any:
    """`value` with its datetimes and tuples made JSON's (ISO 8601 text, lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# ----------------------------------------------------------------------------- the rules


async def _conversation_data(session: AsyncSession, conversation_id: int) -> dict[str, Any] | None:
    """What a payload says of a conversation; None when it is gone or in spam."""
    row = (await session.execute(
        select(Conversation, Inbox.slug, Contact.email, Contact.name)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id == conversation_id))).first()
    if row is None:
        return None
    conversation, inbox, email, name = row
    if conversation.status == "spam" or conversation.deleted_at is not None:
        return None
    return {"id": conversation.id, "inbox": inbox, "channel": conversation.channel,
            "subject": conversation.subject, "status": conversation.status,
            "owner_id": conversation.owner_id, "created_at": conversation.created_at,
            "contact": {"email": email, "name": name}}


def _message_data(message: Message) -> dict[str, Any]:
    return {"id": message.id, "direction": message.direction, "channel": message.channel,
            "text": message.text, "automatic": message.automatic,
            "author_id": message.author_id, "created_at": message.created_at}


class WebhookRules:
    """The rules above, subscribed on one runtime's bus."""

    def install(self, bus: EventBus) -> None:
        """Subscribe every rule on `bus`."""
        bus.subscribe_many(ConversationOpened, self.on_conversations_opened)
        bus.subscribe_many(MessageAdded, self.on_messages_added)
        bus.subscribe(TicketChanged, self.on_ticket_changed)
        bus.subscribe(SlaDueSoon, self.on_sla)
        bus.subscribe(SlaBreached, self.on_sla)

    async def on_conversations_opened(self, session: AsyncSession,
                                      events: list[ConversationOpened]) -> None:
        to = await subscribers(session, "conversation.created")
        if not to:
            return
        for e in events:
            data = None if e.spam else await _conversation_data(session, e.conversation_id)
            if data is not None:
                await emit(session, "conversation.created", {"conversation": data}, to)

    async def on_messages_added(self, session: AsyncSession,
                                events: list[MessageAdded]) -> None:
        wanted = {"inbound": "message.received", "outbound": "message.sent"}
        active = await active_subscriptions(session)
        by_type = {t: [row for row in active if t in row.events] for t in wanted.values()}
        for e in events:
            event_type = wanted.get(e.direction)
            if event_type is None or not by_type[event_type]:
                continue
            message = await session.get(Message, e.message_id)
            conversation = await _conversation_data(session, e.conversation_id)
            if message is not None and conversation is not None:
                await emit(session, event_type, {"conversation": conversation,
                                                 "message": _message_data(message)},
                           by_type[event_type])

    async def on_ticket_changed(self, session: AsyncSession, e: TicketChanged) -> None:
        to = await subscribers(session, "ticket.changed")
        if to:
            changes = {name: {"old": old, "new": new} for name, (old, new) in e.changes.items()}
            await emit(session, "ticket.changed", {
                "ticket_id": e.ticket_id, "changes": changes, "actor_id": e.actor_id,
                "cause": e.cause}, to)

    async def on_sla(self, session: AsyncSession, e: SlaDueSoon | SlaBreached) -> None:
        event_type = "sla.due_soon" if isinstance(e, SlaDueSoon) else "sla.breached"
        to = await subscribers(session, event_type)
        if to:
            await emit(session, event_type, {"ticket_id": e.ticket_id, "goal": e.goal,
                                             "due_at": e.due_at, "at": e.at}, to)
