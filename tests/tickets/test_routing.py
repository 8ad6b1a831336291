"""The routing engine: tables of tickets and rules, the first matching rule's action."""

from __future__ import annotations

import pytest

from tickets.routing import (
    Action,
    Condition,
    Rule,
    RuleError,
    TicketFacts,
    first_match,
    parse_action,
    parse_condition,
)

EMAIL_TICKET = TicketFacts(ticket_id=1, channel="email", inbox_ids=frozenset({1}),
                           name="Printer is BROKEN again", company_id=7, priority="high",
                           product_id=3, has_entitlement=True)
CHAT_TICKET = TicketFacts(ticket_id=2, channel="chat", inbox_ids=frozenset({2, 5}),
                          name="Question about invoices", company_id=None, priority="low",
                          product_id=None, has_entitlement=False)
PHONE_TICKET = TicketFacts(ticket_id=3, channel="phone", inbox_ids=frozenset(),
                           name="Callback", company_id=8, priority="urgent", product_id=4,
                           has_entitlement=False)

TO_BILLING = Action("queue", 10)
TO_ANNA = Action("user", 20)
TO_TIER2 = Action("team", 30)


def rule(rule_id: int, action: Action, *conditions: tuple[str, object]) -> Rule:
    return Rule(rule_id, f"rule {rule_id}",
                tuple(Condition(field, value) for field, value in conditions),  # type: ignore[arg-type]
                action)


CATCH_ALL = rule(99, TO_TIER2)


@pytest.mark.parametrize(("facts", "rules", "expected"), [
    # No rules, nothing matches.
    (EMAIL_TICKET, [], None),
    # Each field alone, matching and not.
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("channel", "email"))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("channel", "email"))], None),
    (PHONE_TICKET, [rule(1, TO_BILLING, ("channel", "phone"))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("inbox", 5))], TO_BILLING),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("inbox", 5))], None),
    (PHONE_TICKET, [rule(1, TO_BILLING, ("inbox", 1))], None),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("subject", "broken"))], TO_BILLING),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("subject", "printer is"))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("subject", "broken"))], None),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("company", 7))], TO_BILLING),
    (PHONE_TICKET, [rule(1, TO_BILLING, ("company", 7))], None),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("company", 7))], None),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("priority", "high"))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("priority", "high"))], None),
    (PHONE_TICKET, [rule(1, TO_BILLING, ("product", 4))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("product", 4))], None),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("entitlement", True))], TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("entitlement", True))], None),
    (CHAT_TICKET, [rule(1, TO_BILLING, ("entitlement", False))], TO_BILLING),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("entitlement", False))], None),
    # Conditions are AND-combined: all must hold.
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("channel", "email"), ("priority", "high"),
                         ("company", 7))], TO_BILLING),
    (EMAIL_TICKET, [rule(1, TO_BILLING, ("channel", "email"), ("priority", "low"))], None),
    (PHONE_TICKET, [rule(1, TO_BILLING, ("company", 8), ("entitlement", True))], None),
    # Order decides: the first matching rule wins, later ones are not looked at.
    (EMAIL_TICKET, [rule(1, TO_ANNA, ("channel", "email")), rule(2, TO_BILLING,
                                                                 ("priority", "high"))], TO_ANNA),
    (EMAIL_TICKET, [rule(1, TO_ANNA, ("channel", "chat")), rule(2, TO_BILLING,
                                                                ("priority", "high"))],
     TO_BILLING),
    (CHAT_TICKET, [rule(1, TO_ANNA, ("channel", "email")), CATCH_ALL], TO_TIER2),
    (CHAT_TICKET, [CATCH_ALL, rule(1, TO_ANNA, ("channel", "chat"))], TO_TIER2),
])
def test_first_matching_rule_gives_the_action(facts, rules, expected):
    found = first_match(facts, rules)
    assert (found.action if found else None) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ({"field": "channel", "op": "is", "value": "email"}, Condition("channel", "email")),
    ({"field": "channel", "value": "walk_in"}, Condition("channel", "walk_in")),
    ({"field": "subject", "op": "contains", "value": "  refund "}, Condition("subject", "refund")),
    ({"field": "inbox", "value": 3}, Condition("inbox", 3)),
    ({"field": "entitlement", "op": "present", "value": False}, Condition("entitlement", False)),
    ({"field": "priority", "value": "urgent"}, Condition("priority", "urgent")),
])
def test_conditions_read_from_json(raw, expected):
    assert parse_condition(raw) == expected
    assert parse_condition(expected.as_json()) == expected


@pytest.mark.parametrize(("raw", "field"), [
    ({"field": "colour", "value": "red"}, "field"),
    ({"value": "red"}, "field"),
    ({"field": "channel", "op": "contains", "value": "email"}, "op"),
    ({"field": "channel", "value": "fax"}, "value"),
    ({"field": "priority", "value": "whenever"}, "value"),
    ({"field": "subject", "value": "   "}, "value"),
    ({"field": "subject", "value": "x" * 201}, "value"),
    ({"field": "inbox", "value": "3"}, "value"),
    ({"field": "inbox", "value": True}, "value"),
    ({"field": "product", "value": 0}, "value"),
    ({"field": "entitlement", "value": "yes"}, "value"),
])
def test_unusable_conditions_are_refused_naming_the_part(raw, field):
    with pytest.raises(RuleError) as refused:
        parse_condition(raw)
    assert refused.value.field == field


@pytest.mark.parametrize(("raw", "expected"), [
    ({"kind": "queue", "id": 4}, Action("queue", 4)),
    ({"kind": "user", "id": 1}, Action("user", 1)),
    ({"kind": "team", "id": 2}, Action("team", 2)),
    ({"kind": "close", "id": 2}, None),
    ({"kind": "queue"}, None),
    ({"kind": "queue", "id": True}, None),
    ({"kind": "queue", "id": -1}, None),
])
def test_actions_read_from_json(raw, expected):
    if expected is None:
        with pytest.raises(RuleError):
            parse_action(raw)
    else:
        assert parse_action(raw) == expected
