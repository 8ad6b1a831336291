"""The pure clock: a table of segments and the figures they give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla import clock
from sla.calendar import WorkingCalendar

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Stockholm
ALWAYS = WorkingCalendar.always()
OFFICE = WorkingCalendar("Europe/Stockholm",
                         {d: [("09:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")})
H = timedelta(hours=1)
M = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("now, expected", [
    (at(0), "on_track"), (at(44), "on_track"), (at(45), "due_soon"), (at(59), "due_soon"),
    (at(60), "overdue"), (at(600), "overdue"),
])
def test_status_of_a_running_clock(now, expected):
    c = clock.start(H, 15 * M, T0)
    due_soon_at, due_at = clock.deadlines(c, ALWAYS)
    assert (due_soon_at, due_at) == (at(45), at(60))
    assert clock.status(c, due_soon_at, due_at, now) == expected


def test_pause_keeps_what_was_counted_and_moves_the_deadline():
    c = clock.start(H, 15 * M, T0)
    c = clock.pause(c, ALWAYS, at(20))
    assert clock.deadlines(c, ALWAYS) == (None, None)
    assert clock.status(c, None, None, at(500)) == "paused"
    c = clock.resume(c, at(100))
    assert c.consumed == 20 * M
    assert clock.deadlines(c, ALWAYS) == (at(125), at(140))
    assert clock.remaining(c, ALWAYS, at(110)) == 30 * M


@pytest.mark.parametrize("stop_at, late", [(at(59), False), (at(60), False), (at(61), True)])
def test_stop_is_met_or_met_late(stop_at, late):
    c = clock.stop(clock.start(H, 0 * M, T0), ALWAYS, stop_at)
    assert c.met_late is late
    assert clock.status(c, None, None, at(1000)) == ("met_late" if late else "met")
    assert clock.stop(c, ALWAYS, at(2000)) == c


def test_reopen_resumes_from_what_was_counted():
    c = clock.stop(clock.start(H, 0 * M, T0), ALWAYS, at(30))
    c = clock.resume(c, at(1000))
    assert c.running and c.consumed == 30 * M
    assert clock.deadlines(c, ALWAYS)[1] == at(1030)


def test_working_hours_deadline_skips_the_night():
    friday_1630 = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)
    c = clock.start(H, 10 * M, friday_1630)
    due_soon_at, due_at = clock.deadlines(c, OFFICE)
    assert due_at == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)  # Monday 09:30 local
    assert due_soon_at == datetime(2026, 3, 9, 8, 20, tzinfo=UTC)


def test_goal_used_up_while_paused_is_overdue_from_resume():
    c = clock.pause(clock.start(H, 0 * M, T0), ALWAYS, at(90))
    c = clock.resume(c, at(200))
    assert clock.deadlines(c, ALWAYS) == (at(200), at(200))
    assert clock.status(c, at(200), at(200), at(200)) == "overdue"
    assert clock.remaining(c, ALWAYS, at(210)) == -40 * M


def test_new_goal_rejudges_a_met_clock():
    c = clock.stop(clock.start(H, 0 * M, T0), ALWAYS, at(90))
    assert c.met_late
    assert not clock.with_goal(c, 2 * H, 0 * M).met_late


@pytest.mark.parametrize("goal, warn", [(timedelta(0), timedelta(0)), (H, -M)])
def test_bad_goals_are_refused(goal, warn):
    with pytest.raises(ValueError):
        clock.start(goal, warn, T0)
