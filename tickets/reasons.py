"""Which status reasons a ticket may move to. Pure: plain values in and out.

Every status may have reasons (waiting_on_contact: "Waiting for details", "Researching").
Admins say which reasons may follow which (`transitions`: pairs of reason ids). A reason
with no transition from it may be followed by any active reason of the target status; one
with transitions only by the reasons they name. A ticket with no reason yet (or one whose
reason is gone) may take any active reason of the target status.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    id: int
    status: str
    key: str
    label: str
    active: bool = True
    outcome: str | None = None


def current_reason(reasons: Sequence[Reason], status: str, key: str | None) -> Reason | None:
    """The reason `key` of `status`, or None."""
    return next((r for r in reasons if r.status == status and r.key == key), None)


def allowed_reasons(reasons: Sequence[Reason], transitions: Collection[tuple[int, int]], *,
                    status: str, reason_key: str | None, target_status: str) -> list[Reason]:
    """The reasons of `target_status` a ticket in `status` with reason `reason_key` may
    take, in the order given."""
    current = current_reason(reasons, status, reason_key)
    candidates = [r for r in reasons if r.status == target_status and r.active]
    if current is None:
        return candidates
    following = {to for frm, to in transitions if frm == current.id}
    if not following:
        return candidates
    return [r for r in candidates if r.id in following]


def refusal(reasons: Sequence[Reason], transitions: Collection[tuple[int, int]], *,
            status: str, reason_key: str | None, target_status: str,
            target_key: str) -> str | None:
    """Why a ticket may not take reason `target_key` of `target_status` (None: it may);
    the message names the allowed reasons."""
    allowed = allowed_reasons(reasons, transitions, status=status, reason_key=reason_key,
                              target_status=target_status)
    if any(r.key == target_key for r in allowed):
        return None
    if not allowed:
        return f"status {target_status} allows no status reason here"
    names = ", ".join(r.key for r in allowed)
    return f"status reason must be one of {names} (for status {target_status})"
