"""Status reason transitions, by value."""

from __future__ import annotations

import pytest

from tickets.reasons import Reason, allowed_reasons, refusal

DETAILS = Reason(1, "waiting_on_contact", "waiting_for_details", "Waiting for details")
RESEARCH = Reason(2, "waiting_on_contact", "researching", "Researching")
SOLVED = Reason(3, "closed", "problem_solved", "Problem solved", outcome="resolved")
CANCELED = Reason(4, "closed", "canceled", "Canceled", outcome="canceled")
OLD = Reason(5, "closed", "old", "Old", active=False, outcome="resolved")
REASONS = [DETAILS, RESEARCH, SOLVED, CANCELED, OLD]


def keys(reasons):
    return [r.key for r in reasons]


@pytest.mark.parametrize(("transitions", "status", "reason", "target", "allowed"), [
    # no reason yet: every active reason of the target status, in order
    (set(), "new", None, "closed", ["problem_solved", "canceled"]),
    (set(), "new", None, "waiting_on_contact", ["waiting_for_details", "researching"]),
    # a status without reasons
    (set(), "new", None, "new", []),
    # a reason with no transitions defined may go to any reason of the target status
    ({(2, 3)}, "waiting_on_contact", "waiting_for_details", "closed",
     ["problem_solved", "canceled"]),
    # a reason with transitions goes only where they say
    ({(1, 3)}, "waiting_on_contact", "waiting_for_details", "closed", ["problem_solved"]),
    ({(1, 2)}, "waiting_on_contact", "waiting_for_details", "closed", []),
    ({(1, 2)}, "waiting_on_contact", "waiting_for_details", "waiting_on_contact",
     ["researching"]),
    # transitions naming an inactive reason do not bring it back
    ({(1, 5)}, "waiting_on_contact", "waiting_for_details", "closed", []),
    # a current key unknown for the status counts as no reason
    ({(1, 3)}, "closed", "waiting_for_details", "closed", ["problem_solved", "canceled"]),
])
def test_allowed_reasons(transitions, status, reason, target, allowed):
    assert keys(allowed_reasons(REASONS, transitions, status=status, reason_key=reason,
                                target_status=target)) == allowed


@pytest.mark.parametrize(("transitions", "target", "key", "message"), [
    (set(), "closed", "problem_solved", None),
    (set(), "closed", "researching",
     "status reason must be one of problem_solved, canceled (for status closed)"),
    ({(1, 3)}, "closed", "canceled",
     "status reason must be one of problem_solved (for status closed)"),
    (set(), "new", "anything", "status new allows no status reason here"),
    (set(), "closed", "old",
     "status reason must be one of problem_solved, canceled (for status closed)"),
])
def test_refusal_names_the_allowed_list(transitions, target, key, message):
    assert refusal(REASONS, transitions, status="waiting_on_contact",
                   reason_key="waiting_for_details", target_status=target,
                   target_key=key) == message
