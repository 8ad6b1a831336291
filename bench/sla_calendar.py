"""Throughput of sla.calendar against businesstimedelta and pandas' CustomBusinessHour.

Run: .venv/bin/python bench/sla_calendar.py   (also run by ``make bench``)

Calendar: Europe/Stockholm, Monday to Friday 09:00-12:00 and 13:00-17:00, 15 holidays a year.
Workload: random starts (whole seconds, UTC) over 2026; ``add`` amounts from one minute to 30
working days; ``working_time`` ends from one minute to 42 days after the start.

The peers get the same rules. businesstimedelta: WorkDayRule + LunchTimeRule + HolidayRule in
the same zone, through a ZoneInfo that has pytz's ``localize`` (the one method the library
needs from a zone), holidays as a set. pandas: a CustomBusinessHour with two periods a day and
the holidays; it counts whole hours, so it gets the amounts rounded up to whole hours, its
offsets are built once per hour count and its starts converted to Timestamps in the zone
beforehand: the timed call is only ``Timestamp + offset``. pandas has no business-time
difference, so it is measured for ``add`` only.

The peers do well under a thousand calls a second, so they run on a small sample. This
machine is shared and noisy, so the contenders run interleaved, in rounds: a slice of each in
turn, times summed per contender. The ratios are what count. Each peer's answers are checked
against sla.calendar and the agreement printed. Exits 0; prints whether each target is met.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import businesstimedelta as btd
import pandas as pd

from sla.calendar import WorkingCalendar

ZONE = "Europe/Stockholm"
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
PERIODS = [("09:00", "12:00"), ("13:00", "17:00")]
YEAR = 2026
ROUNDS = 12
OURS_PER_ROUND = 25_000
PEER_PER_ROUND = 25
TARGET_RATE = 150_000
TARGET_RATIO = 200


def holiday_dates(years: Sequence[int], per_year: int = 15) -> list[date]:
    """Return ``per_year`` random weekdays of each year (seeded: every run is the same)."""
    rng = random.Random(15)
    dates: list[date] = []
    for year in years:
        days = [date(year, 1, 1) + timedelta(n) for n in range(365)]
        dates += rng.sample([d for d in days if d.weekday() < 5], per_year)
    return sorted(dates)


@dataclass(frozen=True)
class Workload:
    """Inputs shared by every contender."""

    starts: list[datetime]
    amounts: list[timedelta]
    ends: list[datetime]


def make_workload(count: int) -> Workload:
    """Return ``count`` random starts in YEAR, add amounts and working_time ends."""
    rng = random.Random(2026)
    year_start = datetime(YEAR, 1, 1, tzinfo=UTC)
    seconds_in_year = (datetime(YEAR + 1, 1, 1, tzinfo=UTC) - year_start).days * 86_400
    starts = [year_start + timedelta(seconds=rng.randrange(seconds_in_year)) for _ in range(count)]
    amounts = [timedelta(minutes=rng.randint(1, 30 * 7 * 60)) for _ in range(count)]
    ends = [s + timedelta(minutes=rng.randint(1, 42 * 24 * 60)) for s in starts]
    return Workload(starts, amounts, ends)


@dataclass
class Contender:
    """One operation of one library: ``batch(indices)`` answers those workload items."""

    name: str
    batch: Callable[[range], list[Any]]
    per_round: int
    calls: int = 0
    seconds: float = 0.0
    answers: list[tuple[int, Any]] = field(default_factory=list)
    keep_answers: bool = False

    def run_round(self, round_number: int, items: int) -> None:
        """Time the next slice of ``per_round`` items (``items`` must be a multiple of it)."""
        first = (round_number * self.per_round) % items
        indices = range(first, first + self.per_round)
        began = time.perf_counter()
        results = self.batch(indices)
        self.seconds += time.perf_counter() - began
        self.calls += len(indices)
        if self.keep_answers:
            self.answers += zip(indices, results, strict=True)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


def one_by_one(call: Callable[[int], Any]) -> Callable[[range], list[Any]]:
    """Return a batch that calls ``call(i)`` for each index."""
    return lambda indices: [call(i) for i in indices]


# --- the contenders -------------------------------------------------------------------------


def ours(calendar: WorkingCalendar, work: Workload) -> tuple[Contender, Contender]:
    """Return sla.calendar's add and working_time, called straight on the input pairs."""
    add, working_time = calendar.add, calendar.working_time
    add_pairs = list(zip(work.starts, work.amounts, strict=True))
    span_pairs = list(zip(work.starts, work.ends, strict=True))

    def adds(indices: range) -> list[datetime]:
        return [add(start, amount) for start, amount in add_pairs[indices.start : indices.stop]]

    def working_times(indices: range) -> list[timedelta]:
        return [working_time(s, e) for s, e in span_pairs[indices.start : indices.stop]]

    return (
        Contender("add", adds, OURS_PER_ROUND),
        Contender("working_time", working_times, OURS_PER_ROUND),
    )


class LocalizingZone(ZoneInfo):
    """A ZoneInfo with pytz's ``localize``, which businesstimedelta calls on its zone."""

    def localize(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self)


def businesstimedelta(work: Workload, holidays: list[date]) -> tuple[Contender, Contender]:
    """Return businesstimedelta's add and working_time under the benchmark's rules."""
    zone = LocalizingZone(ZONE)
    weekdays = [0, 1, 2, 3, 4]
    rules = btd.Rules(
        [
            btd.WorkDayRule(clock(9), clock(17), working_days=weekdays, tz=zone),
            btd.LunchTimeRule(clock(12), clock(13), working_days=weekdays, tz=zone),
            btd.HolidayRule(set(holidays), tz=zone),
        ]
    )

    def add(i: int) -> datetime:
        return btd.BusinessTimeDelta(rules, timedelta=work.amounts[i]) + work.starts[i]

    def working_time(i: int) -> timedelta:
        return rules.difference(work.starts[i], work.ends[i]).timedelta

    return (
        Contender("businesstimedelta", one_by_one(add), PEER_PER_ROUND, keep_answers=True),
        Contender("businesstimedelta", one_by_one(working_time), PEER_PER_ROUND, keep_answers=True),
    )


def whole_hours(amount: timedelta) -> int:
    """Return ``amount`` rounded up to whole hours, at least one."""
    return max(1, -(-amount // timedelta(hours=1)))


def pandas_add(work: Workload, holidays: list[date], sample: int) -> Contender:
    """Return pandas' ``Timestamp + CustomBusinessHour`` on the first ``sample`` items."""
    hours = [whole_hours(amount) for amount in work.amounts[:sample]]
    offsets = {
        n: pd.offsets.CustomBusinessHour(
            n=n,
            start=["09:00", "13:00"],
            end=["12:00", "17:00"],
            weekmask="Mon Tue Wed Thu Fri",
            holidays=holidays,
        )
        for n in set(hours)
    }
    starts = [pd.Timestamp(s).tz_convert(ZONE) for s in work.starts[:sample]]
    return Contender(
        "pandas CustomBusinessHour",
        one_by_one(lambda i: starts[i] + offsets[hours[i]]),
        PEER_PER_ROUND,
        keep_answers=True,
    )


# --- agreement ------------------------------------------------------------------------------


def agreement(calendar: WorkingCalendar, work: Workload, peers: dict[str, Contender]) -> list[str]:
    """Return one line per peer operation saying how often it gave sla.calendar's answer."""
    btd_add, btd_wt, pandas = peers["btd add"], peers["btd wt"], peers["pandas add"]
    same_add = sum(calendar.add(work.starts[i], work.amounts[i]) == r for i, r in btd_add.answers)
    same_wt = sum(
        calendar.working_time(work.starts[i], work.ends[i]) == r for i, r in btd_wt.answers
    )
    same_instant = same_time = 0
    for i, result in pandas.answers:
        amount = timedelta(hours=whole_hours(work.amounts[i]))
        answer = result.to_pydatetime()
        same_instant += calendar.add(work.starts[i], amount) == answer
        same_time += calendar.working_time(work.starts[i], answer) == amount
    return [
        f"businesstimedelta add: same instant on {same_add}/{len(btd_add.answers)} calls",
        f"businesstimedelta working_time: same result on {same_wt}/{len(btd_wt.answers)} calls",
        f"pandas add: same instant on {same_instant}/{len(pandas.answers)} calls, same working "
        f"time on {same_time}/{len(pandas.answers)} (pandas returns the next opening, not the "
        "earliest instant, when the amount runs out at the end of a period)",
    ]


# --- report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def report(ours_ops: tuple[Contender, Contender], peers: dict[str, Contender]) -> bool:
    """Print rates and ratios; return whether every target is met."""
    all_met = True
    comparisons = {"add": ["btd add", "pandas add"], "working_time": ["btd wt"]}
    for op in ours_ops:
        rate_ok = op.rate >= TARGET_RATE
        all_met &= rate_ok
        print(f"{op.name}: {op.rate:,.0f}/s (target >= {TARGET_RATE:,}/s: {verdict(rate_ok)})")
        for key in comparisons[op.name]:
            peer = peers[key]
            ratio = op.rate / peer.rate
            ratio_ok = ratio >= TARGET_RATIO
            all_met &= ratio_ok
            print(
                f"  {peer.name}: {peer.rate:,.0f}/s  ratio {ratio:,.0f}x "
                f"(target >= {TARGET_RATIO}x: {verdict(ratio_ok)})"
            )
    print("  pandas CustomBusinessHour working_time: n/a (pandas has no business-time difference)")
    return all_met


def main() -> int:
    began = time.perf_counter()
    holidays = holiday_dates([YEAR, YEAR + 1, YEAR + 2])
    calendar = WorkingCalendar(ZONE, {day: PERIODS for day in WORKDAYS}, holidays)
    work = make_workload(ROUNDS * OURS_PER_ROUND)
    peer_sample = ROUNDS * PEER_PER_ROUND

    fresh = WorkingCalendar(ZONE, {day: PERIODS for day in WORKDAYS}, holidays)
    build_began = time.perf_counter()
    fresh.is_working(work.starts[0])
    build_seconds = time.perf_counter() - build_began

    ours_ops = ours(calendar, work)
    btd_add, btd_wt = businesstimedelta(work, holidays)
    peers = {
        "btd add": btd_add,
        "btd wt": btd_wt,
        "pandas add": pandas_add(work, holidays, peer_sample),
    }
    for op in ours_ops:  # warm up: build the years the workload touches
        op.run_round(0, len(work.starts))
        op.calls, op.seconds = 0, 0.0
    for round_number in range(ROUNDS):
        for op in ours_ops:
            op.run_round(round_number, len(work.starts))
        for peer in peers.values():
            peer.run_round(round_number, peer_sample)

    print(f"sla.calendar benchmark: {ZONE}, Mon-Fri 09-12 + 13-17, 15 holidays a year")
    print(f"first query on a fresh calendar (builds one year): {build_seconds * 1000:.1f} ms")
    print(
        f"{ROUNDS} interleaved rounds: {OURS_PER_ROUND:,} calls of ours and "
        f"{PEER_PER_ROUND} of each peer per round"
    )
    all_met = report(ours_ops, peers)
    print("agreement with sla.calendar on the peers' calls:")
    for line in agreement(calendar, work, peers):
        print(f"  {line}")
    print(f"all targets {verdict(all_met)}  ({time.perf_counter() - began:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
