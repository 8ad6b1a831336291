"""What resolving a case decides, as plain values: the total time it took, and whether the
resolution may go ahead. Pure: no I/O, no database.

| open activities | cancel them | open children | close children | answer            |
|-----------------|-------------|---------------|----------------|-------------------|
| none            | -           | none          | -              | resolve           |
| some            | no          | -             | -              | refused           |
| some            | yes         | -             | -              | resolve, cancel   |
| -               | -           | some          | no             | refused           |
| -               | -           | some          | yes            | resolve them too  |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACTIVITY_KINDS: tuple[str, ...] = ("task", "phone_call", "appointment")
ACTIVITY_STATES: tuple[str, ...] = ("open", "completed", "canceled")
MAX_MINUTES = 1_000_000
"""The largest duration or billable time taken (about two years of minutes)."""


def total_minutes(activities: Iterable[tuple[str, int | None]]) -> int:
    """The time a case took: the sum of the durations of its completed activities, from
    (state, duration_minutes) pairs; open and canceled ones, and ones without a duration,
    count nothing."""
    return sum(minutes or 0 for state, minutes in activities if state == "completed")


@dataclass(frozen=True)
class ResolveFacts:
    open_activities: int
    cancel_open_activities: bool
    open_children: int
    close_children_with_parent: bool
    is_closed: bool


@dataclass(frozen=True)
class ResolveDecision:
    """`refusal` is None when the case may be resolved; then `cancel_activities` and
    `resolve_children` say what goes with it."""

    refusal: str | None
    field: str | None = None
    cancel_activities: bool = False
    resolve_children: bool = False


def decide_resolve(facts: ResolveFacts) -> ResolveDecision:
    """Whether a case may be resolved now, and what else its resolution does."""
    if facts.is_closed:
        return ResolveDecision("the case is already closed; reactivate it first")
    if facts.open_activities and not facts.cancel_open_activities:
        return ResolveDecision(
            f"{_count(facts.open_activities, 'open activity', 'open activities')} "
            "remain: complete them, or cancel them with the resolution",
            "cancel_open_activities")
    if facts.open_children and not facts.close_children_with_parent:
        return ResolveDecision(
            f"{_count(facts.open_children, 'child case is', 'child cases are')} still open: "
            "resolve them first", "children")
    return ResolveDecision(None, cancel_activities=facts.open_activities > 0,
                           resolve_children=facts.open_children > 0)


def _count(n: int, one: str, many: str) -> str:
    return f"1 {one}" if n == 1 else f"{n} {many}"
