"""What settings would mean for a ticket opened at a given instant: its deadlines, computed
by the same calendar and clock code the tracker uses. Pure: `now` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sla import clock as clocks
from sla.calendar import WorkingCalendar
from sla.policy import KINDS, Goals, SlaPolicy, calendar_spec_for, default_zone_name

GOAL_NAMES = {"first_response": "first response", "next_response": "next response",
              "close": "close"}


@dataclass(frozen=True)
class Deadline:
    """When one goal of a ticket opened at `opened_at` would be due (and due soon)."""

    applies_to: str
    """"every ticket", or the property value the goal is for (e.g. "priority urgent")."""
    goal: str
    due_at: datetime
    due_soon_at: datetime | None


def _deadlines(goals: Goals, applies_to: str, cal: WorkingCalendar,
               now: datetime) -> list[Deadline]:
    result = []
    for kind in KINDS:
        goal = goals.get(kind)
        if goal is None or kind == "next_response":
            continue  # a next response starts with a customer's message, not the opening
        due_soon_at, due_at = clocks.deadlines(clocks.start(goal.target, goal.warning, now), cal)
        if due_at is not None:
            result.append(Deadline(applies_to, kind, due_at,
                                   due_soon_at if goal.due_soon_minutes else None))
    return result


def preview(policy: SlaPolicy, now: datetime) -> list[Deadline]:
    """The deadlines of a ticket opened at `now` on the default calendar: for every ticket
    (or, with a property, every value not listed), then for each listed value. ValueError
    when a deadline lies beyond the calendar's range."""
    spec = calendar_spec_for(policy, None)
    cal = spec.build() if spec is not None else WorkingCalendar.always()
    every = "every ticket" if policy.property is None else f"other {policy.property} values"
    result = _deadlines(policy.goals, every, cal, now)
    for value, goals in policy.values.items():
        if goals is not None:
            result += _deadlines(goals, f"{policy.property} {value}", cal, now)
    return result


def display_zone(policy: SlaPolicy) -> ZoneInfo:
    """The zone deadlines are shown in: the default calendar's, or UTC."""
    return ZoneInfo(default_zone_name(policy))


def when(instant: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`Tue 8 Dec 09:45` in `zone` (with the year when it is not `now`'s)."""
    local = instant.astimezone(zone)
    year = "" if local.year == now.astimezone(zone).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"
