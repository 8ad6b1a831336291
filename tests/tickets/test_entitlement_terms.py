"""Entitlement terms arithmetic, by value."""

from __future__ import annotations

from datetime import date

import pytest

from tickets import entitlement_terms as terms

START, END = date(2026, 1, 1), date(2026, 12, 31)


@pytest.mark.parametrize(("on", "canceled", "active", "reason"), [
    (date(2026, 1, 1), False, True, None),
    (date(2026, 12, 31), False, True, None),
    (date(2026, 6, 1), False, True, None),
    (date(2025, 12, 31), False, False, "it starts on 2026-01-01"),
    (date(2027, 1, 1), False, False, "it ended on 2026-12-31"),
    (date(2026, 6, 1), True, False, "it is canceled"),
])
def test_active_between_start_and_end_days_included(on, canceled, active, reason):
    assert terms.is_active(START, END, canceled, on) is active
    assert terms.inactive_reason(START, END, canceled, on) == reason


@pytest.mark.parametrize(("channels", "products", "channel", "product", "covered"), [
    ([], [], "email", None, True),
    (["phone", "email"], [], "email", 3, True),
    (["phone"], [], "email", None, False),
    ([], [1, 2], "chat", 2, True),
    ([], [1, 2], "chat", 3, False),
    ([], [1], "chat", None, False),
    (["chat"], [1], "chat", 1, True),
    (["chat"], [], None, None, False),
])
def test_covers_channel_and_product_empty_lists_cover_all(channels, products, channel,
                                                          product, covered):
    assert terms.covers(channels, products, channel, product) is covered
    assert (terms.uncovered_reason(channels, products, channel, product) is None) is covered


@pytest.mark.parametrize(("kind", "remaining", "minutes", "after", "shortfall", "warned"), [
    ("cases", 3, 0, 2, 0, False),
    ("cases", 3, 500, 2, 0, False),
    ("cases", 1, 0, 0, 0, False),
    ("cases", 0, 0, 0, 1, True),
    ("hours", 120, 90, 30, 0, False),
    ("hours", 90, 90, 0, 0, False),
    ("hours", 60, 90, 0, 30, True),
    ("hours", 0, 45, 0, 45, True),
    ("hours", 60, 0, 60, 0, False),
])
def test_decrement_never_below_zero_and_warns_with_the_shortfall(kind, remaining, minutes,
                                                                 after, shortfall, warned):
    done = terms.decrement(kind, remaining, billable_minutes=minutes)
    assert (done.before, done.after, done.shortfall) == (remaining, after, shortfall)
    assert (done.warning is not None) is warned


def test_warning_says_what_was_missing():
    assert terms.decrement("hours", 60, billable_minutes=90).warning == (
        "30 min over the terms: they stay at zero")
    assert terms.decrement("cases", 0).warning == "no cases left: the terms stay at zero"


@pytest.mark.parametrize(("kind", "remaining", "minutes"), [
    ("days", 3, 0), ("cases", -1, 0), ("hours", 10, -5)])
def test_decrement_refuses_nonsense(kind, remaining, minutes):
    with pytest.raises(ValueError):
        terms.decrement(kind, remaining, billable_minutes=minutes)


@pytest.mark.parametrize(("kind", "setting", "when"), [
    ("cases", "creation", "creation"), ("cases", "resolution", "resolution"),
    ("hours", "creation", "resolution"), ("hours", "resolution", "resolution")])
def test_hours_go_down_at_resolution_cases_as_the_setting_says(kind, setting, when):
    assert terms.decrements_on(kind, setting) == when


@pytest.mark.parametrize(("kind", "amount", "text"), [
    ("cases", 1, "1 case"), ("cases", 0, "0 cases"), ("cases", 5, "5 cases"),
    ("hours", 0, "0 h"), ("hours", 600, "10 h"), ("hours", 90, "1 h 30 min"),
    ("hours", 45, "45 min")])
def test_format_terms(kind, amount, text):
    assert terms.format_terms(kind, amount) == text


@pytest.mark.parametrize(("text", "minutes"), [
    ("10", 600), ("1.5", 90), ("2,25", 135), (" 0 ", 0)])
def test_minutes_from_hours(text, minutes):
    assert terms.minutes_from_hours(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "-1", "nan", "inf"])
def test_minutes_from_hours_refuses(text):
    with pytest.raises(ValueError):
        terms.minutes_from_hours(text)
