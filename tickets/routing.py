"""The routing rule engine. Pure: the facts of a ticket and an ordered list of rules in, the
first matching rule out (or None). No I/O; `tickets.routing_rules` gathers the facts before
and applies the action after.

A rule's conditions are AND-combined (a rule without conditions matches every ticket). Each
condition is a field, an operator and a value, stored as JSON {field, op, value}:

| field        | op       | value     | true when                                             |
|--------------|----------|-----------|-------------------------------------------------------|
| channel      | is       | a channel | the ticket's origin (or source channel) is it         |
| inbox        | is       | inbox id  | one of the ticket's conversations is in that inbox    |
| subject      | contains | text      | the ticket's name contains it, ignoring case          |
| company      | is       | company id| the customer's company is it                          |
| priority     | is       | priority  | the ticket's priority is it                           |
| product      | is       | product id| the ticket's product is it                            |
| entitlement  | present  | yes / no  | the ticket has an entitlement (yes) or none (no)      |

An action is {kind, id}: add to queue `id`, assign to user `id`, or give to team `id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tickets.state import ORIGINS, PRIORITIES

OPERATORS: dict[str, str] = {
    "channel": "is", "inbox": "is", "subject": "contains", "company": "is",
    "priority": "is", "product": "is", "entitlement": "present",
}
"""Each condition field with its one operator."""
FIELD_LABELS: dict[str, str] = {
    "channel": "Channel", "inbox": "Inbox", "subject": "Subject contains",
    "company": "Customer's company", "priority": "Priority", "product": "Product",
    "entitlement": "Entitlement present",
}
ID_FIELDS = frozenset({"inbox", "company", "product"})
ACTION_KINDS: dict[str, str] = {"queue": "Add to queue", "user": "Assign to user",
                                "team": "Give to team"}
MAX_SUBJECT_TEXT = 200


@dataclass(frozen=True)
class TicketFacts:
    """What the rules may look at, for one ticket."""

    ticket_id: int
    channel: str
    inbox_ids: frozenset[int]
    name: str
    company_id: int | None
    priority: str
    product_id: int | None
    has_entitlement: bool
    closed: bool = False


@dataclass(frozen=True)
class Condition:
    field: str
    value: str | int | bool

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": OPERATORS[self.field], "value": self.value}


@dataclass(frozen=True)
class Action:
    kind: str
    target_id: int

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.target_id}


@dataclass(frozen=True)
class Rule:
    rule_id: int
    name: str
    conditions: tuple[Condition, ...]
    action: Action


class RuleError(ValueError):
    """A condition or action that cannot be used; `field` names the part."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def holds(condition: Condition, facts: TicketFacts) -> bool:
    """Whether one condition is true of the ticket."""
    field, value = condition.field, condition.value
    if field == "channel":
        return facts.channel == value
    if field == "inbox":
        return value in facts.inbox_ids
    if field == "subject":
        return str(value).casefold() in facts.name.casefold()
    if field == "company":
        return facts.company_id == value
    if field == "priority":
        return facts.priority == value
    if field == "product":
        return facts.product_id == value
    if field == "entitlement":
        return facts.has_entitlement is value
    raise RuleError(f"unknown condition field {field!r}", "field")


def matches(rule: Rule, facts: TicketFacts) -> bool:
    """Whether every condition of the rule holds for the ticket."""
    return all(holds(condition, facts) for condition in rule.conditions)


def first_match(facts: TicketFacts, rules: Sequence[Rule]) -> Rule | None:
    """The first rule, in order, whose conditions all hold; None when none does."""
    return next((rule for rule in rules if matches(rule, facts)), None)


def parse_condition(raw: Mapping[str, Any]) -> Condition:
    """A condition from its JSON form (the op may be left out); RuleError when unusable."""
    field = raw.get("field")
    if field not in OPERATORS:
        raise RuleError(f"field must be one of {', '.join(OPERATORS)}", "field")
    if raw.get("op", OPERATORS[field]) != OPERATORS[field]:
        raise RuleError(f"{field} takes the operator {OPERATORS[field]!r}", "op")
    return Condition(field, _value(field, raw.get("value")))


def _value(field: str, value: Any) -> str | int | bool:
    if field in ID_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RuleError(f"{field} takes the id of a {field}", "value")
        return value
    if field == "entitlement":
        if not isinstance(value, bool):
            raise RuleError("entitlement takes true or false", "value")
        return value
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{field} takes a text", "value")
    if field == "channel" and value not in ORIGINS:
        raise RuleError(f"channel must be one of {', '.join(ORIGINS)}", "value")
    if field == "priority" and value not in PRIORITIES:
        raise RuleError(f"priority must be one of {', '.join(PRIORITIES)}", "value")
    if len(value) > MAX_SUBJECT_TEXT:
        raise RuleError(f"subject text is at most {MAX_SUBJECT_TEXT} characters", "value")
    return value.strip()


def parse_action(raw: Mapping[str, Any]) -> Action:
    """An action from its JSON form {kind, id}; RuleError when unusable."""
    kind, target = raw.get("kind"), raw.get("id")
    if kind not in ACTION_KINDS:
        raise RuleError(f"action kind must be one of {', '.join(ACTION_KINDS)}", "action")
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise RuleError(f"the action needs the id of a {kind}", "action")
    return Action(kind, target)


def parse_rule(rule_id: int, name: str, conditions: Iterable[Mapping[str, Any]],
               action: Mapping[str, Any]) -> Rule:
    """A rule from its stored form."""
    return Rule(rule_id, name, tuple(parse_condition(c) for c in conditions),
                parse_action(action))
