"""Activities on a case: tasks, phone calls and appointments, each with an owner, a due
time, a duration and a state (open, completed, canceled).

The only writer of `CaseActivity`. Every function takes the caller's session, never
commits, and records what it did on the ticket's history (shown on its timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import get_active_user
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from tickets.models import CaseActivity, TicketHistory
from tickets.resolution_rules import ACTIVITY_KINDS, MAX_MINUTES
from tickets.service import get_ticket

KIND_LABELS = {"task": "Task", "phone_call": "Phone call", "appointment": "Appointment"}


@dataclass(frozen=True)
class ActivityInput:
    """What an agent gives for an activity (all of it, when adding or editing)."""

    kind: str
    subject: str
    description: str = ""
    owner_id: int | None = None
    due_at: datetime | None = None
    duration_minutes: int | None = None


def record(session: AsyncSession, ticket_id: int, action: str, actor_id: int | None,
           field: str | None = None, old: Any = None, new: Any = None) -> None:
    """Add a history row to the ticket (for the case modules of the tickets room)."""
    session.add(TicketHistory(
        ticket_id=ticket_id, at=clock.now(), actor_id=actor_id, action=action, field=field,
        old_value=None if old is None else str(old), new_value=None if new is None else str(new),
        cause="agent"))


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


async def _checked(session: AsyncSession, given: ActivityInput) -> None:
    if given.kind not in ACTIVITY_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACTIVITY_KINDS)}", field="kind")
    if not given.subject.strip():
        raise InvalidInput("subject is required", field="subject")
    if len(given.subject) > 300:
        raise InvalidInput("subject is at most 300 characters", field="subject")
    minutes = given.duration_minutes
    if minutes is not None and not 0 <= minutes <= MAX_MINUTES:
        raise InvalidInput(f"duration must be between 0 and {MAX_MINUTES} minutes",
                           field="duration_minutes")
    if given.due_at is not None and given.due_at.tzinfo is None:
        raise InvalidInput("give the due time with its zone", field="due_at")
    if given.owner_id is not None:
        await get_active_user(session, given.owner_id, field="owner_id")


async def add_activity(session: AsyncSession, ticket_id: int, given: ActivityInput, *,
                       actor_id: int | None) -> CaseActivity:
    """A new open activity on the live ticket `ticket_id` (NotFound otherwise)."""
    await get_ticket(session, ticket_id)
    await _checked(session, given)
    activity = CaseActivity(
        ticket_id=ticket_id, kind=given.kind, subject=given.subject.strip(),
        description=given.description, owner_id=given.owner_id, due_at=_utc(given.due_at),
        duration_minutes=given.duration_minutes, state="open", created_by_id=actor_id,
        created_at=clock.now())
    session.add(activity)
    record(session, ticket_id, "activity_added", actor_id, given.kind, None, activity.subject)
    await session.flush()
    return activity


async def get_activity(session: AsyncSession, ticket_id: int, activity_id: int) -> CaseActivity:
    """The activity `activity_id` of the ticket; NotFound when it is not one of its."""
    activity = await session.get(CaseActivity, activity_id)
    if activity is None or activity.ticket_id != ticket_id:
        raise NotFound(f"no activity {activity_id} on ticket {ticket_id}")
    return activity


async def edit_activity(session: AsyncSession, ticket_id: int, activity_id: int,
                        given: ActivityInput, *, actor_id: int | None) -> CaseActivity:
    """Change an open activity's fields; Conflict when it is completed or canceled."""
    activity = await get_activity(session, ticket_id, activity_id)
    if activity.state != "open":
        raise Conflict(f"the activity is {activity.state}; only open ones can be changed")
    await _checked(session, given)
    activity.kind, activity.subject = given.kind, given.subject.strip()
    activity.description, activity.owner_id = given.description, given.owner_id
    activity.due_at, activity.duration_minutes = _utc(given.due_at), given.duration_minutes
    record(session, ticket_id, "activity_changed", actor_id, activity.kind, None,
           activity.subject)
    await session.flush()
    return activity


async def _end(session: AsyncSession, ticket_id: int, activity_id: int, state: str,
               actor_id: int | None, duration_minutes: int | None = None) -> CaseActivity:
    activity = await get_activity(session, ticket_id, activity_id)
    if activity.state != "open":
        raise Conflict(f"the activity is already {activity.state}")
    if duration_minutes is not None:
        if not 0 <= duration_minutes <= MAX_MINUTES:
            raise InvalidInput(f"duration must be between 0 and {MAX_MINUTES} minutes",
                               field="duration_minutes")
        activity.duration_minutes = duration_minutes
    activity.state, activity.ended_at = state, clock.now()
    record(session, ticket_id, f"activity_{state}", actor_id, activity.kind, None,
           activity.subject)
    await session.flush()
    return activity


async def complete_activity(session: AsyncSession, ticket_id: int, activity_id: int, *,
                            actor_id: int | None,
                            duration_minutes: int | None = None) -> CaseActivity:
    """Mark an open activity completed (with the time it took, when given)."""
    return await _end(session, ticket_id, activity_id, "completed", actor_id, duration_minutes)


async def cancel_activity(session: AsyncSession, ticket_id: int, activity_id: int, *,
                          actor_id: int | None) -> CaseActivity:
    """Mark an open activity canceled (its time does not count)."""
    return await _end(session, ticket_id, activity_id, "canceled", actor_id)


async def activities_of(session: AsyncSession, ticket_id: int) -> list[CaseActivity]:
    """The ticket's activities: open ones first (soonest due first), then the rest."""
    rows = await session.scalars(select(CaseActivity).where(CaseActivity.ticket_id == ticket_id)
                                 .order_by(CaseActivity.id))
    items = list(rows)
    return sorted(items, key=lambda a: (a.state != "open", a.due_at is None,
                                        a.due_at or a.created_at, a.id))


async def cancel_open_activities(session: AsyncSession, ticket_id: int, *,
                                 actor_id: int | None) -> int:
    """Cancel every open activity of the ticket; returns how many."""
    open_ones = [a for a in await activities_of(session, ticket_id) if a.state == "open"]
    for activity in open_ones:
        await cancel_activity(session, ticket_id, activity.id, actor_id=actor_id)
    return len(open_ones)
