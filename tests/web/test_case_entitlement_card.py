"""The ticket card's entitlement and status reason in a real Chromium: the customer's
default offered and applied, its remaining terms shown, an entitlement that does not fit
not offered, and only the allowed status reasons offered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock
from core.db import transaction
from inbox.models import Company
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_conversation_page import receive
from tickets import entitlements, service, status_reasons
from tickets.models import Ticket

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def case(runtime):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    conversation_id = await receive(runtime, "Printer jams", "It jams on every page.")
    today = clock.now().date()
    async with transaction(runtime.sessions) as session:
        ticket = await service.ticket_for_conversation(session, conversation_id)
        company = Company(name="Acme", created_at=clock.now())
        session.add(company)
        await session.flush()
        # The customer is set by the customers part; here the column is set to arrange it.
        ticket.customer_company_id = company.id
        year = {"customer_company_id": company.id, "starts_on": today - timedelta(days=30),
                "ends_on": today + timedelta(days=300)}
        gold = await entitlements.create_entitlement(session, {
            "name": "Gold", "terms_kind": "hours", "terms_total": 600, "is_default": True,
            **year}, actor=None)
        await entitlements.create_entitlement(session, {
            "name": "Phone desk", "terms_kind": "cases", "terms_total": 5,
            "channels": ["phone"], **year}, actor=None)
        ids = {r.key: r.id for r in await status_reasons.list_reasons(session)}
        await status_reasons.set_transitions(
            session, {(ids["researching"], ids["information_provided"])}, actor=None)
        return {"conversation": conversation_id, "ticket": ticket.id, "gold": gold.id}


async def test_default_offered_applied_and_reasons_limited(runtime, case, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{case['conversation']}")
        card = page.get_by_role("region", name="Service terms")
        await card.get_by_text("The customer's default entitlement fits").wait_for()
        choice = page.get_by_label("Entitlement", exact=True)
        assert await choice.input_value() == str(case["gold"])
        phone = choice.locator("option", has_text="Phone desk")
        assert await phone.is_disabled()
        assert "does not cover the channel email" in await phone.inner_text()
        await screenshots(page, tmp_path, "card-offered")

        await page.get_by_role("button", name="Apply entitlement").click()
        await page.get_by_role("status").filter(has_text="Entitlement applied").wait_for()
        assert await page.get_by_label("Remaining terms").inner_text() == "10 h left"
        assert "changed entitlement from none to Gold" in await page.locator(
            ".timeline").inner_text()

        reason = page.get_by_label("Status reason")
        await reason.select_option(label="Waiting on contact: Researching")
        await page.get_by_role("button", name="Save status reason").click()
        await page.get_by_role("status").filter(has_text="Status reason saved").wait_for()
        options = await page.get_by_label("Status reason").locator("option").all_inner_texts()
        assert "Closed: Information provided" in options
        assert "Closed: Problem solved" not in options
        assert await page.get_by_label("Status reason").input_value() == (
            "waiting_on_contact|researching")
        assert "changed status reason from none to Researching" in await page.locator(
            ".timeline").inner_text()
        await screenshots(page, tmp_path, "card-applied")

    async with transaction(runtime.sessions) as session:
        ticket = await session.get(Ticket, case["ticket"])
        assert (ticket.entitlement_id, ticket.status, ticket.status_reason) == (
            case["gold"], "waiting_on_contact", "researching")


async def test_refused_reason_is_shown_on_the_page(runtime, case, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{case['conversation']}")
        await page.get_by_label("Status reason").select_option(
            label="Waiting on contact: Researching")
        await page.get_by_role("button", name="Save status reason").click()
        await page.get_by_role("status").filter(has_text="Status reason saved").wait_for()
        # A stale form (another tab) posts a reason no longer allowed: refused, named.
        await page.evaluate("""() => {
            const option = document.createElement('option');
            option.value = 'closed|canceled'; option.textContent = 'stale';
            document.getElementById('case-status-reason').append(option);
        }""")
        await page.get_by_label("Status reason").select_option(label="stale")
        await page.get_by_role("button", name="Save status reason").click()
        await page.get_by_role("alert").filter(
            has_text="status reason must be one of information_provided").wait_for()


async def test_terms_used_and_the_zero_warning_are_on_the_timeline(runtime, case, tmp_path):
    async with transaction(runtime.sessions) as session:
        ticket = await session.get(Ticket, case["ticket"])
        today = clock.now().date()
        await entitlements.create_entitlement(session, {
            "name": "Last case", "terms_kind": "cases", "terms_total": 0,
            "customer_company_id": ticket.customer_company_id,
            "starts_on": today, "ends_on": today}, actor=None)
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{case['conversation']}")
        await page.get_by_label("Entitlement", exact=True).select_option(
            label="Last case (0 cases left)")
        await page.get_by_role("button", name="Apply entitlement").click()
        await page.get_by_role("status").filter(has_text="Entitlement applied").wait_for()
        timeline = await page.locator(".timeline").inner_text()
        assert "Entitlement terms: 1 case used of Last case: 0 cases left" in timeline
        assert ("Entitlement warning: Last case: no cases left: the terms stay at zero"
                in timeline)
        assert await page.get_by_label("Remaining terms").inner_text() == "0 cases left"
        await screenshots(page, tmp_path, "card-zero-warning")
