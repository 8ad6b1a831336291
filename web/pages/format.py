"""How pages say times, sizes and SLA states. Pure: values in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def count_label(count: int, cap: int) -> str:
    """A count as the rail shows it: `cap - 1` and a plus from `cap` on (counting stops
    there)."""
    return f"{cap - 1}+" if count >= cap else str(count)


def duration(seconds: int) -> str:
    """A short human duration: 45s, 12m, 3h 5m, 2d 4h."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def ago(then: datetime, now: datetime) -> str:
    """How long ago `then` was: "just now", "5m ago", "3h ago", or its date."""
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 86_400:
        return f"{duration(seconds).split()[0]} ago"
    if then.year == now.year:
        return then.strftime("%-d %b")
    return then.strftime("%-d %b %Y")


def size(count: int) -> str:
    """A byte count as people read it: 512 B, 14 KB, 2.5 MB."""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{round(count / 1024)} KB"
    return f"{count / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class Badge:
    """An SLA state as a list shows it: its words, and its kind (a CSS class)."""

    label: str
    kind: str


GOAL_NAMES = {"first_response": "First response", "next_response": "Next response",
              "close": "Close"}


def sla_badge(clocks: Sequence[dict[str, Any]]) -> Badge | None:
    """The most pressing running clock of a ticket: overdue first, then the soonest due;
    None when no clock runs."""
    running = [c for c in clocks if c.get("met_at") is None and c.get("due_at")]
    if not running:
        return None
    worst = min(running, key=lambda c: c["remaining_seconds"])
    remaining = int(worst["remaining_seconds"])
    if worst["status"] == "overdue" or remaining <= 0:
        return Badge(f"Overdue {duration(remaining)}", "overdue")
    kind = "due-soon" if worst["status"] == "due_soon" else "on-track"
    return Badge(f"Due in {duration(remaining)}", kind)
