"""Ticket status transitions and priorities. Pure: plain values in and out.

Which statuses count as closed is data (a pipeline's statuses), not code. A move between
two statuses is one of:

| from        | to          | transition |
|-------------|-------------|------------|
| same status | same status | NONE       |
| open        | open        | MOVE       |
| open        | closed      | CLOSE      |
| closed      | open        | REOPEN     |
| closed      | closed      | MOVE       |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}
DEFAULT_PRIORITY = "medium"

REOPEN_STATUS = "waiting_on_us"
INBOUND_STATUS = "waiting_on_us"
REPLIED_STATUS = "waiting_on_contact"
NEW_STATUS = "new"
CLOSED_STATUS = "closed"

CASE_TYPES: tuple[str, ...] = ("question", "problem", "request")
ORIGINS: tuple[str, ...] = ("email", "chat", "slack", "form", "api", "phone", "walk_in")
"""How a case came in: the channels, and phone/walk_in for cases opened by hand."""
RESOLVED_OUTCOME, CANCELED_OUTCOME = "resolved", "canceled"
"""What a closed status's reason means (`StatusReason.outcome`)."""
CANCELED_REASON, MERGED_REASON = "canceled", "merged"
DEFAULT_RESOLVED_REASONS: tuple[tuple[str, str], ...] = (
    ("problem_solved", "Problem solved"), ("information_provided", "Information provided"))


class Transition(Enum):
    NONE = "none"
    MOVE = "move"
    CLOSE = "close"
    REOPEN = "reopen"


def classify(closed_by_status: Mapping[str, bool], old: str, new: str) -> Transition:
    """The kind of move from `old` to `new`; ValueError for a status not in the pipeline."""
    for status in (old, new):
        if status not in closed_by_status:
            raise ValueError(f"unknown status {status!r}")
    if old == new:
        return Transition.NONE
    was_closed, is_closed = closed_by_status[old], closed_by_status[new]
    if is_closed and not was_closed:
        return Transition.CLOSE
    if was_closed and not is_closed:
        return Transition.REOPEN
    return Transition.MOVE


def reopen_status(ordered: Sequence[tuple[str, bool]]) -> str:
    """The status a closed ticket reopens to: `waiting_on_us`, else the first open one."""
    open_statuses = [key for key, closed in ordered if not closed]
    if not open_statuses:
        raise ValueError("pipeline has no open status")
    return REOPEN_STATUS if REOPEN_STATUS in open_statuses else open_statuses[0]
