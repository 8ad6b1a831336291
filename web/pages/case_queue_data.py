"""What the queue parts of the inbox show: the rail's "Queues" group and the ticket
card's queue part. Read only; the actions are in `web.pages.case_queues`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import user_names
from tickets import queues as queue_service
from tickets.models import Queue, Ticket
from web.pages.common import PageCaller


@dataclass(frozen=True)
class QueueEntry:
    """One queue in the rail."""

    queue: Queue
    unclaimed: int
    current: bool


async def rail(session: AsyncSession, caller: PageCaller,
               current: int | None = None) -> list[QueueEntry]:
    """The queues the caller sees, with how many open cases wait unclaimed in each."""
    found = await queue_service.visible_queues(session, caller.user)
    counts = await queue_service.unclaimed_counts(session, [q.id for q in found],
                                                  scope=caller.scope)
    return [QueueEntry(q, counts[q.id], q.id == current) for q in found]


async def gather_card(session: AsyncSession, caller: PageCaller,
                      ticket: Ticket | None) -> dict[str, Any] | None:
    """What the ticket card's queue part shows: the queues the case is in (that the caller
    sees) and the queues it may be added to."""
    if ticket is None:
        return None
    visible = await queue_service.visible_queues(session, caller.user)
    ids = {q.id for q in visible}
    items = [(i, q) for i, q in await queue_service.items_of_ticket(session, ticket.id)
             if q.id in ids]
    names = await user_names(session, [i.worked_by_id for i, _ in items if i.worked_by_id])
    inside = {q.id for _, q in items}
    return {"items": [{"item": i, "queue": q, "worker": names.get(i.worked_by_id or 0)}
                      for i, q in items],
            "addable": [q for q in visible if q.id not in inside]}


QUEUE_STEPS = {"queued": "{who} added it to the queue {new}",
               "picked": "{who} picked it from the queue {new}",
               "released": "{who} released it back to the queue {new}",
               "moved": "{who} moved it from the queue {old} to {new}",
               "routed": "{who} routed it by the rule {new}"}


def timeline_text(h: Any, who: str) -> str | None:
    """The timeline's words for a queue or routing step of the ticket's history (None for
    another kind of row)."""
    words = QUEUE_STEPS.get(h.action)
    if words is None:
        return None
    return words.format(who=who, old=h.old_value or "", new=h.new_value or "")
