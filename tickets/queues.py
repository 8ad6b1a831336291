"""Queues of cases: the only writer of queues, their members and queue items.

Admins make queues (public, or private to their members). A ticket is added to a queue;
an agent picks it ("work on": the ticket becomes theirs and leaves the queue's unclaimed
list), releases it back (unclaimed again; the owner is cleared when it is the one who
picked it) or moves it to another queue (unclaimed there). Every step is written on the
ticket's history. Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import get_active_user
from audit.service import changed_only, record_change
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventBus
from inbox.access import Scope
from tickets import queries
from tickets import service as tickets
from tickets.events import TicketsMerged
from tickets.models import (
    PipelineStatus,
    Queue,
    QueueItem,
    QueueMember,
    RoutingRule,
    Ticket,
    TicketHistory,
)

MAX_NAME = 200


@dataclass(frozen=True)
class QueueEntry:
    """A ticket in a queue, as a queue view lists it."""

    item: QueueItem
    ticket: Ticket


def note(ticket_id: int, action: str, actor_id: int | None, cause: str,
         old: str | None = None, new: str | None = None, field: str = "queue") -> TicketHistory:
    """A history row for a queue or routing step on the ticket's timeline."""
    return TicketHistory(ticket_id=ticket_id, at=clock.now(), actor_id=actor_id, action=action,
                         field=field, old_value=old, new_value=new, cause=cause)


async def get_queue(session: AsyncSession, queue_id: int) -> Queue:
    """The queue `queue_id`; NotFound when there is none."""
    queue = await session.get(Queue, queue_id)
    if queue is None:
        raise NotFound(f"no queue {queue_id}")
    return queue


async def members_of(session: AsyncSession, queue_ids: Sequence[int]) -> dict[int, list[int]]:
    """queue id -> ids of its members."""
    found: dict[int, list[int]] = {queue_id: [] for queue_id in queue_ids}
    rows = await session.execute(select(QueueMember.queue_id, QueueMember.user_id)
                                 .where(QueueMember.queue_id.in_(queue_ids))
                                 .order_by(QueueMember.user_id))
    for queue_id, user_id in rows:
        found[queue_id].append(user_id)
    return found


async def every_queue(session: AsyncSession) -> list[Queue]:
    """Every queue, by name."""
    return list((await session.scalars(select(Queue).order_by(Queue.name))).all())


async def visible_queues(session: AsyncSession, user: User) -> list[Queue]:
    """The queues `user` may see, by name: public ones, private ones they are a member of;
    all for admins."""
    query = select(Queue).order_by(Queue.name)
    if not user.is_admin:
        member = select(QueueMember.queue_id).where(QueueMember.user_id == user.id)
        query = query.where((Queue.is_private.is_(False)) | Queue.id.in_(member))
    return list((await session.scalars(query)).all())


async def visible_queue(session: AsyncSession, queue_id: int, user: User) -> Queue:
    """The queue when `user` may see it; NotFound otherwise (a private queue is not there
    for non-members)."""
    queue = await get_queue(session, queue_id)
    if queue.is_private and not user.is_admin and user.id not in (
            await members_of(session, [queue.id]))[queue.id]:
        raise NotFound(f"no queue {queue_id}")
    return queue


async def _check(session: AsyncSession, values: dict[str, Any], queue_id: int | None) -> None:
    name = (values.get("name") or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"give the queue a name of at most {MAX_NAME} characters",
                           field="name")
    taken = await session.scalar(select(Queue.id).where(Queue.name == name))
    if taken is not None and taken != queue_id:
        raise InvalidInput(f"there is already a queue named {name!r}", field="name")
    for user_id in values.get("member_ids", []):
        await get_active_user(session, user_id, field="member_ids")
    values["name"] = name


async def _set_members(session: AsyncSession, queue_id: int, member_ids: Sequence[int]) -> None:
    await session.execute(delete(QueueMember).where(QueueMember.queue_id == queue_id))
    session.add_all(QueueMember(queue_id=queue_id, user_id=u) for u in sorted(set(member_ids)))


async def create_queue(session: AsyncSession, values: dict[str, Any], *, actor: User) -> Queue:
    """Make a queue from {name, description, is_private, member_ids}; audited."""
    values = {"description": "", "is_private": False, "member_ids": [], **values}
    await _check(session, values, None)
    queue = Queue(name=values["name"], description=values["description"],
                  is_private=values["is_private"], created_at=clock.now())
    session.add(queue)
    await session.flush()
    await _set_members(session, queue.id, values["member_ids"])
    await record_change(session, actor=actor, action="queue.created", subject_type="queue",
                        subject_id=queue.id, summary=f"Queue {queue.name} created",
                        after=values)
    await session.flush()
    return queue


async def update_queue(session: AsyncSession, queue_id: int, changes: dict[str, Any], *,
                       actor: User) -> Queue:
    """Change a queue's name, description, privacy or members (the full list); audited."""
    queue = await get_queue(session, queue_id)
    before = {"name": queue.name, "description": queue.description,
              "is_private": queue.is_private,
              "member_ids": (await members_of(session, [queue.id]))[queue.id]}
    after = {**before, **changes}
    await _check(session, after, queue.id)
    queue.name, queue.description = after["name"], after["description"]
    queue.is_private = after["is_private"]
    await _set_members(session, queue.id, after["member_ids"])
    old, new = changed_only(before, after)
    if new:
        await record_change(session, actor=actor, action="queue.updated", subject_type="queue",
                            subject_id=queue.id, summary=f"Queue {queue.name} changed",
                            before=old, after=new)
    await session.flush()
    return queue


async def delete_queue(session: AsyncSession, queue_id: int, *, actor: User) -> None:
    """Remove a queue and its items; Conflict while a routing rule sends cases to it."""
    queue = await get_queue(session, queue_id)
    for name, action in await session.execute(select(RoutingRule.name, RoutingRule.action)):
        if action.get("kind") == "queue" and action.get("id") == queue_id:
            raise Conflict(f"the routing rule {name!r} adds cases to this queue; change it first")
    await session.execute(delete(QueueItem).where(QueueItem.queue_id == queue_id))
    await session.delete(queue)
    await record_change(session, actor=actor, action="queue.deleted", subject_type="queue",
                        subject_id=queue_id, summary=f"Queue {queue.name} deleted")
    await session.flush()


def _open_and_in(scope: Scope) -> list[Any]:
    return [Ticket.deleted_at.is_(None), PipelineStatus.is_closed.is_(False),
            queries.in_scope(scope)]


async def unclaimed_counts(session: AsyncSession, queue_ids: Sequence[int], *,
                           scope: Scope) -> dict[int, int]:
    """queue id -> how many open tickets in `scope` wait there unclaimed; one query."""
    rows = await session.execute(
        select(QueueItem.queue_id, func.count())
        .join(Ticket, Ticket.id == QueueItem.ticket_id)
        .join(PipelineStatus, (PipelineStatus.pipeline_id == Ticket.pipeline_id)
              & (PipelineStatus.key == Ticket.status))
        .where(QueueItem.queue_id.in_(queue_ids), QueueItem.worked_by_id.is_(None),
               *_open_and_in(scope))
        .group_by(QueueItem.queue_id))
    counts = {queue_id: 0 for queue_id in queue_ids}
    counts.update({queue_id: count for queue_id, count in rows})
    return counts


async def entries(session: AsyncSession, queue_id: int, *, scope: Scope) -> list[QueueEntry]:
    """The open tickets in `scope` in the queue, unclaimed first, oldest entry first."""
    rows = await session.execute(
        select(QueueItem, Ticket)
        .join(Ticket, Ticket.id == QueueItem.ticket_id)
        .join(PipelineStatus, (PipelineStatus.pipeline_id == Ticket.pipeline_id)
              & (PipelineStatus.key == Ticket.status))
        .where(QueueItem.queue_id == queue_id, *_open_and_in(scope))
        .order_by(QueueItem.worked_by_id.is_not(None), QueueItem.entered_at, QueueItem.id))
    return [QueueEntry(item, ticket) for item, ticket in rows]


async def items_of_ticket(session: AsyncSession, ticket_id: int) -> list[tuple[QueueItem, Queue]]:
    """The queues the ticket is in, with its item in each, by queue name."""
    rows = await session.execute(
        select(QueueItem, Queue).join(Queue, Queue.id == QueueItem.queue_id)
        .where(QueueItem.ticket_id == ticket_id).order_by(Queue.name))
    return [(item, queue) for item, queue in rows]


async def get_item(session: AsyncSession, item_id: int) -> QueueItem:
    """The queue item `item_id`; NotFound when there is none."""
    item = await session.get(QueueItem, item_id)
    if item is None:
        raise NotFound(f"no queue item {item_id}")
    return item


async def add_to_queue(session: AsyncSession, queue_id: int, ticket_id: int, *,
                       actor_id: int | None, cause: str) -> QueueItem:
    """Put the live ticket in the queue, unclaimed; a ticket already there stays as it is."""
    queue = await get_queue(session, queue_id)
    ticket = await tickets.get_ticket(session, ticket_id)
    item = await session.scalar(select(QueueItem).where(QueueItem.queue_id == queue.id,
                                                        QueueItem.ticket_id == ticket.id))
    if item is not None:
        return item
    item = QueueItem(queue_id=queue.id, ticket_id=ticket.id, entered_at=clock.now())
    session.add(item)
    session.add(note(ticket.id, "queued", actor_id, cause, new=queue.name))
    await session.flush()
    return item


async def pick(session: AsyncSession, item_id: int, *, user_id: int) -> QueueItem:
    """Work on the item: `user_id` becomes the ticket's owner and its worker, so it leaves
    the queue's unclaimed list. Conflict when someone else works on it already."""
    item = await get_item(session, item_id)
    if item.worked_by_id not in (None, user_id):
        worker = await session.get(User, item.worked_by_id)
        raise Conflict(f"{worker.name if worker else 'someone'} already works on this case")
    queue = await get_queue(session, item.queue_id)
    await tickets.update_ticket(session, item.ticket_id, {"owner_id": user_id},
                                actor_id=user_id, cause="agent")
    if item.worked_by_id is None:
        item.worked_by_id, item.picked_at = user_id, clock.now()
        session.add(note(item.ticket_id, "picked", user_id, "agent", new=queue.name))
    await session.flush()
    return item


async def release(session: AsyncSession, item_id: int, *, actor_id: int) -> QueueItem:
    """Put the item back in the queue's unclaimed list; the ticket's owner is cleared when
    it is the one who picked it."""
    item = await get_item(session, item_id)
    if item.worked_by_id is None:
        return item
    ticket = await tickets.get_ticket(session, item.ticket_id)
    if ticket.owner_id == item.worked_by_id:
        await tickets.update_ticket(session, ticket.id, {"owner_id": None},
                                    actor_id=actor_id, cause="agent")
    item.worked_by_id, item.picked_at = None, None
    queue = await get_queue(session, item.queue_id)
    session.add(note(item.ticket_id, "released", actor_id, "agent", new=queue.name))
    await session.flush()
    return item


async def move(session: AsyncSession, item_id: int, queue_id: int, *,
               actor_id: int) -> QueueItem:
    """Move the item to another queue, unclaimed there; Conflict when the ticket is in
    that queue already."""
    item = await get_item(session, item_id)
    source, target = await get_queue(session, item.queue_id), await get_queue(session, queue_id)
    if source.id == target.id:
        return item
    if await session.scalar(select(QueueItem.id).where(QueueItem.queue_id == target.id,
                                                       QueueItem.ticket_id == item.ticket_id)):
        raise Conflict(f"this case is in {target.name} already", field="queue_id")
    item.queue_id, item.worked_by_id, item.picked_at = target.id, None, None
    item.entered_at = clock.now()
    session.add(note(item.ticket_id, "moved", actor_id, "agent", old=source.name,
                     new=target.name))
    await session.flush()
    return item


async def on_tickets_merged(session: AsyncSession, e: TicketsMerged) -> None:
    """The merged ticket's queue items go to the surviving ticket (where that one is not in
    the queue already), so the merged case leaves no item behind."""
    held = select(QueueItem.queue_id).where(QueueItem.ticket_id == e.primary_id)
    await session.execute(delete(QueueItem).where(QueueItem.ticket_id == e.merged_id,
                                                  QueueItem.queue_id.in_(held)))
    await session.execute(update(QueueItem).where(QueueItem.ticket_id == e.merged_id)
                          .values(ticket_id=e.primary_id))


def install(bus: EventBus) -> None:
    """Subscribe the queues' rules on `bus`."""
    bus.subscribe(TicketsMerged, on_tickets_merged)
