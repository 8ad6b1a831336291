"""Routing rule sets (admins) and routing cases by the active set (agents)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from inbox import channels
from tickets import queries
from tickets import routing_rules as routing
from tickets.models import RoutingRule, RoutingRuleSet
from tickets.routing import Rule
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
)

router = APIRouter(tags=["routing"])

Name = Annotated[Text, Field(min_length=1, max_length=200, examples=["Printers to Tier 2"])]
CONDITION_EXAMPLE: list[Any] = [{"field": "subject", "op": "contains", "value": "printer"},
                                {"field": "priority", "op": "is", "value": "high"}]
RULE_EXAMPLE: JSON = {"id": 5, "position": 1, "name": "Printers to Tier 2",
                      "conditions": CONDITION_EXAMPLE, "action": {"kind": "queue", "id": 2}}
RULE_SET_EXAMPLE: JSON = {"id": 1, "name": "Weekday routing", "active": True,
                          "rules": [RULE_EXAMPLE]}
RULE_SETS_EXAMPLE: JSON = {"items": [{"id": 1, "name": "Weekday routing", "active": True}]}
RULES_EXAMPLE: JSON = {"items": [RULE_EXAMPLE]}
ROUTED_EXAMPLE: JSON = {"items": [
    {"ticket_id": 12, "rule_id": 5, "rule_name": "Printers to Tier 2",
     "action": {"kind": "queue", "id": 2}},
    {"ticket_id": 13, "rule_id": None, "rule_name": None, "action": None}]}
INBOX_ROUTING_EXAMPLE: JSON = {"slug": "support", "route_new_tickets": True}


class Condition(RequestModel):
    field: Literal["channel", "inbox", "subject", "company", "priority", "product",
                   "entitlement"]
    op: Literal["is", "contains", "present"] | None = None
    value: Annotated[Text, Field(max_length=200)] | IdValue | bool


class Action(RequestModel):
    kind: Annotated[Literal["queue", "user", "team"], Field(examples=["queue"])]
    id: IdValue


class RuleSetCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Weekday routing"}]})

    name: Name


class RuleSetPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"active": True}]})

    active: Annotated[bool, Field(examples=[True])]


class RuleBody(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Printers to Tier 2", "conditions": CONDITION_EXAMPLE,
         "action": {"kind": "queue", "id": 2}}]})

    name: Name
    conditions: Annotated[list[Condition], Field(max_length=20,
                                                 examples=[CONDITION_EXAMPLE])] = []
    action: Annotated[Action, Field(examples=[{"kind": "queue", "id": 1}])]


class MoveRule(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"direction": "up"}]})

    direction: Annotated[Literal["up", "down"], Field(examples=["up"])]


class RouteMany(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"ticket_ids": [12, 13]}]})

    ticket_ids: Annotated[list[IdValue], Field(min_length=1, max_length=100,
                                               examples=[[12, 13]])]


def rule_json(rule: RoutingRule) -> JSON:
    return {"id": rule.id, "position": rule.position, "name": rule.name,
            "conditions": rule.conditions, "action": rule.action}


def set_json(found: RoutingRuleSet, rules: list[RoutingRule] | None = None) -> JSON:
    body: JSON = {"id": found.id, "name": found.name, "active": found.active}
    if rules is not None:
        body["rules"] = [rule_json(r) for r in rules]
    return body


def _conditions(body: RuleBody) -> list[dict[str, Any]]:
    return [c.model_dump(exclude_none=True) for c in body.conditions]


@router.get("/api/routing/rule-sets", responses=answers(RULE_SETS_EXAMPLE))
async def list_rule_sets(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Every rule set (admins), the active one first."""
    async with transaction(runtime.sessions) as session:
        found = await routing.rule_sets(session)
    return {"items": [set_json(s) for s in found]}


@router.post("/api/routing/rule-sets", status_code=201,
             responses=answers(RULE_SET_EXAMPLE | {"rules": []}, 201))
async def create_rule_set(body: RuleSetCreate, admin: CurrentAdmin,
                          runtime: RuntimeDep) -> JSON:
    """Make an empty, inactive rule set (admins)."""
    async with transaction(runtime.sessions) as session:
        found = await routing.create_rule_set(session, body.name, actor=admin)
    return set_json(found, [])


@router.get("/api/routing/rule-sets/{set_id}", responses=answers(RULE_SET_EXAMPLE))
async def get_rule_set(set_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """One rule set with its rules in order (admins)."""
    async with transaction(runtime.sessions) as session:
        found = await routing.get_rule_set(session, set_id)
        rules = await routing.rules_of(session, set_id)
    return set_json(found, rules)


@router.patch("/api/routing/rule-sets/{set_id}", responses=answers(RULE_SET_EXAMPLE))
async def patch_rule_set(set_id: IdPath, body: RuleSetPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Activate the rule set (every other one goes inactive) or deactivate it (admins)."""
    async with transaction(runtime.sessions) as session:
        found = await routing.set_active(session, set_id, body.active, actor=admin)
        rules = await routing.rules_of(session, set_id)
    return set_json(found, rules)


@router.delete("/api/routing/rule-sets/{set_id}", status_code=204)
async def delete_rule_set(set_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Remove a rule set and its rules (admins)."""
    async with transaction(runtime.sessions) as session:
        await routing.delete_rule_set(session, set_id, actor=admin)
    return Response(status_code=204)


@router.post("/api/routing/rule-sets/{set_id}/rules", status_code=201,
             responses=answers(RULE_EXAMPLE, 201))
async def add_rule(set_id: IdPath, body: RuleBody, admin: CurrentAdmin,
                   runtime: RuntimeDep) -> JSON:
    """Append a rule (conditions AND-combined; the action adds to a queue or assigns to a
    user or team) to the set (admins)."""
    async with transaction(runtime.sessions) as session:
        rule = await routing.add_rule(session, set_id, body.name, _conditions(body),
                                      body.action.model_dump(), actor=admin)
    return rule_json(rule)


@router.put("/api/routing/rules/{rule_id}", responses=answers(RULE_EXAMPLE))
async def replace_rule(rule_id: IdPath, body: RuleBody, admin: CurrentAdmin,
                       runtime: RuntimeDep) -> JSON:
    """Replace a rule's name, conditions and action (admins)."""
    async with transaction(runtime.sessions) as session:
        rule = await routing.update_rule(session, rule_id, body.name, _conditions(body),
                                         body.action.model_dump(), actor=admin)
    return rule_json(rule)


@router.post("/api/routing/rules/{rule_id}/move", responses=answers(RULES_EXAMPLE))
async def move_rule(rule_id: IdPath, body: MoveRule, admin: CurrentAdmin,
                    runtime: RuntimeDep) -> JSON:
    """Move a rule one place up or down; answers the set's rules in their new order."""
    async with transaction(runtime.sessions) as session:
        ordered = await routing.move_rule(session, rule_id, body.direction, actor=admin)
    return {"items": [rule_json(r) for r in ordered]}


@router.delete("/api/routing/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Remove a rule (admins)."""
    async with transaction(runtime.sessions) as session:
        await routing.delete_rule(session, rule_id, actor=admin)
    return Response(status_code=204)


def _routed(decided: dict[int, Rule | None]) -> JSON:
    return {"items": [{"ticket_id": tid, "rule_id": r.rule_id if r else None,
                       "rule_name": r.name if r else None,
                       "action": r.action.as_json() if r else None}
                      for tid, r in decided.items()]}


@router.post("/api/tickets/{ticket_id}/route",
             responses=answers({"items": ROUTED_EXAMPLE["items"][:1]}))
async def route_ticket(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Route the case by the active rule set; 409 for a resolved or cancelled case."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        decided = await routing.route_tickets(session, [ticket_id], actor_id=caller.user.id)
    return _routed(decided)


@router.post("/api/tickets/route", responses=answers(ROUTED_EXAMPLE))
async def route_tickets(body: RouteMany, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Apply the routing rules to a selection of cases; 409 (nothing routed) when one of
    them is resolved or cancelled."""
    ticket_ids = list(dict.fromkeys(body.ticket_ids))
    async with transaction(runtime.sessions) as session:
        for ticket_id in ticket_ids:
            await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        decided = await routing.route_tickets(session, ticket_ids, actor_id=caller.user.id)
    return _routed(decided)


class InboxRouting(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"route_new_tickets": True}]})

    route_new_tickets: Annotated[bool, Field(examples=[True])]


@router.put("/api/admin/inboxes/{slug}/routing", responses=answers(INBOX_ROUTING_EXAMPLE))
async def set_inbox_routing(slug: Annotated[str, Path(min_length=1, max_length=64,
                                                      examples=["support"])],
                            body: InboxRouting, admin: CurrentAdmin,
                            runtime: RuntimeDep) -> JSON:
    """Say whether the inbox's new tickets are routed by the active rule set on creation
    (admins)."""
    async with transaction(runtime.sessions) as session:
        inbox = await channels.set_route_new_tickets(session, admin, slug,
                                                     body.route_new_tickets)
    return {"slug": inbox.slug, "route_new_tickets": inbox.route_new_tickets}
