"""Routing rule sets: the only writer of rule sets and rules, and the driver of the pure
engine (`tickets.routing`): gather the facts of a batch of tickets in one query, decide, then
apply each action through the ticket write path and write it on the ticket's history.

At most one rule set is active; activating one deactivates the others. Routing refuses
closed (resolved or cancelled) tickets. New tickets are routed when their inbox says so
(`Inbox.route_new_tickets`), in the transaction that creates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from accounts.models import User
from accounts.service import get_active_user, require_team
from audit.service import record_change
from core import clock
from core.errors import Conflict, InvalidInput, NotFound, UserError
from core.events import EventBus
from inbox.models import Company, Contact, Conversation, Inbox
from tickets import queues
from tickets import service as tickets
from tickets.events import TicketCreated
from tickets.models import (
    PipelineStatus,
    Product,
    RoutingRule,
    RoutingRuleSet,
    Ticket,
    TicketConversation,
)
from tickets.routing import (
    Action,
    Rule,
    RuleError,
    TicketFacts,
    first_match,
    parse_action,
    parse_condition,
)

MAX_NAME = 200
ROUTED_CAUSE = "routing"


async def rule_sets(session: AsyncSession) -> list[RoutingRuleSet]:
    """Every rule set, the active one first, then by name."""
    return list((await session.scalars(
        select(RoutingRuleSet).order_by(RoutingRuleSet.active.desc(), RoutingRuleSet.name)
    )).all())


async def get_rule_set(session: AsyncSession, set_id: int) -> RoutingRuleSet:
    """The rule set `set_id`; NotFound when there is none."""
    found = await session.get(RoutingRuleSet, set_id)
    if found is None:
        raise NotFound(f"no routing rule set {set_id}")
    return found


async def rules_of(session: AsyncSession, set_id: int) -> list[RoutingRule]:
    """The rule set's rules in order."""
    return list((await session.scalars(
        select(RoutingRule).where(RoutingRule.rule_set_id == set_id)
        .order_by(RoutingRule.position, RoutingRule.id))).all())


async def get_rule(session: AsyncSession, rule_id: int) -> RoutingRule:
    """The rule `rule_id`; NotFound when there is none."""
    found = await session.get(RoutingRule, rule_id)
    if found is None:
        raise NotFound(f"no routing rule {rule_id}")
    return found


async def rule_in_set(session: AsyncSession, set_id: int, rule_id: int) -> RoutingRule:
    """The rule `rule_id` of the set `set_id`; NotFound when it is not one of its rules."""
    rule = await get_rule(session, rule_id)
    if rule.rule_set_id != set_id:
        raise NotFound(f"no routing rule {rule_id} in the set {set_id}")
    return rule


def _name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"give the {what} a name of at most {MAX_NAME} characters",
                           field="name")
    return name


async def _audit(session: AsyncSession, actor: User, action: str, subject_id: int,
                 summary: str, after: dict[str, Any] | None = None) -> None:
    await record_change(session, actor=actor, action=f"routing.{action}",
                        subject_type="routing", subject_id=subject_id, summary=summary,
                        after=after)


async def create_rule_set(session: AsyncSession, name: str, *, actor: User) -> RoutingRuleSet:
    """Make an inactive, empty rule set; audited."""
    name = _name(name, "rule set")
    if await session.scalar(select(RoutingRuleSet.id).where(RoutingRuleSet.name == name)):
        raise InvalidInput(f"there is already a rule set named {name!r}", field="name")
    now = clock.now()
    found = RoutingRuleSet(name=name, active=False, created_at=now, updated_at=now)
    session.add(found)
    await session.flush()
    await _audit(session, actor, "set_created", found.id, f"Rule set {name} created")
    return found


async def set_active(session: AsyncSession, set_id: int, active: bool, *,
                     actor: User) -> RoutingRuleSet:
    """Activate the rule set (every other one goes inactive) or deactivate it; audited."""
    found = await get_rule_set(session, set_id)
    if active:
        await session.execute(update(RoutingRuleSet).where(RoutingRuleSet.id != set_id)
                              .values(active=False))
    found.active, found.updated_at = active, clock.now()
    await _audit(session, actor, "activated" if active else "deactivated", set_id,
                 f"Rule set {found.name} {'activated' if active else 'deactivated'}")
    await session.flush()
    return found


async def delete_rule_set(session: AsyncSession, set_id: int, *, actor: User) -> None:
    """Remove a rule set and its rules; audited."""
    found = await get_rule_set(session, set_id)
    for rule in await rules_of(session, set_id):
        await session.delete(rule)
    await session.delete(found)
    await _audit(session, actor, "set_deleted", set_id, f"Rule set {found.name} deleted")
    await session.flush()


async def _checked(session: AsyncSession, name: str, conditions: Sequence[dict[str, Any]],
                   action: dict[str, Any]) -> tuple[str, list[dict[str, Any]], Action]:
    try:
        parsed = [parse_condition(c) for c in conditions]
        act = parse_action(action)
    except RuleError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc
    await _require_target(session, act)
    return _name(name, "rule"), [c.as_json() for c in parsed], act


async def add_rule(session: AsyncSession, set_id: int, name: str,
                   conditions: Sequence[dict[str, Any]], action: dict[str, Any], *,
                   actor: User) -> RoutingRule:
    """Append a rule to the set (conditions AND-combined, one action); audited."""
    found = await get_rule_set(session, set_id)
    name, stored, act = await _checked(session, name, conditions, action)
    last = await session.scalar(select(func.max(RoutingRule.position))
                                .where(RoutingRule.rule_set_id == set_id))
    rule = RoutingRule(rule_set_id=set_id, position=(last or 0) + 1, name=name,
                       conditions=stored, action=act.as_json())
    session.add(rule)
    found.updated_at = clock.now()
    await session.flush()
    await _audit(session, actor, "rule_added", set_id, f"Rule {name} added to {found.name}",
                 {"conditions": stored, "action": act.as_json()})
    return rule


async def update_rule(session: AsyncSession, rule_id: int, name: str,
                      conditions: Sequence[dict[str, Any]], action: dict[str, Any], *,
                      actor: User) -> RoutingRule:
    """Replace a rule's name, conditions and action; audited."""
    rule = await get_rule(session, rule_id)
    rule.name, rule.conditions, act = await _checked(session, name, conditions, action)
    rule.action = act.as_json()
    await _audit(session, actor, "rule_changed", rule.rule_set_id, f"Rule {rule.name} changed",
                 {"conditions": rule.conditions, "action": rule.action})
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: int, *, actor: User) -> None:
    """Remove a rule; audited."""
    rule = await get_rule(session, rule_id)
    await session.delete(rule)
    await _audit(session, actor, "rule_deleted", rule.rule_set_id, f"Rule {rule.name} deleted")
    await session.flush()


async def move_rule(session: AsyncSession, rule_id: int, direction: str, *,
                    actor: User) -> list[RoutingRule]:
    """Move a rule one place `up` or `down` in its set; returns the set's rules in order."""
    if direction not in ("up", "down"):
        raise InvalidInput("direction must be up or down", field="direction")
    rule = await get_rule(session, rule_id)
    ordered = await rules_of(session, rule.rule_set_id)
    at = ordered.index(rule)
    to = at - 1 if direction == "up" else at + 1
    if 0 <= to < len(ordered):
        ordered[at], ordered[to] = ordered[to], ordered[at]
        for position, each in enumerate(ordered, start=1):
            each.position = position
        await _audit(session, actor, "rule_moved", rule.rule_set_id,
                     f"Rule {rule.name} moved {direction}")
        await session.flush()
    return ordered


async def active_rules(session: AsyncSession) -> list[Rule]:
    """The active rule set's rules, in order, for the engine (none without an active set)."""
    rows = await session.scalars(
        select(RoutingRule).join(RoutingRuleSet, RoutingRuleSet.id == RoutingRule.rule_set_id)
        .where(RoutingRuleSet.active.is_(True))
        .order_by(RoutingRule.position, RoutingRule.id))
    parsed = []
    for row in rows:
        try:
            parsed.append(Rule(row.id, row.name,
                               tuple(parse_condition(c) for c in row.conditions),
                               parse_action(row.action)))
        except RuleError:
            continue  # stored before a check existed: never matches rather than failing
    return parsed


async def gather_facts(session: AsyncSession, ticket_ids: Sequence[int]
                       ) -> dict[int, TicketFacts]:
    """The facts the engine reads, for each live ticket of `ticket_ids`, in ONE query."""
    customer, writer = aliased(Contact), aliased(Contact)
    rows = await session.execute(
        select(Ticket.id, Ticket.origin, Ticket.source_channel, Ticket.name, Ticket.priority,
               Ticket.product_id, Ticket.entitlement_id, Ticket.customer_company_id,
               customer.company_id, Conversation.inbox_id, writer.company_id,
               PipelineStatus.is_closed)
        .outerjoin(customer, customer.id == Ticket.customer_contact_id)
        .outerjoin(TicketConversation, TicketConversation.ticket_id == Ticket.id)
        .outerjoin(Conversation, (Conversation.id == TicketConversation.conversation_id)
                   & Conversation.deleted_at.is_(None))
        .outerjoin(writer, writer.id == Conversation.contact_id)
        .outerjoin(PipelineStatus, (PipelineStatus.pipeline_id == Ticket.pipeline_id)
                   & (PipelineStatus.key == Ticket.status))
        .where(Ticket.id.in_(ticket_ids), Ticket.deleted_at.is_(None))
        .order_by(Ticket.id, TicketConversation.conversation_id))
    found: dict[int, TicketFacts] = {}
    for (tid, origin, channel, name, priority, product_id, entitlement_id, company_id,
         customer_company, inbox_id, writer_company, closed) in rows:
        before = found.get(tid)
        inboxes = (before.inbox_ids if before else frozenset()) | (
            {inbox_id} if inbox_id is not None else set())
        company = before.company_id if before else (company_id or customer_company)
        found[tid] = TicketFacts(
            ticket_id=tid, channel=origin or channel, inbox_ids=frozenset(inboxes), name=name,
            company_id=company if company is not None else writer_company,
            priority=priority, product_id=product_id,
            has_entitlement=entitlement_id is not None, closed=bool(closed))
    return found


async def _apply(session: AsyncSession, ticket_id: int, rule: Rule, *,
                 actor_id: int | None, cause: str) -> None:
    action = rule.action
    if action.kind == "queue":
        await queues.add_to_queue(session, action.target_id, ticket_id, actor_id=actor_id,
                                  cause=cause)
    else:
        field = "owner_id" if action.kind == "user" else "team_id"
        await tickets.update_ticket(session, ticket_id, {field: action.target_id},
                                    actor_id=actor_id, cause=cause)
    session.add(queues.note(ticket_id, "routed", actor_id, cause, new=rule.name, field="rule"))


async def route_tickets(session: AsyncSession, ticket_ids: Sequence[int], *,
                        actor_id: int | None) -> dict[int, Rule | None]:
    """Route each ticket by the active rule set: the first matching rule's action is
    applied and the ticket's history says which rule routed it. Refuses (Conflict, nothing
    written) when one of them is closed; NotFound for one that is not live."""
    facts = await gather_facts(session, ticket_ids)
    missing = [tid for tid in ticket_ids if tid not in facts]
    if missing:
        raise NotFound(f"no ticket {missing[0]}")
    closed = [f"#{tid}" for tid in ticket_ids if facts[tid].closed]
    if closed:
        raise Conflict(f"{', '.join(closed)} resolved or cancelled: reactivate before routing",
                       field="ticket_ids")
    rules = await active_rules(session)
    decided = {tid: first_match(facts[tid], rules) for tid in ticket_ids}
    for used in {r.rule_id: r for r in decided.values() if r is not None}.values():
        await _require_target(session, used.action)
    for tid, rule in decided.items():
        if rule is not None:
            await _apply(session, tid, rule, actor_id=actor_id, cause=ROUTED_CAUSE)
    await session.flush()
    return decided


class RouteOnCreation:
    """Routes new tickets whose inbox has "Route new tickets" on, in the transaction that
    creates them. An action that cannot be carried out (its queue, user or team gone)
    leaves the ticket unrouted rather than refusing the message."""

    def install(self, bus: EventBus) -> None:
        """Subscribe on `bus` (after the sync rules, so tickets exist with their links)."""
        bus.subscribe_many(TicketCreated, self.on_tickets_created)

    async def on_tickets_created(self, session: AsyncSession,
                                 events: list[TicketCreated]) -> None:
        wanted = list((await session.scalars(
            select(TicketConversation.ticket_id).distinct()
            .join(Conversation, Conversation.id == TicketConversation.conversation_id)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(TicketConversation.ticket_id.in_([e.ticket_id for e in events]),
                   Inbox.route_new_tickets.is_(True)))).all())
        if not wanted:
            return
        rules = await active_rules(session)
        if not rules:
            return
        facts = await gather_facts(session, wanted)
        for tid, ticket_facts in sorted(facts.items()):
            rule = first_match(ticket_facts, rules)
            if rule is None or ticket_facts.closed or not await _usable(session, rule.action):
                continue
            await _apply(session, tid, rule, actor_id=None, cause=ROUTED_CAUSE)


async def _usable(session: AsyncSession, action: Action) -> bool:
    """Whether the action's queue, user or team is there to receive the ticket (checked
    before any write, so a gone target never leaves half a routing)."""
    try:
        await _require_target(session, action)
    except UserError:
        return False
    return True


async def _require_target(session: AsyncSession, action: Action) -> None:
    if action.kind == "queue":
        try:
            await queues.get_queue(session, action.target_id)
        except NotFound as exc:
            raise InvalidInput(exc.message, field="action") from exc
    elif action.kind == "user":
        await get_active_user(session, action.target_id, field="action")
    else:
        await require_team(session, action.target_id, field="action")


async def condition_choices(session: AsyncSession) -> dict[str, list[tuple[int, str]]]:
    """(id, name) of what conditions may name: inboxes, companies and active products."""
    inboxes = await session.execute(select(Inbox.id, Inbox.name).order_by(Inbox.name))
    companies = await session.execute(select(Company.id, Company.name).order_by(Company.name))
    products = await session.execute(select(Product.id, Product.name)
                                     .where(Product.active.is_(True)).order_by(Product.name))
    return {"inbox": [(i, n) for i, n in inboxes], "company": [(i, n) for i, n in companies],
            "product": [(i, n) for i, n in products]}
