"""Working time on a weekly schedule with holidays, in one time zone.

Interface::

    from datetime import date, datetime, timedelta
    from sla.calendar import WorkingCalendar

    cal = WorkingCalendar(
        timezone="Europe/Stockholm",
        hours={"mon": [("09:00", "12:00"), ("13:00", "17:00")], ..., "sun": []},
        holidays=[date(2026, 12, 24), date(2026, 12, 25)],
    )
    always = WorkingCalendar.always()   # 24/7 in UTC: working time equals elapsed time

    cal.is_working(t)                  # -> bool
    cal.working_time(start, end)       # -> timedelta: working time inside [start, end)
    cal.add(start, amount)             # -> datetime (aware, in UTC)

Definition. An instant is working time exactly when its local wall-clock time in the
calendar's zone lies in ``[from, to)`` of one of the periods of its local weekday, and its
local date is not a holiday. Periods are ``("HH:MM", "HH:MM")`` pairs; a period may end at
``"24:00"``. Daylight saving time follows from the definition: a period that spans a skipped
hour is shorter that day, one that spans a repeated hour is longer (both occurrences of a
repeated wall time are working time when that wall time is inside a period).

- ``working_time(start, end)`` is the measure of working instants in ``[start, end)``, exact to
  the microsecond; it is zero when ``end <= start``.
- ``add(start, amount)`` is the earliest instant ``t >= start`` with
  ``working_time(start, t) == amount``. ``add(start, timedelta(0))`` equals ``start``. An amount
  that runs out exactly at the end of a period returns that end, not the start of the next
  period. The result is an aware datetime in UTC.
- Inputs may be aware datetimes in any zone. Naive datetimes, negative amounts, unknown time
  zones, unknown weekday keys (anything but ``mon`` ... ``sun``), malformed ``"HH:MM"``
  strings, and empty, reversed or overlapping periods raise ``ValueError`` naming the
  problem. A missing weekday key means no working time on that day. ``add`` raises
  ``OverflowError`` when the result would lie beyond ``datetime.max``, and ``ValueError`` for
  a positive amount on a calendar without any working hours.

How it is fast. The time line is cut into UTC calendar years. For each year the calendar
builds, once and on demand, its sorted working intervals, mapping each local day's periods to
UTC through the zone's runs of constant offset (which is where holidays and DST are applied),
and running sums of working time. The intervals are kept as UTC datetimes and the sums as
timedeltas, so a query converts nothing: ``working_time`` is two binary searches and a
subtraction, ``add`` a binary search on the intervals and one on the running sums. A bounded
number of years is kept; their totals are kept for good.

This module is pure: it reads no clock, performs no I/O and imports only the standard library.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WEEKDAYS", "WorkingCalendar"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday
_MINUTE_US = 60_000_000
_DAY_US = 1440 * _MINUTE_US
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _US
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _US
_MAX_CACHED_SPANS = 32
# In the IANA database no two changes of UTC offset in a zone are less than four days apart,
# so probing the offset once a day finds every change; bisection then finds its instant.
_PROBE_US = _DAY_US
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})")

Period = tuple[int, int]
"""A period of a day as microseconds after local midnight: ``[start, end)``."""


class _Span(NamedTuple):
    """The working intervals of one UTC calendar year, in order.

    Interval ``i`` is ``[starts[i], lasts[i]]``: ``lasts[i]`` is its last working microsecond,
    which unlike its end is always representable. ``before[i]`` is the year's working time
    before ``starts[i]``, ``after[i]`` the year's working time up to the end of interval ``i``,
    ``total`` the working time of the whole year.
    """

    starts: list[datetime]
    lasts: list[datetime]
    before: list[timedelta]
    after: list[timedelta]
    total: timedelta


def _as_utc(instant: datetime) -> datetime:
    """Return an aware datetime converted to UTC; ValueError if naive, TypeError if no datetime."""
    if not isinstance(instant, datetime):
        raise TypeError(f"expected an aware datetime, got {instant!r}")
    if instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: an aware datetime is required")
    return instant.astimezone(UTC)


def _refuse_amount(amount: timedelta) -> None:
    """Raise ValueError if ``amount`` is negative."""
    if amount < _ZERO:
        raise ValueError(f"negative amount {amount!r}: the amount to add must be >= 0")


def _from_us(instant_us: int) -> datetime:
    """Return microseconds since the epoch as an aware datetime in UTC."""
    return _EPOCH + _US * instant_us


def _cumulative(span: _Span, instant: datetime) -> timedelta:
    """Return the working time in ``span`` before ``instant`` (a UTC datetime in its year)."""
    index = bisect_left(span.lasts, instant)
    if index == len(span.lasts):
        return span.total
    start = span.starts[index]
    return span.before[index] + (instant - start) if instant > start else span.before[index]


def _between(span: _Span, low: datetime, high: datetime) -> timedelta:
    """Return the working time in ``span`` inside ``[low, high)`` (UTC, both in its year)."""
    starts, lasts, before, _, total = span
    first = bisect_left(lasts, low)
    last = bisect_left(lasts, high, first)
    if last == len(lasts):
        working = total
    else:
        start = starts[last]
        working = before[last] + (high - start) if high > start else before[last]
    if first == len(lasts):
        return working - total
    start = starts[first]
    return working - (before[first] + (low - start) if low > start else before[first])


def _year_bounds(year: int) -> tuple[int, int]:
    """Return the UTC year as microseconds ``[low, high)``; OverflowError outside 1..9999."""
    if not 1 <= year <= 9999:
        raise OverflowError("working time runs past the range of datetime")
    low = (datetime(year, 1, 1, tzinfo=UTC) - _EPOCH) // _US
    if year == 9999:
        return low, _MAX_US + 1
    return low, (datetime(year + 1, 1, 1, tzinfo=UTC) - _EPOCH) // _US


# --- configuration --------------------------------------------------------------------------


def _load_zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``; ValueError if there is none."""
    if not isinstance(name, str):
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Oslo'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Oslo'"
        ) from None


def _parse_clock(text: object, day: str) -> int:
    """Return an ``"HH:MM"`` string (00:00 to 24:00) as microseconds after midnight."""
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if match is not None:
        hour, minute = int(match[1]), int(match[2])
        if (hour < 24 and minute < 60) or (hour, minute) == (24, 0):
            return (hour * 60 + minute) * _MINUTE_US
    raise ValueError(f"bad time {text!r} on {day!r}: expected 'HH:MM' from '00:00' to '24:00'")


def _parse_period(period: object, day: str) -> Period:
    """Return one ``(from, to)`` pair of clock strings as a period; ValueError if malformed."""
    if isinstance(period, str) or not isinstance(period, Sequence) or len(period) != 2:
        raise ValueError(f"bad period {period!r} on {day!r}: expected a pair ('HH:MM', 'HH:MM')")
    start, end = _parse_clock(period[0], day), _parse_clock(period[1], day)
    if start >= end:
        raise ValueError(
            f"reversed period {tuple(period)!r} on {day!r}: a period must start before it ends"
        )
    return start, end


def _format_clock(offset_us: int) -> str:
    """Return microseconds after midnight as ``"HH:MM"``."""
    hours, minutes = divmod(offset_us // _MINUTE_US, 60)
    return f"{hours:02d}:{minutes:02d}"


def _parse_day(day: str, periods: Iterable[Sequence[str]]) -> tuple[Period, ...]:
    """Return a day's periods sorted, with touching ones joined; ValueError if they overlap."""
    if isinstance(periods, str) or not isinstance(periods, Iterable):
        raise ValueError(f"bad periods {periods!r} on {day!r}: expected a list of pairs")
    parsed = sorted(_parse_period(period, day) for period in periods)
    joined: list[Period] = []
    for start, end in parsed:
        if joined and start < joined[-1][1]:
            earlier = "-".join(map(_format_clock, joined[-1]))
            raise ValueError(
                f"overlapping periods on {day!r}: {earlier} and "
                f"{_format_clock(start)}-{_format_clock(end)}"
            )
        if joined and start == joined[-1][1]:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return tuple(joined)


def _parse_hours(hours: Mapping[str, Iterable[Sequence[str]]]) -> tuple[tuple[Period, ...], ...]:
    """Return the week's periods indexed by weekday (Monday is 0); ValueError on bad keys."""
    unknown = [key for key in hours if key not in WEEKDAYS]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown weekday key(s) {names}: expected {', '.join(WEEKDAYS)}")
    return tuple(_parse_day(day, hours.get(day, ())) for day in WEEKDAYS)


def _holiday_days(holidays: Iterable[date]) -> frozenset[int]:
    """Return holiday dates as day numbers since 1970-01-01; ValueError for a non-date."""
    days = set()
    for holiday in holidays:
        if isinstance(holiday, datetime) or not isinstance(holiday, date):
            raise ValueError(f"bad holiday {holiday!r}: expected a datetime.date")
        days.add(holiday.toordinal() - _EPOCH_ORDINAL)
    return frozenset(days)


# --- building spans -------------------------------------------------------------------------


def _offset_at(zone: ZoneInfo, instant_us: int) -> int:
    """Return the zone's UTC offset at an instant, in microseconds.

    Within two days of the ends of the datetime range the offset of the nearest instant at
    least two days inside is used, since the local time there may not be representable.
    """
    clamped = min(max(instant_us, _MIN_US + 2 * _DAY_US), _MAX_US - 2 * _DAY_US)
    offset = _from_us(clamped).astimezone(zone).utcoffset() or _ZERO
    return offset // _US


def _first_change(zone: ZoneInfo, low: int, high: int, offset: int) -> int:
    """Return the first instant in ``(low, high]`` whose offset is not ``offset``.

    ``low`` must have the offset and ``high`` must not.
    """
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def _offset_runs(zone: ZoneInfo, low: int, high: int) -> list[tuple[int, int, int]]:
    """Split the instants ``[low, high)`` into runs ``(start, end, offset)`` of one offset."""
    runs = []
    run_start, run_offset = low, _offset_at(zone, low)
    probe, last = low, high - 1
    while probe < last:
        step = min(probe + _PROBE_US, last)
        if _offset_at(zone, step) == run_offset:
            probe = step
            continue
        change = _first_change(zone, probe, step, run_offset)
        runs.append((run_start, change, run_offset))
        run_start, run_offset, probe = change, _offset_at(zone, change), change
    runs.append((run_start, high, run_offset))
    return runs


class _IntervalBuilder:
    """Collects working intervals in increasing order, joining those that touch."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def append(self, start: int, end: int) -> None:
        """Add ``[start, end)``, which must not begin before the last interval ends."""
        if self.ends and self.ends[-1] == start:
            self.ends[-1] = end
        else:
            self.starts.append(start)
            self.ends.append(end)

    def span(self) -> _Span:
        """Return the collected intervals as UTC datetimes, with their running sums."""
        starts, lasts, before, after = [], [], [], []
        total = 0
        for start, end in zip(self.starts, self.ends, strict=True):
            starts.append(_from_us(start))
            lasts.append(_from_us(end - 1))
            before.append(_US * total)
            total += end - start
            after.append(_US * total)
        return _Span(starts, lasts, before, after, _US * total)


def _add_run(
    week: tuple[tuple[Period, ...], ...],
    holidays: frozenset[int],
    run: tuple[int, int, int],
    out: _IntervalBuilder,
) -> None:
    """Add the working intervals of one run of constant UTC offset to ``out``.

    Within the run, wall time is the instant plus the offset, so each period of each local
    day meeting the run maps back to UTC by subtracting the offset.
    """
    run_start, run_end, offset = run
    wall_low, wall_high = run_start + offset, run_end + offset
    for day in range(wall_low // _DAY_US, (wall_high - 1) // _DAY_US + 1):
        if day in holidays:
            continue
        midnight = day * _DAY_US
        for start, end in week[(day + _EPOCH_WEEKDAY) % 7]:
            low = max(midnight + start, wall_low)
            high = min(midnight + end, wall_high)
            if low < high:
                out.append(low - offset, high - offset)


# --- the calendar ---------------------------------------------------------------------------


class WorkingCalendar:
    """Weekly working hours with holidays in one IANA time zone; see the module docstring.

    Instances are immutable from the outside. They cache the intervals of the years they
    were asked about (a bounded number of them); a year built twice comes out the same.
    """

    __slots__ = ("_zone", "_week", "_holidays", "_spans", "_totals")

    def __init__(
        self,
        timezone: str,
        hours: Mapping[str, Iterable[Sequence[str]]],
        holidays: Iterable[date] = (),
    ) -> None:
        """Validate the configuration; ValueError names the first problem found."""
        self._zone = _load_zone(timezone)
        self._week = _parse_hours(hours)
        self._holidays = _holiday_days(holidays)
        self._spans: dict[int, _Span] = {}
        self._totals: dict[int, timedelta] = {}

    @classmethod
    def always(cls) -> WorkingCalendar:
        """Return the 24/7 calendar (in UTC), whose working time equals elapsed time."""
        return cls("UTC", {day: [("00:00", "24:00")] for day in WEEKDAYS})

    @property
    def timezone(self) -> str:
        """The IANA name of the calendar's zone."""
        return self._zone.key

    @property
    def holidays(self) -> frozenset[date]:
        """The holiday dates."""
        return frozenset(date.fromordinal(day + _EPOCH_ORDINAL) for day in self._holidays)

    @property
    def hours(self) -> dict[str, list[tuple[str, str]]]:
        """The weekly periods as ``"HH:MM"`` pairs, sorted, touching periods joined."""
        return {
            day: [(_format_clock(start), _format_clock(end)) for start, end in periods]
            for day, periods in zip(WEEKDAYS, self._week, strict=True)
        }

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(timezone={self.timezone!r}, hours={self.hours!r}, "
            f"holidays={sorted(self.holidays)!r})"
        )

    def is_working(self, instant: datetime) -> bool:
        """Return whether the aware ``instant`` is working time; ValueError if naive."""
        if instant.tzinfo is not UTC:
            instant = _as_utc(instant)
        span = self._spans.get(instant.year) or self._build(instant.year)
        index = bisect_left(span.lasts, instant)
        return index < len(span.lasts) and span.starts[index] <= instant

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time inside ``[start, end)``; zero when ``end <= start``.

        ValueError if either datetime is naive.
        """
        if start.tzinfo is not UTC:
            start = _as_utc(start)
        if end.tzinfo is not UTC:
            end = _as_utc(end)
        if end <= start:
            return _ZERO
        year = start.year
        if end.year != year:
            return self._working_across(start, end)
        return _between(self._spans.get(year) or self._build(year), start, end)

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """Return the earliest ``t >= start`` with ``working_time(start, t) == amount``, in UTC.

        ValueError for a naive ``start``, a negative ``amount``, or a positive ``amount`` on a
        calendar without working hours; OverflowError past ``datetime.max``.
        """
        if start.tzinfo is not UTC:
            start = _as_utc(start)
        if amount <= _ZERO:
            _refuse_amount(amount)
            return start
        year = start.year
        starts, lasts, before, after, total = self._spans.get(year) or self._build(year)
        index = bisect_left(lasts, start)
        if index == len(lasts):
            target = total + amount
        elif start > starts[index]:
            target = before[index] + (start - starts[index]) + amount
        else:
            target = before[index] + amount
        if target > total:
            return self._add_across(year + 1, target - total)
        found = bisect_left(after, target, index)
        return starts[found] + (target - before[found])

    def _working_across(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time in ``[start, end)`` (UTC) when it covers several years."""
        head = self._span(start.year)
        total = head.total - _cumulative(head, start)
        for year in range(start.year + 1, end.year):
            total += self._total(year)
        return total + _cumulative(self._span(end.year), end)

    def _add_across(self, year: int, target: timedelta) -> datetime:
        """Return the instant where ``target`` working time counted from ``year`` runs out."""
        if not any(self._week):
            raise ValueError("the calendar has no working hours, so no amount can be added")
        total = self._total(year)
        while target > total:
            target -= total
            year += 1
            total = self._total(year)
        span = self._span(year)
        found = bisect_left(span.after, target)
        return span.starts[found] + (target - span.before[found])

    def _span(self, year: int) -> _Span:
        """Return the working intervals of the UTC ``year``, building them if needed."""
        span = self._spans.get(year)
        if span is None:
            span = self._build(year)
        return span

    def _total(self, year: int) -> timedelta:
        """Return the working time of the UTC ``year``."""
        total = self._totals.get(year)
        if total is None:
            total = self._build(year).total
        return total

    def _build(self, year: int) -> _Span:
        """Build the UTC ``year`` from the zone, the week and the holidays, and cache it."""
        low, high = _year_bounds(year)
        out = _IntervalBuilder()
        for run in _offset_runs(self._zone, low, high):
            _add_run(self._week, self._holidays, run, out)
        span = out.span()
        if len(self._spans) >= _MAX_CACHED_SPANS:
            self._spans.pop(next(iter(self._spans)), None)
        self._spans[year] = span
        self._totals[year] = span.total
        return span
