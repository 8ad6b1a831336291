"""One SLA clock of one ticket, as plain values. Pure: no I/O, no database, no "now".

A clock measures working time (by a `WorkingCalendar`) toward a goal. It runs in segments:
while running, time since `running_since` counts; a pause folds that into `consumed`; a stop
records whether the goal was met in time. Every function takes the instant it acts at.

    start(goal, due_soon, at)          a running clock
    pause(clock, cal, at)              stop counting (e.g. waiting on the contact)
    resume(clock, at)                  count again
    stop(clock, cal, at)               met (or met late); a stopped clock can be resumed
    deadlines(clock, cal)              (due_soon_at, due_at) while running, else (None, None)
    status(clock, due_soon_at, due_at, at)  on_track | due_soon | overdue | met | met_late | paused
    remaining(clock, cal, at)          working time left; negative once overdue
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sla.calendar import WorkingCalendar

ZERO = timedelta(0)
STATUSES = ("on_track", "due_soon", "overdue", "met", "met_late", "paused")


@dataclass(frozen=True, slots=True)
class Clock:
    goal: timedelta
    due_soon: timedelta
    consumed: timedelta = ZERO
    running_since: datetime | None = None
    stopped_at: datetime | None = None
    met_late: bool = False

    @property
    def running(self) -> bool:
        return self.running_since is not None and self.stopped_at is None


def start(goal: timedelta, due_soon: timedelta, at: datetime) -> Clock:
    """A clock toward `goal` that starts counting at `at`."""
    if goal <= ZERO:
        raise ValueError("goal must be positive")
    if due_soon < ZERO:
        raise ValueError("due-soon threshold must not be negative")
    return Clock(goal=goal, due_soon=due_soon, running_since=at)


def consumed_at(clock: Clock, cal: WorkingCalendar, at: datetime) -> timedelta:
    """Working time the clock has counted up to `at`."""
    if clock.running_since is None or clock.stopped_at is not None:
        return clock.consumed
    return clock.consumed + cal.working_time(clock.running_since, at)


def pause(clock: Clock, cal: WorkingCalendar, at: datetime) -> Clock:
    """Stop counting at `at`; a paused or stopped clock is returned unchanged."""
    if not clock.running:
        return clock
    return replace(clock, consumed=consumed_at(clock, cal, at), running_since=None)


def resume(clock: Clock, at: datetime) -> Clock:
    """Count again from `at` (also reopens a stopped clock); a running clock is unchanged."""
    if clock.running:
        return clock
    return replace(clock, running_since=at, stopped_at=None, met_late=False)


def stop(clock: Clock, cal: WorkingCalendar, at: datetime) -> Clock:
    """Met at `at`: late when more working time than the goal has been counted."""
    if clock.stopped_at is not None:
        return clock
    total = consumed_at(clock, cal, at)
    return replace(clock, consumed=total, running_since=None, stopped_at=at,
                   met_late=total > clock.goal)


def with_goal(clock: Clock, goal: timedelta, due_soon: timedelta) -> Clock:
    """The same clock measured against a new goal (what was counted stays counted)."""
    if goal <= ZERO:
        raise ValueError("goal must be positive")
    met_late = clock.consumed > goal if clock.stopped_at is not None else clock.met_late
    return replace(clock, goal=goal, due_soon=due_soon, met_late=met_late)


def deadlines(clock: Clock, cal: WorkingCalendar) -> tuple[datetime | None, datetime | None]:
    """(due_soon_at, due_at) of a running clock; (None, None) when paused or stopped.

    When the goal is already used up, both are the instant counting resumed (it is overdue
    from then on)."""
    if not clock.running or clock.running_since is None:
        return None, None
    left = clock.goal - clock.consumed
    if left <= ZERO:
        return clock.running_since, clock.running_since
    due_at = cal.add(clock.running_since, left)
    warn_left = left - clock.due_soon
    due_soon_at = cal.add(clock.running_since, warn_left) if warn_left > ZERO else (
        clock.running_since)
    return due_soon_at, due_at


def status(clock: Clock, due_soon_at: datetime | None, due_at: datetime | None,
           at: datetime) -> str:
    """The clock's status at `at`, given its deadlines from `deadlines`."""
    if clock.stopped_at is not None:
        return "met_late" if clock.met_late else "met"
    if not clock.running or due_at is None:
        return "paused"
    if at >= due_at:
        return "overdue"
    if due_soon_at is not None and at >= due_soon_at:
        return "due_soon"
    return "on_track"


def remaining(clock: Clock, cal: WorkingCalendar, at: datetime) -> timedelta:
    """Working time left before the goal at `at`; negative by the working time overdue."""
    return clock.goal - consumed_at(clock, cal, at)
