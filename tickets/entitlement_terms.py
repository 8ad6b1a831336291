"""Entitlement terms arithmetic. Pure: plain values in and out, no I/O, no clock.

An entitlement covers a customer between two dates (both included), for some channels and
products (an empty list covers all), with terms counted in cases or in hours (kept in
minutes). Its terms go down by one case, or by a case's billable minutes:

| kind  | remaining | used               | new remaining | warning                   |
|-------|-----------|--------------------|---------------|---------------------------|
| cases | 3         | 1 case             | 2             | none                      |
| cases | 0         | 1 case             | 0             | "no cases left ..."       |
| hours | 120       | 90 minutes         | 30            | none                      |
| hours | 60        | 90 minutes         | 0             | "30 minutes over ..."     |

Terms never go below zero: a decrement that would stops at zero and says by how much the
terms fell short, so an agent or admin can act on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

TERMS_KINDS: tuple[str, ...] = ("hours", "cases")
DECREMENT_ON: tuple[str, ...] = ("creation", "resolution")


@dataclass(frozen=True)
class Decrement:
    """What a decrement did: the terms `before` and `after` (never below zero), what the
    case `used`, and `shortfall`: how much of it the terms could not cover."""

    before: int
    after: int
    used: int
    shortfall: int
    warning: str | None


def is_active(starts_on: date, ends_on: date, canceled: bool, on: date) -> bool:
    """Whether an entitlement is in force on the day `on` (start and end days included)."""
    return not canceled and starts_on <= on <= ends_on


def inactive_reason(starts_on: date, ends_on: date, canceled: bool, on: date) -> str | None:
    """Why an entitlement is not in force on `on` (None: it is)."""
    if canceled:
        return "it is canceled"
    if on < starts_on:
        return f"it starts on {starts_on.isoformat()}"
    if on > ends_on:
        return f"it ended on {ends_on.isoformat()}"
    return None


def uncovered_reason(channels: Sequence[str], product_ids: Sequence[int],
                     channel: str | None, product_id: int | None) -> str | None:
    """Why an entitlement does not cover a case that came in by `channel` about
    `product_id` (None: it covers it). Empty lists cover every channel / product; a case
    with no product is covered only by an entitlement for every product."""
    if channels and channel not in channels:
        return f"it does not cover the channel {channel or 'none'} (only {', '.join(channels)})"
    if product_ids and product_id not in product_ids:
        return "it does not cover the case's product"
    return None


def covers(channels: Sequence[str], product_ids: Sequence[int], channel: str | None,
           product_id: int | None) -> bool:
    """Whether the entitlement covers the case's channel and product."""
    return uncovered_reason(channels, product_ids, channel, product_id) is None


def decrements_on(kind: str, setting: str) -> str:
    """When terms of `kind` go down under the admin setting `setting` (creation or
    resolution): cases follow the setting; hours go down at resolution, by the billable
    minutes, which are only known then."""
    return setting if kind == "cases" else "resolution"


def decrement(kind: str, remaining: int, *, billable_minutes: int = 0) -> Decrement:
    """Take one case (`cases`) or `billable_minutes` (`hours`) off `remaining`; stop at
    zero and warn with what was missing. ValueError for an unknown kind or negative input."""
    if kind not in TERMS_KINDS:
        raise ValueError(f"unknown terms kind {kind!r}")
    if remaining < 0 or billable_minutes < 0:
        raise ValueError("terms and minutes cannot be negative")
    used = 1 if kind == "cases" else billable_minutes
    after = max(remaining - used, 0)
    shortfall = used - (remaining - after)
    warning = None
    if shortfall:
        warning = ("no cases left: the terms stay at zero" if kind == "cases" else
                   f"{format_terms('hours', shortfall)} over the terms: they stay at zero")
    return Decrement(before=remaining, after=after, used=used, shortfall=shortfall,
                     warning=warning)


def format_terms(kind: str, amount: int) -> str:
    """`3 cases`, `1 case`, `1 h 30 min`, `45 min`, `0 h` — what people read."""
    if kind == "cases":
        return f"{amount} case" if amount == 1 else f"{amount} cases"
    hours, minutes = divmod(amount, 60)
    if not minutes:
        return f"{hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def minutes_from_hours(text: str) -> int:
    """Hours as people type them (`10`, `1.5`, `2,25`) in whole minutes; ValueError for
    anything else or a negative amount."""
    value = float(text.strip().replace(",", "."))
    if not value >= 0 or value > 1_000_000:
        raise ValueError("hours must be a positive number")
    return round(value * 60)
