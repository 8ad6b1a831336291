"""How pages say times, sizes and SLA states: tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from web.pages.format import Badge, ago, count_label, duration, size, sla_badge

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"),
                                           (3600, "1h"), (3660, "1h 1m"), (86_400, "1d"),
                                           (90_000, "1d 1h"), (-120, "2m")])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("then, text", [
    (NOW, "just now"), (NOW - timedelta(seconds=59), "just now"),
    (NOW - timedelta(minutes=5), "5m ago"), (NOW - timedelta(hours=3, minutes=5), "3h ago"),
    (NOW - timedelta(days=2), "2 Dec"), (datetime(2025, 6, 1, tzinfo=UTC), "1 Jun 2025"),
])
def test_ago(then, text):
    assert ago(then, NOW) == text


@pytest.mark.parametrize("count, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1 KB"),
                                         (14_500, "14 KB"), (2_621_440, "2.5 MB")])
def test_size(count, text):
    assert size(count) == text


def clock(status, remaining, met=False):
    return {"goal": "first_response", "status": status, "remaining_seconds": remaining,
            "due_at": "2026-12-04T16:00:00+00:00", "met_at": "x" if met else None}


@pytest.mark.parametrize("clocks, badge", [
    ([], None),
    ([clock("met", 100, met=True)], None),
    ([clock("on_track", 7200)], Badge("Due in 2h", "on-track")),
    ([clock("due_soon", 600)], Badge("Due in 10m", "due-soon")),
    ([clock("overdue", -3600)], Badge("Overdue 1h", "overdue")),
    ([clock("on_track", 7200), clock("overdue", -60)], Badge("Overdue 1m", "overdue")),
    ([clock("on_track", 7200), clock("due_soon", 300)], Badge("Due in 5m", "due-soon")),
    ([{**clock("paused", 0), "due_at": None}], None),
])
def test_sla_badge(clocks, badge):
    assert sla_badge(clocks) == badge


@pytest.mark.parametrize("count, text", [(0, "0"), (998, "998"), (999, "999"), (1000, "999+"),
                                         (5000, "999+")])
def test_count_label(count, text):
    assert count_label(count, 1000) == text
