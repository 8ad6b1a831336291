"""Notifications: the one writer and reader of them, and the rules that make them.

`NotificationRules` subscribes to the domain events, in the transaction that caused them:

- assigned: a conversation's owner became X (or a ticket's, set on the ticket itself) -> X,
  unless X did it. (A conversation's owner change moves its ticket's too; that echo, cause
  `conversation`, is not told twice.)
- mentioned: an internal comment names X by handle (`notifications.mentions`) -> X, unless X
  wrote it.
- sla_due_soon, sla_breached: a clock of a ticket is due soon or breached -> its owner.

Someone who asked for it (`notify_by_email`) is also mailed each notification, through the
outbox after commit, and their open pages hear of it over the live socket (a `notification`
frame for them alone). Whoever is told must be active and see the conversation's inbox
(`inbox.access`): a person out of scope is never notified, and a listing shows only what
its reader still sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import active_users
from core import clock, outbox
from core.events import EventBus
from core.live import LiveEvent, announce
from inbox.access import Scope, visible_inboxes
from inbox.events import ConversationOwnerChanged, MessageAdded
from inbox.models import Conversation, Message
from notifications.mentions import handle_of, mentioned_handles
from notifications.models import Notification
from sla.events import SlaBreached, SlaDueSoon
from tickets.events import TicketChanged
from tickets.models import Ticket, TicketConversation

MAIL_KIND = "notification_mail"
"""The outbox kind of a notification's mail (`connectors.email.notices` delivers it)."""

FROM_CONVERSATION = "conversation"
"""The cause of a ticket change that followed its conversation's (tickets/sync.py)."""


async def _to_be_told(session: AsyncSession, user_id: int, inbox_id: int) -> User | None:
    """The user `user_id` when they are active and see the inbox `inbox_id`."""
    user = await session.get(User, user_id)
    if user is None or not user.active or not (
            await visible_inboxes(session, user)).allows(inbox_id):
        return None
    return user


async def notify(session: AsyncSession, user_ids: Sequence[int], kind: str, *,
                 conversation_id: int, ticket_id: int | None = None,
                 actor_id: int | None = None, detail: str | None = None) -> list[int]:
    """Tell each of `user_ids` (once; never `actor_id`, never someone inactive or who does
    not see the conversation's inbox) of `kind` about the conversation; returns who was.
    Those who asked for mail (`notify_by_email`) get it through the outbox (MAIL_KIND)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.deleted_at is not None:
        return []
    told: list[tuple[User, Notification]] = []
    for user_id in dict.fromkeys(user_ids):
        user = None if user_id == actor_id else await _to_be_told(session, user_id,
                                                                   conversation.inbox_id)
        if user is None:
            continue
        notification = Notification(
            user_id=user_id, kind=kind, conversation_id=conversation_id, ticket_id=ticket_id,
            actor_id=actor_id, detail=detail, created_at=clock.now())
        session.add(notification)
        told.append((user, notification))
    await session.flush()
    for user, notification in told:
        if user.notify_by_email:
            await outbox.add(session, MAIL_KIND, {"notification_id": notification.id})
    # Each one's open pages hear of it (their bell's count), after commit.
    announce(session, *(LiveEvent("notification", user_id=user.id,
                                  data={"kind": kind, "notification_id": notification.id})
                        for user, notification in told))
    return [user.id for user, _ in told]


async def _first_conversation(session: AsyncSession, ticket_id: int) -> int | None:
    return await session.scalar(
        select(TicketConversation.conversation_id)
        .join(Conversation, Conversation.id == TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id == ticket_id, Conversation.deleted_at.is_(None))
        .order_by(TicketConversation.conversation_id).limit(1))


class NotificationRules:
    """The rules above, subscribed on one runtime's bus."""

    def install(self, bus: EventBus) -> None:
        """Subscribe every rule on `bus`."""
        bus.subscribe(ConversationOwnerChanged, self.on_conversation_owner)
        bus.subscribe(TicketChanged, self.on_ticket_changed)
        bus.subscribe(MessageAdded, self.on_message_added)
        bus.subscribe(SlaDueSoon, self.on_sla)
        bus.subscribe(SlaBreached, self.on_sla)

    async def on_conversation_owner(self, session: AsyncSession,
                                    e: ConversationOwnerChanged) -> None:
        if e.new_owner_id is not None:
            await notify(session, [e.new_owner_id], "assigned",
                         conversation_id=e.conversation_id, actor_id=e.actor_id)

    async def on_ticket_changed(self, session: AsyncSession, e: TicketChanged) -> None:
        owner = e.changes.get("owner_id", (None, None))[1]
        if owner is None or e.cause == FROM_CONVERSATION:
            return
        conversation_id = await _first_conversation(session, e.ticket_id)
        if conversation_id is not None:
            await notify(session, [owner], "assigned", conversation_id=conversation_id,
                         ticket_id=e.ticket_id, actor_id=e.actor_id)

    async def on_message_added(self, session: AsyncSession, e: MessageAdded) -> None:
        if e.direction != "comment":
            return
        message = await session.get(Message, e.message_id)
        handles = mentioned_handles(message.text) if message is not None else []
        if message is None or not handles:
            return
        wanted = set(handles)
        named = [u.id for u in await active_users(session) if handle_of(u.email) in wanted]
        await notify(session, named, "mentioned", conversation_id=e.conversation_id,
                     actor_id=message.author_id)

    async def on_sla(self, session: AsyncSession, e: SlaDueSoon | SlaBreached) -> None:
        ticket = await session.get(Ticket, e.ticket_id)
        if ticket is None or ticket.owner_id is None or ticket.deleted_at is not None:
            return
        conversation_id = await _first_conversation(session, ticket.id)
        if conversation_id is not None:
            kind = "sla_due_soon" if isinstance(e, SlaDueSoon) else "sla_breached"
            await notify(session, [ticket.owner_id], kind, conversation_id=conversation_id,
                         ticket_id=ticket.id, detail=e.goal)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Listed:
    """A notification as its reader sees it: with the conversation's subject."""

    notification: Notification
    subject: str


def _seen_by(user_id: int, scope: Scope) -> ColumnElement[bool]:
    """Notifications of `user_id` about a live conversation `scope` still covers."""
    return (Notification.user_id == user_id) & Conversation.deleted_at.is_(None) & scope.covers(
        Conversation.inbox_id)


async def unread_count(session: AsyncSession, user: User, scope: Scope | None = None) -> int:
    """How many notifications of `user` are unread (of what they still see: `scope`, their
    scope when it is known already)."""
    scope = scope if scope is not None else await visible_inboxes(session, user)
    count = await session.scalar(
        select(func.count(Notification.id))
        .join(Conversation, Conversation.id == Notification.conversation_id)
        .where(_seen_by(user.id, scope), Notification.read_at.is_(None)))
    return int(count or 0)


async def list_notifications(session: AsyncSession, user: User, *, limit: int,
                             before: int | None = None) -> tuple[list[Listed], int | None]:
    """`user`'s notifications (of what they still see), newest first, `limit` of them
    older than id `before`; returns them and the cursor of the next page (None: no more)."""
    scope = await visible_inboxes(session, user)
    query = (select(Notification, Conversation.subject)
             .join(Conversation, Conversation.id == Notification.conversation_id)
             .where(_seen_by(user.id, scope)).order_by(Notification.id.desc())
             .limit(limit + 1))
    if before is not None:
        query = query.where(Notification.id < before)
    rows = (await session.execute(query)).all()
    items = [Listed(n, subject) for n, subject in rows[:limit]]
    return items, (items[-1].notification.id if len(rows) > limit else None)


async def mark_read(session: AsyncSession, user_id: int,
                    ids: Sequence[int] | None = None) -> int:
    """Mark `user_id`'s unread notifications read: those of `ids`, or all of them (None);
    someone else's ids are left alone. Returns how many were marked."""
    query = (update(Notification)
             .where(Notification.user_id == user_id, Notification.read_at.is_(None))
             .values(read_at=clock.now()))
    if ids is not None:
        query = query.where(Notification.id.in_(sorted(set(ids))))
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def describe(kind: str, actor: str | None, detail: str | None) -> str:
    """What a notification says, in a sentence (the subject shown beside it). Pure."""
    who = actor or "Frontdesk"
    goal = (detail or "a goal").replace("_", " ")
    return {"assigned": f"{who} assigned you", "mentioned": f"{who} mentioned you",
            "sla_due_soon": f"SLA {goal} is due soon",
            "sla_breached": f"SLA {goal} was breached"}.get(kind, kind)


def describe_all(items: Sequence[Listed], names: dict[int, str]) -> list[str]:
    """`describe` for each, with the actors' names from `names`."""
    return [describe(i.notification.kind, names.get(i.notification.actor_id or 0),
                     i.notification.detail) for i in items]
