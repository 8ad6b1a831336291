"""Public holidays by country, for building a WorkingCalendar from settings.

``sla.calendar`` imports only the standard library and takes holidays as plain dates; this
module fills them in from the ``holidays`` package (python-holidays) by ISO 3166 country code
and optional subdivision code::

    from sla.holidays import calendar_from_config

    cal = calendar_from_config(
        timezone="Europe/Stockholm",
        hours={"mon": [("09:00", "17:00")], ...},
        holidays=[date(2026, 12, 24)],      # extra company holidays
        holiday_country="SE",
        years=range(2020, 2041),
    )

Holiday tables are finite: dates outside ``years`` get no public holidays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache

import holidays as holiday_tables
from holidays.registry import COUNTRIES

from sla.calendar import WorkingCalendar

__all__ = ["DEFAULT_YEARS", "calendar_from_config", "countries", "country_holidays"]

DEFAULT_YEARS = range(2000, 2100)


def country_holidays(
    country: str, subdivision: str | None = None, years: Iterable[int] = DEFAULT_YEARS
) -> frozenset[date]:
    """Return the public holidays of a country (and subdivision) in the given years.

    ``country`` is an ISO 3166-1 alpha-2 code such as ``"SE"`` (any case); ``subdivision``
    a code the package knows for that country, such as ``"CA"`` for the United States.
    ValueError names an unknown country or subdivision. Answers are cached.
    """
    return _country_holidays(country.upper(), subdivision, tuple(sorted(set(years))))


@lru_cache(maxsize=64)
def _country_holidays(
    country: str, subdivision: str | None, years: tuple[int, ...]
) -> frozenset[date]:
    """Return the holidays the package lists; ValueError for an unknown region."""
    try:
        table = holiday_tables.country_holidays(country, subdiv=subdivision, years=years)
    except NotImplementedError as exc:
        if subdivision is None:
            raise ValueError(f"unknown holiday country {country!r}: {exc}") from None
        raise ValueError(
            f"unknown holiday country {country!r} or subdivision {subdivision!r}: {exc}"
        ) from None
    return frozenset(table.keys())


@lru_cache(maxsize=1)
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO 3166-1 alpha-2 code, English name) of every country with a holiday calendar,
    by name."""
    named = {entry[1]: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", entry[0])
             for entry in COUNTRIES.values()}
    return tuple(sorted(named.items(), key=lambda item: item[1]))


def calendar_from_config(
    timezone: str,
    hours: Mapping[str, Iterable[Sequence[str]]],
    holidays: Iterable[date] = (),
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    years: Iterable[int] = DEFAULT_YEARS,
) -> WorkingCalendar:
    """Return a WorkingCalendar whose holidays are ``holidays`` plus the country's.

    ValueError for anything WorkingCalendar refuses, an unknown country or subdivision, or a
    subdivision given without a country.
    """
    dates = set(holidays)
    if holiday_country is not None:
        dates |= country_holidays(holiday_country, holiday_subdivision, years)
    elif holiday_subdivision is not None:
        raise ValueError(
            f"holiday subdivision {holiday_subdivision!r} given without a holiday country"
        )
    return WorkingCalendar(timezone, hours, dates)
