"""The weekly report as values: bounds, weeks, tallies and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla.reports import (
    ALL_TEAMS,
    CSV_COLUMNS,
    ClockFact,
    default_period,
    parse_bound,
    summarize,
    to_csv,
    week_of,
    weeks_between,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("text, zone, end, expected", [
    ("2026-12-01", STOCKHOLM, False, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
    ("2026-12-01", STOCKHOLM, True, datetime(2026, 12, 1, 23, 0, tzinfo=UTC)),
    ("2026-12-01", ZoneInfo("UTC"), False, datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026-07-01", NEW_YORK, False, datetime(2026, 7, 1, 4, 0, tzinfo=UTC)),
    ("2026-03-08", NEW_YORK, True, datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),  # DST starts
    (" 2026-12-01 ", STOCKHOLM, False, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
    ("2026-12-01T08:30:00Z", STOCKHOLM, False, datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
    ("2026-12-01T08:30:00+01:00", STOCKHOLM, True, datetime(2026, 12, 1, 7, 30, tzinfo=UTC)),
    ("2026-12-01T08:30Z", ZoneInfo("UTC"), False, datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
])
def test_bounds_are_dates_in_the_zone_or_timestamps(text, zone, end, expected):
    assert parse_bound(text, zone, end=end) == expected


@pytest.mark.parametrize("text, message", [
    ("2026-02-30", "is not a date"),
    ("2026-12-01T08:30:00", "give a time zone"),
    ("yesterday", "give a date"),
    ("", "give a date"),
    ("1899-12-31", "between the years"),
    ("9000-01-01T00:00:00Z", "between the years"),
    ("2026-13-01", "is not a date"),
    ("12/01/2026", "give a date"),
])
def test_bad_bounds_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_bound(text, STOCKHOLM)


def test_weeks_start_on_monday_in_the_zone():
    # Sunday 23:30 UTC is already Monday in Stockholm.
    assert week_of(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), STOCKHOLM) == date(2026, 11, 30)
    assert week_of(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), ZoneInfo("UTC")) == date(
        2026, 11, 23)
    start = parse_bound("2026-11-18", STOCKHOLM)
    end = parse_bound("2026-11-30", STOCKHOLM, end=True)
    assert weeks_between(start, end, STOCKHOLM) == [date(2026, 11, 16), date(2026, 11, 23),
                                                    date(2026, 11, 30)]
    assert weeks_between(end, start, STOCKHOLM) == []


@pytest.mark.parametrize("today, expected", [
    (date(2026, 12, 5), (date(2026, 10, 12), date(2026, 12, 5))),   # a Saturday
    (date(2026, 11, 30), (date(2026, 10, 12), date(2026, 11, 30))),  # a Monday
])
def test_default_period_is_the_last_eight_weeks(today, expected):
    assert default_period(today) == expected


NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WEEK1 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WEEK2 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fact(goal, started, *, team="Billing", met_after=None, late=False, due_after=60,
         minutes=0.0):
    return ClockFact(goal=goal, started_at=started, team=team,
                     stopped_at=started + timedelta(minutes=met_after) if met_after else None,
                     met_late=late, due_at=started + timedelta(minutes=due_after),
                     working_minutes=minutes)


FACTS = [
    fact("first_response", WEEK1, met_after=30, minutes=30),
    fact("first_response", WEEK1, met_after=90, late=True, minutes=90),
    fact("first_response", WEEK1, team="No team"),                       # breached
    fact("first_response", WEEK2, met_after=10, minutes=10, team="Sales"),
    fact("first_response", WEEK2, due_after=60 * 24 * 30),               # still running
    fact("close", WEEK2, team="Sales"),                                  # breached
]


def test_summarize_tallies_per_week_goal_and_team():
    weeks = [date(2026, 11, 23), date(2026, 11, 30)]
    report = summarize(FACTS, weeks, ZoneInfo("UTC"), NOW)
    first = [(line.week, line.met, line.met_late, line.breached, line.percent_met,
              line.median_minutes) for line in report.series("first_response")]
    assert first == [(weeks[0], 1, 1, 1, 33.3, 60.0), (weeks[1], 1, 0, 0, 100.0, 10.0)]
    close = [(line.breached, line.percent_met) for line in report.series("close")]
    assert close == [(0, None), (1, 0.0)]
    assert [line.team for line in report.lines] == [ALL_TEAMS] * 6
    assert [(line.week, line.goal, line.team, line.breached) for line in report.team_lines] == [
        (weeks[0], "first_response", "Billing", 0), (weeks[0], "first_response", "No team", 1),
        (weeks[1], "first_response", "Sales", 0), (weeks[1], "close", "Sales", 1)]
    assert [(t.team, t.breached, t.decided) for t in report.breaches_by_team] == [
        ("No team", 1, 1), ("Sales", 1, 2), ("Billing", 0, 2)]


def test_csv_has_the_same_numbers():
    weeks = [date(2026, 11, 23), date(2026, 11, 30)]
    report = summarize([*FACTS, fact("close", WEEK1, team="=HYPERLINK()", met_after=5)],
                       weeks, ZoneInfo("UTC"), NOW)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == ["2026-11-23", "first_response", "All teams", "1", "1", "1", "33.3", "60"]
    assert rows[2] == ["2026-11-23", "next_response", "All teams", "0", "0", "0", "", ""]
    assert rows[6] == ["2026-11-30", "close", "All teams", "0", "0", "1", "0", ""]
    assert ["2026-11-23", "close", "'=HYPERLINK()", "1", "0", "0", "100", "0"] in rows
    assert len(rows) == 1 + 6 + 5


def test_the_readme_example_is_the_documented_example():
    import json
    from pathlib import Path

    from sla.policy import EXAMPLE, SlaPolicy

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### SLA settings", 1)[1]
    document = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    assert SlaPolicy.model_validate(document) == SlaPolicy.model_validate(EXAMPLE)
    for field in ("mode", "calendars", "paused_statuses", "property", "goals", "values"):
        assert f"| `{field}` |" in section
