"""Tests for sla.calendar: tables for the common cases, properties against a brute-force oracle.

The oracle applies the definition directly: an instant is working time when its local
wall-clock time lies in a period of its local weekday and its local date is not a holiday.
It steps minute by minute, so the property tests use minute-aligned instants and amounts,
and zones whose offsets are whole minutes in the years tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.calendar import WEEKDAYS, WorkingCalendar
from sla.holidays import calendar_from_config, country_holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
US = timedelta(microseconds=1)
H = timedelta(hours=1)

OFFICE_DAY = [("09:00", "12:00"), ("13:00", "17:00")]
OFFICE = WorkingCalendar(
    timezone="Europe/Stockholm",
    hours={day: OFFICE_DAY for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=[date(2026, 12, 24), date(2026, 12, 25)],
)
ALWAYS = WorkingCalendar.always()

PROPERTY = settings(max_examples=60, deadline=None, database=None)


def sto(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    """Return a wall-clock time in Stockholm."""
    return datetime(year, month, day, hour, minute, second, microsecond, STOCKHOLM, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Return an instant given in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def daily(zone: str, *periods: tuple[str, str]) -> WorkingCalendar:
    """Return a calendar with the same periods every day of the week."""
    return WorkingCalendar(zone, {day: list(periods) for day in WEEKDAYS})


# --- tables ---------------------------------------------------------------------------------

# 2026-03-02 is a Monday; 2026-03-06 a Friday; 2026-12-24 a Thursday (a holiday).
IS_WORKING = [
    (sto(2026, 3, 2, 8, 59, 59, 999999), False),
    (sto(2026, 3, 2, 9, 0), True),
    (sto(2026, 3, 2, 11, 59, 59, 999999), True),
    (sto(2026, 3, 2, 12, 0), False),
    (sto(2026, 3, 2, 12, 59), False),
    (sto(2026, 3, 2, 13, 0), True),
    (sto(2026, 3, 2, 16, 59, 59, 999999), True),
    (sto(2026, 3, 2, 17, 0), False),
    (sto(2026, 3, 7, 10, 0), False),
    (sto(2026, 3, 8, 10, 0), False),
    (sto(2026, 12, 23, 10, 0), True),
    (sto(2026, 12, 24, 10, 0), False),
    (sto(2026, 12, 25, 10, 0), False),
    (utc(2026, 3, 2, 8, 0), True),  # 09:00 in Stockholm (UTC+1)
    (utc(2026, 3, 2, 7, 59), False),
    (datetime(2026, 3, 2, 3, 0, tzinfo=NEW_YORK), True),  # 09:00 in Stockholm
]


@pytest.mark.parametrize(("instant", "expected"), IS_WORKING)
def test_is_working(instant: datetime, expected: bool) -> None:
    assert OFFICE.is_working(instant) is expected


WORKING_TIME = [
    (sto(2026, 3, 2, 9, 0), sto(2026, 3, 2, 17, 0), 7 * H),
    (sto(2026, 3, 2, 0, 0), sto(2026, 3, 3, 0, 0), 7 * H),
    (sto(2026, 3, 2, 11, 0), sto(2026, 3, 2, 14, 0), 2 * H),
    (sto(2026, 3, 2, 12, 0), sto(2026, 3, 2, 13, 0), timedelta(0)),
    (sto(2026, 3, 2, 9, 0), sto(2026, 3, 9, 9, 0), 35 * H),
    (sto(2026, 3, 6, 16, 0), sto(2026, 3, 9, 10, 0), 2 * H),
    (sto(2026, 3, 7, 0, 0), sto(2026, 3, 9, 0, 0), timedelta(0)),
    (sto(2026, 12, 21, 0, 0), sto(2026, 12, 28, 0, 0), 21 * H),
    (sto(2026, 3, 2, 9, 0, 0, 1), sto(2026, 3, 2, 9, 0, 0, 2), US),
    (sto(2026, 3, 2, 10, 0), sto(2026, 3, 2, 10, 0), timedelta(0)),
    (sto(2026, 3, 2, 11, 0), sto(2026, 3, 2, 10, 0), timedelta(0)),
    (utc(2026, 3, 2, 8, 0), sto(2026, 3, 2, 12, 0), 3 * H),
    (sto(2026, 1, 1, 0, 0), sto(2027, 1, 1, 0, 0), (261 - 2) * 7 * H),
    (sto(2020, 1, 1, 0, 0), sto(2030, 1, 1, 0, 0), (2609 - 2) * 7 * H),
]


@pytest.mark.parametrize(("start", "end", "expected"), WORKING_TIME)
def test_working_time(start: datetime, end: datetime, expected: timedelta) -> None:
    assert OFFICE.working_time(start, end) == expected


ADD = [
    (sto(2026, 3, 7, 10, 0), timedelta(0), sto(2026, 3, 7, 10, 0)),
    (sto(2026, 3, 2, 9, 0), 3 * H, sto(2026, 3, 2, 12, 0)),
    (sto(2026, 3, 2, 9, 0), 3 * H + US, sto(2026, 3, 2, 13, 0, 0, 1)),
    (sto(2026, 3, 2, 9, 0), 7 * H, sto(2026, 3, 2, 17, 0)),
    (sto(2026, 3, 2, 8, 0), MINUTE, sto(2026, 3, 2, 9, 1)),
    (sto(2026, 3, 2, 12, 30), H, sto(2026, 3, 2, 14, 0)),
    (sto(2026, 3, 6, 16, 0), 2 * H, sto(2026, 3, 9, 10, 0)),
    (sto(2026, 3, 7, 12, 0), H, sto(2026, 3, 9, 10, 0)),
    (sto(2026, 12, 23, 16, 0), 2 * H, sto(2026, 12, 28, 10, 0)),
    (sto(2026, 3, 2, 9, 0), 35 * H, sto(2026, 3, 6, 17, 0)),
    (sto(2026, 1, 1, 0, 0), (261 - 2) * 7 * H, sto(2026, 12, 31, 17, 0)),
    (utc(2026, 3, 2, 8, 0), H, utc(2026, 3, 2, 9, 0)),
]


@pytest.mark.parametrize(("start", "amount", "expected"), ADD)
def test_add(start: datetime, amount: timedelta, expected: datetime) -> None:
    result = OFFICE.add(start, amount)
    assert result == expected
    assert result.tzinfo is UTC


NIGHT = WorkingCalendar(
    "Europe/Stockholm", {"sun": [("22:00", "24:00")], "mon": [("00:00", "02:00")]}
)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (lambda: NIGHT.is_working(sto(2026, 3, 1, 23, 59, 59, 999999)), True),
        (lambda: NIGHT.is_working(sto(2026, 3, 2, 0, 0)), True),
        (lambda: NIGHT.is_working(sto(2026, 3, 2, 2, 0)), False),
        (lambda: NIGHT.working_time(sto(2026, 3, 1), sto(2026, 3, 3)), 4 * H),
        (lambda: NIGHT.add(sto(2026, 3, 1, 12, 0), 2 * H), sto(2026, 3, 2, 0, 0)),
        (lambda: NIGHT.add(sto(2026, 3, 1, 23, 0), 2 * H), sto(2026, 3, 2, 1, 0)),
        (lambda: NIGHT.add(sto(2026, 3, 2, 1, 0), 2 * H), sto(2026, 3, 8, 23, 0)),
        (lambda: NIGHT.hours["sun"], [("22:00", "24:00")]),
        (lambda: ALWAYS.working_time(utc(2026, 1, 1), utc(2026, 2, 1)), 31 * 24 * H),
    ],
)
def test_periods_ending_at_midnight(check: Callable[[], object], expected: object) -> None:
    assert check() == expected


# Local days on which clocks change. Stockholm: 02:00 -> 03:00 on 2026-03-29 and
# 03:00 -> 02:00 on 2026-10-25; New York: 02:00 -> 03:00 on 2026-03-08, 02:00 -> 01:00 on
# 2026-11-01; Lord Howe: 02:00 -> 01:30 on 2026-04-05, 02:00 -> 02:30 on 2026-10-04.
DST = [
    ("Europe/Stockholm", ("01:00", "04:00"), date(2026, 3, 29), 2 * H),
    ("Europe/Stockholm", ("01:00", "04:00"), date(2026, 10, 25), 4 * H),
    ("Europe/Stockholm", ("02:00", "03:00"), date(2026, 3, 29), timedelta(0)),
    ("Europe/Stockholm", ("02:15", "02:45"), date(2026, 10, 25), H),
    ("Europe/Stockholm", ("00:00", "24:00"), date(2026, 3, 29), 23 * H),
    ("Europe/Stockholm", ("00:00", "24:00"), date(2026, 10, 25), 25 * H),
    ("America/New_York", ("01:30", "01:45"), date(2026, 11, 1), 30 * MINUTE),
    ("America/New_York", ("02:30", "05:00"), date(2026, 3, 8), 2 * H),
    ("Australia/Lord_Howe", ("01:00", "03:00"), date(2026, 4, 5), 150 * MINUTE),
    ("Australia/Lord_Howe", ("01:00", "03:00"), date(2026, 10, 4), 90 * MINUTE),
    ("Australia/Lord_Howe", ("00:00", "24:00"), date(2026, 4, 5), 24 * H + 30 * MINUTE),
    ("Asia/Tokyo", ("00:00", "24:00"), date(2026, 3, 29), 24 * H),
]


@pytest.mark.parametrize(("zone", "period", "day", "expected"), DST)
def test_daylight_saving_days(
    zone: str, period: tuple[str, str], day: date, expected: timedelta
) -> None:
    calendar = daily(zone, period)
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    assert calendar.working_time(start, end) == expected
    assert calendar.add(start, expected) <= end
    assert calendar.working_time(start, calendar.add(start, expected)) == expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (sto(2026, 10, 25, 2, 30, fold=0), True),  # first 02:30, UTC+2
        (sto(2026, 10, 25, 2, 30, fold=1), True),  # second 02:30, UTC+1
        (sto(2026, 10, 25, 3, 0), False),
        (sto(2026, 3, 29, 3, 0), False),
        (utc(2026, 3, 29, 0, 59), False),
        (utc(2026, 3, 29, 1, 0), False),
        (utc(2026, 10, 25, 0, 0) - US, False),  # 01:59:59.999999, UTC+2
        (utc(2026, 10, 25, 0, 0), True),  # 02:00, UTC+2
        (utc(2026, 10, 25, 1, 0) - US, True),  # 02:59:59.999999, UTC+2
        (utc(2026, 10, 25, 1, 0), True),  # 02:00 again, UTC+1
        (utc(2026, 10, 25, 2, 0) - US, True),  # 02:59:59.999999, UTC+1
        (utc(2026, 10, 25, 2, 0), False),  # 03:00, UTC+1
    ],
)
def test_repeated_hour_is_working_twice(instant: datetime, expected: bool) -> None:
    assert daily("Europe/Stockholm", ("02:00", "03:00")).is_working(instant) is expected


def test_skipped_start_begins_when_the_gap_ends() -> None:
    calendar = daily("Europe/Stockholm", ("02:30", "05:00"))
    assert calendar.add(sto(2026, 3, 29, 0, 0), MINUTE) == utc(2026, 3, 29, 1, 1)
    assert not calendar.is_working(utc(2026, 3, 29, 0, 59))


HOURS_ERRORS = [
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"timezone": ""}, "unknown time zone ''"),
    ({"timezone": "../etc/passwd"}, "unknown time zone"),
    ({"hours": {"monday": [("09:00", "17:00")]}}, "unknown weekday key(s) 'monday'"),
    ({"hours": {"Mon": []}}, "unknown weekday key(s) 'Mon'"),
    ({"hours": {"mon": [("9:00", "17:00")]}}, "bad time '9:00' on 'mon'"),
    ({"hours": {"mon": [("09:00", "25:00")]}}, "bad time '25:00' on 'mon'"),
    ({"hours": {"mon": [("09:00", "24:01")]}}, "bad time '24:01' on 'mon'"),
    ({"hours": {"mon": [("09:60", "17:00")]}}, "bad time '09:60' on 'mon'"),
    ({"hours": {"mon": [("09:00 ", "17:00")]}}, "bad time '09:00 ' on 'mon'"),
    ({"hours": {"mon": [(900, "17:00")]}}, "bad time 900 on 'mon'"),
    ({"hours": {"tue": [("17:00", "09:00")]}}, "reversed period ('17:00', '09:00') on 'tue'"),
    ({"hours": {"tue": [("09:00", "09:00")]}}, "reversed period ('09:00', '09:00') on 'tue'"),
    ({"hours": {"tue": [("24:00", "24:00")]}}, "reversed period"),
    (
        {"hours": {"wed": [("09:00", "12:00"), ("11:00", "13:00")]}},
        "overlapping periods on 'wed': 09:00-12:00 and 11:00-13:00",
    ),
    ({"hours": {"wed": [("09:00", "12:00", "13:00")]}}, "bad period"),
    ({"hours": {"wed": ["09:00-12:00"]}}, "bad period '09:00-12:00' on 'wed'"),
    ({"hours": {"wed": "09:00-12:00"}}, "bad periods '09:00-12:00' on 'wed'"),
    ({"holidays": [datetime(2026, 12, 24, tzinfo=UTC)]}, "bad holiday"),
    ({"holidays": ["2026-12-24"]}, "bad holiday '2026-12-24'"),
]


@pytest.mark.parametrize(("changes", "message"), HOURS_ERRORS)
def test_bad_configuration_is_refused(changes: dict[str, object], message: str) -> None:
    config: dict[str, object] = {"timezone": "Europe/Stockholm", "hours": {}, "holidays": ()}
    config.update(changes)
    with pytest.raises(ValueError) as raised:
        WorkingCalendar(**config)  # type: ignore[arg-type]
    assert message in str(raised.value)


NAIVE = datetime(2026, 3, 2, 10, 0)  # noqa: DTZ001 - a naive datetime on purpose


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: OFFICE.is_working(NAIVE), "naive datetime"),
        (lambda: OFFICE.working_time(NAIVE, utc(2026, 3, 3)), "naive datetime"),
        (lambda: OFFICE.working_time(utc(2026, 3, 1), NAIVE), "naive datetime"),
        (lambda: OFFICE.add(NAIVE, H), "naive datetime"),
        (lambda: OFFICE.add(utc(2026, 3, 2), -US), "negative amount"),
        (lambda: WorkingCalendar("UTC", {}).add(utc(2026, 3, 2), H), "no working hours"),
    ],
)
def test_bad_arguments_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_calendar_has_no_working_time() -> None:
    calendar = WorkingCalendar("Europe/Stockholm", {"sat": []})
    assert calendar.working_time(utc(2000, 1, 1), utc(2001, 1, 1)) == timedelta(0)
    assert calendar.add(utc(2026, 3, 2), timedelta(0)) == utc(2026, 3, 2)


def test_configuration_is_readable() -> None:
    assert OFFICE.timezone == "Europe/Stockholm"
    assert OFFICE.holidays == {date(2026, 12, 24), date(2026, 12, 25)}
    assert OFFICE.hours["mon"] == OFFICE_DAY
    assert OFFICE.hours["sun"] == []
    touching = WorkingCalendar("UTC", {"mon": [("12:00", "13:00"), ("09:00", "12:00")]})
    assert touching.hours["mon"] == [("09:00", "13:00")]
    assert "Europe/Stockholm" in repr(OFFICE)


def test_far_dates() -> None:
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    assert ALWAYS.working_time(first, first + 1000 * H) == 1000 * H
    assert ALWAYS.add(last - H, H) == last
    assert OFFICE.working_time(first, first + timedelta(days=14)) == 10 * 7 * H
    assert OFFICE.working_time(last - timedelta(days=14), last) == 10 * 7 * H
    assert OFFICE.add(sto(3000, 1, 1), 7 * H) == sto(3000, 1, 1, 17, 0)  # a Wednesday
    with pytest.raises(OverflowError):
        ALWAYS.add(last - H, 2 * H)
    with pytest.raises(OverflowError):
        OFFICE.add(last - timedelta(days=3), 100 * H)


def test_long_ranges_cross_many_spans() -> None:
    start = utc(1900, 1, 1)
    assert ALWAYS.working_time(start, utc(2100, 1, 1)) == utc(2100, 1, 1) - start
    assert ALWAYS.add(start, utc(2100, 1, 1) - start) == utc(2100, 1, 1)
    amount = 50_000 * H
    assert OFFICE.working_time(start, OFFICE.add(start, amount)) == amount


@pytest.mark.parametrize(
    ("country", "subdivision", "day", "expected"),
    [
        ("SE", None, date(2026, 6, 6), True),  # National Day
        ("se", None, date(2026, 12, 25), True),
        ("SE", None, date(2026, 12, 23), False),
        ("US", "CA", date(2026, 3, 31), True),  # Cesar Chavez Day
        ("US", "NY", date(2026, 3, 31), False),
        ("US", None, date(2026, 7, 3), True),  # Independence Day observed
    ],
)
def test_country_holidays(country: str, subdivision: str | None, day: date, expected: bool) -> None:
    assert (day in country_holidays(country, subdivision, years=[2026])) is expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"holiday_country": "XX"}, "unknown holiday country 'XX'"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "subdivision 'ZZ'"),
        ({"holiday_subdivision": "CA"}, "without a holiday country"),
    ],
)
def test_unknown_holiday_regions_are_refused(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calendar_from_config("Europe/Stockholm", {}, **config)


def test_calendar_from_config_joins_own_and_public_holidays() -> None:
    calendar = calendar_from_config(
        "Europe/Stockholm",
        {day: OFFICE_DAY for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=[date(2026, 12, 24)],
        holiday_country="SE",
        years=[2026],
    )
    assert {date(2026, 12, 24), date(2026, 12, 25), date(2026, 6, 6)} <= calendar.holidays
    assert calendar.working_time(sto(2026, 12, 21), sto(2026, 12, 28)) == 3 * 7 * H


# --- the oracle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A calendar configuration, kept so the oracle can read it directly."""

    zone: str
    hours: dict[str, list[tuple[str, str]]]
    holidays: frozenset[date]

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.zone, self.hours, self.holidays)


def clock_us(text: str) -> int:
    hours, minutes = text.split(":")
    return (int(hours) * 60 + int(minutes)) * 60_000_000


def oracle_is_working(spec: Spec, instant: datetime) -> bool:
    """The definition, read literally."""
    local = instant.astimezone(ZoneInfo(spec.zone))
    if local.date() in spec.holidays:
        return False
    wall = local - datetime.combine(local.date(), time(0), local.tzinfo)
    wall_us = wall // US
    periods = spec.hours.get(WEEKDAYS[local.weekday()], [])
    return any(clock_us(start) <= wall_us < clock_us(end) for start, end in periods)


def oracle_working_time(spec: Spec, start: datetime, end: datetime) -> timedelta:
    """Count working minutes one by one (for minute-aligned instants)."""
    total, minute = timedelta(0), start
    while minute < end:
        total += MINUTE if oracle_is_working(spec, minute) else timedelta(0)
        minute += MINUTE
    return total


def oracle_add(spec: Spec, start: datetime, amount: timedelta, limit: datetime) -> datetime | None:
    """Step minute by minute until ``amount`` is used up; None if ``limit`` comes first."""
    used, minute = timedelta(0), start
    while used < amount:
        if minute >= limit:
            return None
        if oracle_is_working(spec, minute):
            used += MINUTE
        minute += MINUTE
    return minute


# Instants at which clocks change in 2026 (and one in a zone without DST).
ANCHORS = [
    ("Europe/Stockholm", utc(2026, 3, 29, 1, 0)),
    ("Europe/Stockholm", utc(2026, 10, 25, 1, 0)),
    ("America/New_York", utc(2026, 3, 8, 7, 0)),
    ("America/New_York", utc(2026, 11, 1, 6, 0)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15, 0)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),
    ("Asia/Tokyo", utc(2026, 3, 29, 0, 0)),
]


@pytest.mark.parametrize(("zone", "anchor"), ANCHORS[:-1])
def test_anchors_are_clock_changes(zone: str, anchor: datetime) -> None:
    tz = ZoneInfo(zone)
    assert (anchor - US).astimezone(tz).utcoffset() != anchor.astimezone(tz).utcoffset()


def day_periods() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Up to three periods on half-hour boundaries, possibly ending at 24:00."""

    def pair_up(points: list[int]) -> list[tuple[str, str]]:
        points = sorted(points)[: len(points) // 2 * 2]
        texts = [f"{p // 2:02d}:{p % 2 * 30:02d}" for p in points]
        return list(zip(texts[::2], texts[1::2], strict=True))

    return st.lists(st.integers(0, 48), min_size=0, max_size=6, unique=True).map(pair_up)


@st.composite
def specs_near_anchor(draw: st.DrawFn) -> tuple[Spec, datetime]:
    """A random calendar in an anchor's zone, and the anchor."""
    zone, anchor = draw(st.sampled_from(ANCHORS))
    hours = {day: draw(day_periods()) for day in WEEKDAYS}
    local_day = anchor.astimezone(ZoneInfo(zone)).date()
    holidays = draw(st.frozensets(st.integers(-3, 3).map(lambda n: local_day + timedelta(n))))
    return Spec(zone, hours, holidays), anchor


def minutes(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda n: n * MINUTE)


@PROPERTY
@given(specs_near_anchor(), minutes(-3 * 1440, 3 * 1440), minutes(0, 2 * 1440))
def test_working_time_matches_oracle(
    case: tuple[Spec, datetime], offset: timedelta, length: timedelta
) -> None:
    spec, anchor = case
    start = anchor + offset
    assert spec.calendar().working_time(start, start + length) == oracle_working_time(
        spec, start, start + length
    )


@PROPERTY
@given(specs_near_anchor(), minutes(-3 * 1440, 3 * 1440), minutes(0, 12 * 60))
def test_add_matches_oracle(
    case: tuple[Spec, datetime], offset: timedelta, amount: timedelta
) -> None:
    spec, anchor = case
    start, calendar = anchor + offset, spec.calendar()
    limit = start + timedelta(days=3)
    expected = oracle_add(spec, start, amount, limit)
    if expected is None:
        assert calendar.working_time(start, limit) < amount
    else:
        assert calendar.add(start, amount) == expected


@PROPERTY
@given(specs_near_anchor(), st.integers(-4 * 86_400_000_000, 4 * 86_400_000_000))
def test_is_working_matches_definition(case: tuple[Spec, datetime], offset_us: int) -> None:
    spec, anchor = case
    instant = anchor + offset_us * US
    assert spec.calendar().is_working(instant) is oracle_is_working(spec, instant)


ZONES = ["Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "Asia/Tokyo", "UTC"]


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    """A random calendar with some working hours, and random holidays in 2024-2030."""
    hours = {day: draw(day_periods()) for day in WEEKDAYS}
    if not any(hours.values()):
        hours["wed"] = [("10:00", "11:00")]
    holidays = draw(st.lists(st.dates(date(2024, 1, 1), date(2030, 12, 31)), max_size=30))
    return WorkingCalendar(draw(st.sampled_from(ZONES)), hours, holidays)


instants = st.integers(
    (utc(2024, 1, 1) - utc(1970, 1, 1)) // US, (utc(2030, 1, 1) - utc(1970, 1, 1)) // US
).map(lambda n: utc(1970, 1, 1) + n * US)
amounts = st.integers(0, 300 * 3_600_000_000).map(lambda n: n * US)


@PROPERTY
@given(calendars(), instants, instants, instants)
def test_working_time_is_additive(
    calendar: WorkingCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted([a, b, c])
    assert calendar.working_time(a, c) == calendar.working_time(a, b) + calendar.working_time(b, c)
    assert timedelta(0) <= calendar.working_time(a, b) <= b - a
    assert calendar.working_time(c, a) == timedelta(0)


@PROPERTY
@given(calendars(), instants, amounts)
def test_add_is_the_earliest_inverse(
    calendar: WorkingCalendar, start: datetime, amount: timedelta
) -> None:
    result = calendar.add(start, amount)
    assert result >= start
    assert result.tzinfo is UTC
    assert calendar.working_time(start, result) == amount
    if amount:
        assert calendar.working_time(start, result - US) < amount
        assert calendar.is_working(result - US)


@PROPERTY
@given(calendars(), instants, instants)
def test_add_stops_where_the_working_time_ends(
    calendar: WorkingCalendar, a: datetime, b: datetime
) -> None:
    a, b = sorted([a, b])
    result = calendar.add(a, calendar.working_time(a, b))
    assert a <= result <= b
    assert calendar.working_time(result, b) == timedelta(0)


@PROPERTY
@given(calendars(), instants, amounts, st.sampled_from(ZONES))
def test_results_do_not_depend_on_the_input_zone(
    calendar: WorkingCalendar, start: datetime, amount: timedelta, zone: str
) -> None:
    moved = start.astimezone(ZoneInfo(zone))
    assert calendar.add(moved, amount) == calendar.add(start, amount)
    end = start + amount
    assert calendar.working_time(moved, end) == calendar.working_time(start, end)
    assert calendar.is_working(moved) is calendar.is_working(start)


far_instants = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, STOCKHOLM]),
)


@PROPERTY
@given(far_instants, st.integers(0, 5 * 10**14).map(lambda n: n * US))
def test_always_is_elapsed_time(start: datetime, length: timedelta) -> None:
    length = min(length, datetime.max.replace(tzinfo=UTC) - start)
    end = start.astimezone(UTC) + length
    assert ALWAYS.working_time(start, end) == length
    assert ALWAYS.add(start, length) == end
    assert ALWAYS.is_working(start)
