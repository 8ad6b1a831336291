"""Entitlements on cases, on the real database: choosing one (checked in the ticket write
path), terms taken down on creation or on resolution, by cases or by hours, the warning
at zero, and an entitlement's own SLA goals."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from connectors.ingest import accept
from core import clock
from core.db import transaction
from core.errors import Conflict, InvalidInput
from core.events import publish
from inbox.messages import InboundMessage
from inbox.models import Company
from sla.models import SlaClock
from sla.service import save_policy
from tickets import entitlements, service
from tickets.events import CaseResolved
from tickets.models import CaseSettings, Entitlement, Ticket, TicketHistory

YEAR = {"starts_on": date(2026, 1, 1), "ends_on": date(2026, 12, 31)}


async def new_case(runtime, channel: str = "api") -> int:
    result = await accept(runtime.sessions, InboundMessage(
        inbox="support", channel=channel, sender_email="anna@example.org", sender_name="Anna",
        subject="Help", text="Hello", external_id=uuid.uuid4().hex))
    async with transaction(runtime.sessions) as session:
        ticket = await service.ticket_for_conversation(session, result.conversation_id)
        assert ticket is not None
        return ticket.id


async def company_case(runtime, *, channel: str = "api") -> tuple[int, int]:
    """(company id, case id): a case whose customer is the company Acme."""
    ticket_id = await new_case(runtime, channel)
    async with transaction(runtime.sessions) as session:
        company = await session.scalar(select(Company).where(Company.name == "Acme"))
        if company is None:
            company = Company(name="Acme", created_at=clock.now())
            session.add(company)
            await session.flush()
        # The customers part sets the customer through its own write path; here the
        # column is set directly to arrange the case.
        (await session.get(Ticket, ticket_id)).customer_company_id = company.id
        return company.id, ticket_id


async def add_entitlement(runtime, company_id: int, **values) -> int:
    async with transaction(runtime.sessions) as session:
        row = await entitlements.create_entitlement(session, {
            "name": "Gold", "customer_company_id": company_id, "terms_kind": "cases",
            "terms_total": 2, **YEAR, **values}, actor=None)
        return row.id


async def choose(runtime, ticket_id: int, entitlement_id: int | None) -> None:
    async with transaction(runtime.sessions) as session:
        await service.update_ticket(session, ticket_id, {"entitlement_id": entitlement_id},
                                    actor_id=None, cause="agent")


async def set_decrement_on(runtime, when: str) -> None:
    async with transaction(runtime.sessions) as session:
        session.add(CaseSettings(id=1, inherited_fields=[], close_children_with_parent=False,
                                 entitlement_decrement_on=when, updated_at=clock.now()))


async def resolve(runtime, ticket_id: int, billable_minutes: int) -> None:
    """What the resolution part does when a case is resolved: its event."""
    async with transaction(runtime.sessions) as session:
        await publish(session, CaseResolved(ticket_id, 1, billable_minutes, None))


async def remaining(runtime, entitlement_id: int) -> int:
    async with transaction(runtime.sessions) as session:
        return (await session.get(Entitlement, entitlement_id)).terms_remaining


async def history(runtime, ticket_id: int, *actions: str) -> list[str]:
    async with transaction(runtime.sessions) as session:
        rows = await session.scalars(select(TicketHistory.new_value).where(
            TicketHistory.ticket_id == ticket_id, TicketHistory.action.in_(actions))
            .order_by(TicketHistory.id))
        return [r or "" for r in rows]


@pytest.fixture(autouse=True)
def mid_year(manual_clock):
    return manual_clock


async def test_cases_go_down_when_the_case_gets_its_entitlement(runtime):
    company_id, ticket_id = await company_case(runtime)
    gold = await add_entitlement(runtime, company_id)
    await choose(runtime, ticket_id, gold)
    assert await remaining(runtime, gold) == 1
    assert await history(runtime, ticket_id, entitlements.USED) == [
        "1 case used of Gold: 1 case left"]
    await choose(runtime, ticket_id, None)
    await choose(runtime, ticket_id, gold)  # the same case counts once
    assert await remaining(runtime, gold) == 1
    await resolve(runtime, ticket_id, 30)  # creation mode: resolving takes nothing more
    assert await remaining(runtime, gold) == 1


async def test_cases_go_down_on_resolution_when_the_setting_says_so(runtime):
    await set_decrement_on(runtime, "resolution")
    company_id, ticket_id = await company_case(runtime)
    gold = await add_entitlement(runtime, company_id)
    await choose(runtime, ticket_id, gold)
    assert await remaining(runtime, gold) == 2
    await resolve(runtime, ticket_id, 0)
    assert await remaining(runtime, gold) == 1
    await resolve(runtime, ticket_id, 0)  # reactivated and resolved again: counted once
    assert await remaining(runtime, gold) == 1


async def test_hours_go_down_by_billable_minutes_at_resolution(runtime):
    company_id, ticket_id = await company_case(runtime)
    hours = await add_entitlement(runtime, company_id, name="Hours", terms_kind="hours",
                                  terms_total=600)
    await choose(runtime, ticket_id, hours)
    assert await remaining(runtime, hours) == 600  # nothing known at creation
    await resolve(runtime, ticket_id, 90)
    assert await remaining(runtime, hours) == 510
    assert await history(runtime, ticket_id, entitlements.USED) == [
        "1 h 30 min used of Hours: 8 h 30 min left"]


async def test_terms_stop_at_zero_with_a_warning_on_the_case(runtime):
    company_id, ticket_id = await company_case(runtime)
    hours = await add_entitlement(runtime, company_id, name="Hours", terms_kind="hours",
                                  terms_total=60)
    await choose(runtime, ticket_id, hours)
    await resolve(runtime, ticket_id, 90)
    assert await remaining(runtime, hours) == 0
    assert await history(runtime, ticket_id, entitlements.SHORT) == [
        "Hours: 30 min over the terms: they stay at zero"]


async def test_cases_at_zero_warn_and_stay_at_zero(runtime):
    company_id, first = await company_case(runtime)
    _, second = await company_case(runtime)
    one = await add_entitlement(runtime, company_id, terms_total=1)
    await choose(runtime, first, one)
    await choose(runtime, second, one)
    assert await remaining(runtime, one) == 0
    assert await history(runtime, second, entitlements.SHORT) == [
        "Gold: no cases left: the terms stay at zero"]


@pytest.mark.parametrize(("values", "message"), [
    ({"ends_on": date(2026, 2, 1)}, "it ended on 2026-02-01"),
    ({"starts_on": date(2026, 6, 1)}, "it starts on 2026-06-01"),
    ({"canceled": True}, "it is canceled"),
    ({"channels": ["phone", "email"]}, "does not cover the channel api"),
    ({"product_ids": []} | {"channels": []} | {"name": "Other"}, None),
])
async def test_choosing_checks_active_and_coverage(runtime, values, message):
    company_id, ticket_id = await company_case(runtime)
    gold = await add_entitlement(runtime, company_id, **values)
    if message is None:
        await choose(runtime, ticket_id, gold)
        return
    with pytest.raises(InvalidInput) as refused:
        await choose(runtime, ticket_id, gold)
    assert message in refused.value.message and refused.value.field == "entitlement_id"
    async with transaction(runtime.sessions) as session:
        assert (await session.get(Ticket, ticket_id)).entitlement_id is None


async def test_another_customers_entitlement_is_refused(runtime):
    _, ticket_id = await company_case(runtime)
    async with transaction(runtime.sessions) as session:
        other = Company(name="Other", created_at=clock.now())
        session.add(other)
        await session.flush()
        other_id = other.id
    theirs = await add_entitlement(runtime, other_id)
    with pytest.raises(InvalidInput, match="not the case customer's"):
        await choose(runtime, ticket_id, theirs)


async def test_one_default_per_customer_offered_when_it_fits(runtime):
    company_id, ticket_id = await company_case(runtime)
    first = await add_entitlement(runtime, company_id, name="First", is_default=True)
    second = await add_entitlement(runtime, company_id, name="Second", is_default=True)
    async with transaction(runtime.sessions) as session:
        assert not (await session.get(Entitlement, first)).is_default
        offered = await entitlements.options_for(session, await session.get(Ticket, ticket_id))
    assert offered.suggested_id == second and offered.current is None
    assert [o.entitlement.name for o in offered.options] == ["First", "Second"]
    await choose(runtime, ticket_id, second)
    async with transaction(runtime.sessions) as session:
        offered = await entitlements.options_for(session, await session.get(Ticket, ticket_id))
    assert offered.suggested_id is None and offered.current.id == second


async def test_bad_entitlements_are_refused_and_used_ones_not_deleted(runtime):
    company_id, ticket_id = await company_case(runtime)
    for values, field in [({"terms_kind": "days"}, "terms_kind"),
                          ({"ends_on": date(2025, 1, 1)}, "ends_on"),
                          ({"channels": ["fax"]}, "channels"),
                          ({"product_ids": [999]}, "product_ids"),
                          ({"customer_contact_id": 1}, "customer")]:
        with pytest.raises(InvalidInput) as refused:
            await add_entitlement(runtime, company_id, **values)
        assert refused.value.field == field
    gold = await add_entitlement(runtime, company_id)
    for changes in ({"channels": None}, {"terms_total": -1}, {"name": " "}):
        async with transaction(runtime.sessions) as session:
            with pytest.raises(InvalidInput):
                await entitlements.update_entitlement(session, gold, changes, actor=None)
    await choose(runtime, ticket_id, gold)
    async with transaction(runtime.sessions) as session:
        with pytest.raises(Conflict):
            await entitlements.delete_entitlement(session, gold, actor=None)


async def test_an_entitlements_sla_goals_apply_instead_of_the_general_ones(runtime):
    async with transaction(runtime.sessions) as session:
        await save_policy(session, {"goals": {"first_response": {"minutes": 240}}}, None)
    company_id, ticket_id = await company_case(runtime)
    fast = await add_entitlement(runtime, company_id, sla_goals={
        "first_response": {"minutes": 30, "due_soon_minutes": 10}})

    async def goal_minutes() -> dict[str, int]:
        async with transaction(runtime.sessions) as session:
            rows = await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id))
            return {r.kind: r.goal_us // 60_000_000 for r in rows}

    assert await goal_minutes() == {"first_response": 240}
    await choose(runtime, ticket_id, fast)
    assert await goal_minutes() == {"first_response": 30}
    await choose(runtime, ticket_id, None)
    assert await goal_minutes() == {"first_response": 240}
