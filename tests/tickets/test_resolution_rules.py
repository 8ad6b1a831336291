"""Resolving a case, decided by value: the total time, and whether it may go ahead."""

from __future__ import annotations

import pytest

from tickets.resolution_rules import ResolveFacts, decide_resolve, total_minutes


@pytest.mark.parametrize(("activities", "expected"), [
    ([], 0),
    ([("completed", 30)], 30),
    ([("completed", 30), ("completed", 60)], 90),
    ([("completed", 30), ("open", 60)], 30),
    ([("completed", 30), ("canceled", 60)], 30),
    ([("completed", None), ("completed", 15)], 15),
    ([("open", None), ("canceled", None)], 0),
    ([("completed", 0)], 0),
])
def test_total_time_is_the_sum_of_completed_activities(activities, expected):
    assert total_minutes(activities) == expected


def facts(open_activities=0, cancel=False, open_children=0, close_children=False,
          closed=False) -> ResolveFacts:
    return ResolveFacts(open_activities, cancel, open_children, close_children, closed)


@pytest.mark.parametrize(("given", "refused_on", "cancels", "resolves_children"), [
    (facts(), None, False, False),
    (facts(open_activities=1), "cancel_open_activities", False, False),
    (facts(open_activities=2, cancel=True), None, True, False),
    (facts(cancel=True), None, False, False),
    (facts(open_children=1), "children", False, False),
    (facts(open_children=2, close_children=True), None, False, True),
    (facts(open_activities=1, cancel=True, open_children=1), "children", False, False),
    (facts(open_activities=1, cancel=True, open_children=1, close_children=True), None,
     True, True),
    (facts(closed=True), None, False, False),
])
def test_resolve_decision(given, refused_on, cancels, resolves_children):
    decision = decide_resolve(given)
    if given.is_closed:
        assert decision.refusal is not None and "already closed" in decision.refusal
        return
    assert decision.field == refused_on
    assert (decision.refusal is None) == (refused_on is None)
    assert decision.cancel_activities == cancels
    assert decision.resolve_children == resolves_children


@pytest.mark.parametrize(("open_activities", "words"), [
    (1, "1 open activity remain"), (3, "3 open activities remain")])
def test_refusal_says_how_many_activities_are_open(open_activities, words):
    refusal = decide_resolve(facts(open_activities=open_activities)).refusal
    assert refusal is not None and refusal.startswith(words)
