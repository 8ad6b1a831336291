"""The weekly SLA report as plain values: period bounds, weeks, tallies, CSV.

Pure: no clock, no I/O. `sla.queries.weekly_report` gathers the clocks (`ClockFact`) and
hands them to `summarize`; pages draw the result, `to_csv` writes the same numbers.

Period bounds (`parse_bound`) are ISO 8601 timestamps with a zone, or plain dates: a date
in `from` is the start of that day, a date in `to` the end of it (the start of the next
day), both in the report's time zone: the default SLA calendar's, or UTC without one.
Weeks start on Monday in that zone.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from core.clock import EARLIEST_YEAR, LATEST_YEAR, in_supported_range
from sla.policy import KINDS

ALL_TEAMS = "All teams"
NO_TEAM = "No team"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CSV_COLUMNS = ("week_starting", "goal", "team", "met", "met_late", "breached", "percent_met",
               "median_working_minutes")


def parse_bound(text: str, zone: ZoneInfo, *, end: bool = False) -> datetime:
    """The instant a report bound names: a timestamp with its zone, or a plain date (the
    start of that day in `zone`; with `end`, the start of the next day, so the day counts).
    ValueError says what is wrong."""
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date") from None
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
        return datetime.combine(day + timedelta(days=1 if end else 0), time(), zone)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("give a date (2026-12-01) or a time with its zone "
                         "(2026-12-01T00:00:00Z)") from None
    if instant.utcoffset() is None:
        raise ValueError("give a time zone (e.g. 2026-01-01T00:00:00Z)")
    if not in_supported_range(instant):
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return instant


def week_of(instant: datetime, zone: ZoneInfo) -> date:
    """The Monday (in `zone`) of the week holding `instant`."""
    local = instant.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def weeks_between(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """The Mondays of every week that overlaps [start, end), in order."""
    if end <= start:
        return []
    first, last = week_of(start, zone), week_of(end - timedelta(microseconds=1), zone)
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def default_period(today: date) -> tuple[date, date]:
    """The last 8 weeks: from the Monday seven weeks before this week's, through today."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=7), today


@dataclass(frozen=True)
class ClockFact:
    """What the report needs of one clock."""

    goal: str
    started_at: datetime
    team: str
    stopped_at: datetime | None
    met_late: bool
    due_at: datetime | None
    working_minutes: float


def outcome(fact: ClockFact, now: datetime) -> str | None:
    """`met`, `met_late`, `breached` (overdue and not met at `now`), or None (running)."""
    if fact.stopped_at is not None:
        return "met_late" if fact.met_late else "met"
    if fact.due_at is not None and fact.due_at <= now:
        return "breached"
    return None


@dataclass
class _Tally:
    met: int = 0
    met_late: int = 0
    breached: int = 0
    minutes: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Line:
    """One week's numbers for one goal and team (`ALL_TEAMS` for everyone)."""

    week: date
    goal: str
    team: str
    met: int
    met_late: int
    breached: int
    percent_met: float | None
    """Met in time out of met, met late and breached; None with none of those."""
    median_minutes: float | None
    """Median working minutes of the clocks met (in time or late)."""

    @staticmethod
    def of(week: date, goal: str, team: str, tally: _Tally) -> Line:
        decided = tally.met + tally.met_late + tally.breached
        return Line(week, goal, team, tally.met, tally.met_late, tally.breached,
                    round(100 * tally.met / decided, 1) if decided else None,
                    round(median(tally.minutes), 1) if tally.minutes else None)


@dataclass(frozen=True)
class TeamBreaches:
    team: str
    breached: int
    decided: int


@dataclass(frozen=True)
class WeeklyReport:
    """Attainment per goal per week (`lines`, every week and goal), the same per team
    (`team_lines`, only where a team had clocks) and breaches per team over the period."""

    zone: str
    weeks: list[date]
    lines: list[Line]
    team_lines: list[Line]
    breaches_by_team: list[TeamBreaches]

    def series(self, goal: str) -> list[Line]:
        """The all-teams line of each week for `goal`, in week order."""
        return [line for line in self.lines if line.goal == goal]


def summarize(facts: Iterable[ClockFact], weeks: Sequence[date], zone: ZoneInfo,
              now: datetime) -> WeeklyReport:
    """Tally the clocks into weeks (by their start, in `zone`); clocks still running and
    not overdue at `now` count nowhere."""
    totals: dict[tuple[date, str], _Tally] = defaultdict(_Tally)
    by_team: dict[tuple[date, str, str], _Tally] = defaultdict(_Tally)
    for fact in facts:
        result = outcome(fact, now)
        if result is None:
            continue
        week = week_of(fact.started_at, zone)
        for tally in (totals[(week, fact.goal)], by_team[(week, fact.goal, fact.team)]):
            setattr(tally, result, getattr(tally, result) + 1)
            if fact.stopped_at is not None:
                tally.minutes.append(fact.working_minutes)
    lines = [Line.of(week, goal, ALL_TEAMS, totals.get((week, goal), _Tally()))
             for week in weeks for goal in KINDS]
    team_lines = [Line.of(week, goal, team, tally) for (week, goal, team), tally
                  in sorted(by_team.items(), key=lambda item: (item[0][0], KINDS.index(
                      item[0][1]) if item[0][1] in KINDS else 99, item[0][2]))]
    return WeeklyReport(str(zone), list(weeks), lines, team_lines, _breaches(team_lines))


def _breaches(team_lines: Iterable[Line]) -> list[TeamBreaches]:
    breached: dict[str, int] = defaultdict(int)
    decided: dict[str, int] = defaultdict(int)
    for line in team_lines:
        breached[line.team] += line.breached
        decided[line.team] += line.met + line.met_late + line.breached
    return [TeamBreaches(team, breached[team], decided[team])
            for team in sorted(decided, key=lambda name: (-breached[name], name))]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _text(value: str) -> str:
    # A spreadsheet would run a cell that starts like a formula (a team named "=1+1").
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(report: WeeklyReport) -> str:
    """The report as CSV: a header, then one row per week and goal for all teams, then one
    per week, goal and team that had clocks. Empty cells: no data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in [*report.lines, *report.team_lines]:
        writer.writerow([line.week.isoformat(), line.goal, _text(line.team), line.met,
                         line.met_late, line.breached, _number(line.percent_met),
                         _number(line.median_minutes)])
    return out.getvalue()
