"""The whole case journey in a real Chromium, across the four case parts: an admin sets up
a company, its entitlement in hours, a queue and a routing rule; an agent opens a phone
case for the company by hand, puts it under the entitlement, routes it into the queue,
picks it from the rail, works it to resolution (refused while a task is open), sees the
entitlement's hours go down by the billable time, reactivates it, makes a child case (the
parent's resolution is then refused) and links a similar resolved case."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from core import clock
from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tickets.queries import tickets_of_conversations
from tickets.resolution import ResolveInput, resolve_case

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def desk(runtime):
    """An admin, an agent of the support inbox, and one case resolved long ago."""
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    message = InboundMessage(inbox="support", channel="email", sender_email="old@example.org",
                             sender_name="Otto Old", subject="Printer prints grey stripes",
                             text="Every page is striped.",
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        conversation_id = (await ingest(session, message)).conversation_id
        old = (await tickets_of_conversations(session, [conversation_id]))[conversation_id]
        await resolve_case(session, old.id, ResolveInput(text="Replaced the drum unit"),
                           actor_id=agent_id)
    return {"agent": agent_id, "old_ticket": old.id}


async def admin_sets_up(page, base: str, tmp_path) -> None:
    """Terms go down on resolution; company Acme with 10 h of phone support; a queue and a
    rule sending Acme's cases under an entitlement into it."""
    await page.goto(f"http://{base}/admin/cases")
    await page.get_by_label("Entitlement terms go down on").select_option("resolution")
    await page.get_by_role("button", name="Save case settings").click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()

    await page.goto(f"http://{base}/admin/companies")
    await page.get_by_label("Name").fill("Acme Corporation")
    await page.get_by_label("Domain").fill("acme.example")
    await page.get_by_role("button", name="Add company").click()
    await page.get_by_role("heading", name="Acme Corporation").wait_for()

    today = clock.now().date()
    await page.goto(f"http://{base}/admin/entitlements")
    await page.get_by_label("Name", exact=True).fill("Acme support hours")
    await page.get_by_label("Customer", exact=True).fill("Company: Acme Corporation")
    await page.get_by_label("Starts on", exact=True).fill(str(today - timedelta(days=1)))
    await page.get_by_label("Ends on", exact=True).fill(str(today + timedelta(days=365)))
    await page.get_by_label("Terms in", exact=True).select_option("hours")
    await page.get_by_label("Terms (hours or cases)", exact=True).fill("10")
    await page.get_by_label("Phone", exact=True).check()
    await page.get_by_role("button", name="Add entitlement").click()
    await page.get_by_role("status").filter(has_text="'Acme support hours' added").wait_for()

    await page.goto(f"http://{base}/admin/queues")
    await page.get_by_label("Queue name").fill("Key accounts")
    await page.get_by_role("button", name="Create queue").click()
    await page.get_by_text("Queue created.").wait_for()
    await page.goto(f"http://{base}/admin/routing")
    await page.get_by_label("New rule set").fill("Main")
    await page.get_by_role("button", name="Create rule set").click()
    await page.get_by_role("heading", name="Main").wait_for()
    await page.get_by_label("Rule name").fill("Acme under contract")
    await page.get_by_label("Customer's company").select_option(label="Acme Corporation")
    await page.get_by_label("Entitlement present").select_option(label="Yes")
    await page.get_by_label("Then").select_option(label="Add to queue Key accounts")
    await page.get_by_role("button", name="Add rule").click()
    await page.get_by_text("Rule added.").wait_for()
    await page.get_by_role("button", name="Activate rule set").click()
    await page.get_by_text("Active: new routing uses this set.").wait_for()
    await screenshots(page, tmp_path, "admin-routing")


async def remaining_on_admin_page(page, base: str) -> str:
    await page.goto(f"http://{base}/admin/entitlements")
    return await page.get_by_role("row").filter(has_text="Acme support hours").inner_text()


async def agent_opens_phone_case(page) -> None:
    await page.get_by_role("link", name="New case").click()
    await page.get_by_label("Phone", exact=True).check()
    await page.get_by_label("Find customer").fill("acm")
    await page.get_by_label("Acme Corporation").check()
    await page.get_by_label("Caller's name").fill("Rita Ruiz")
    await page.get_by_label("Title").fill("Printer prints grey stripes again")
    await page.get_by_label("Notes").fill("Rita called: floor 2 printer stripes every page.")
    await page.get_by_role("button", name="Open case").click()
    await page.get_by_role("status").filter(has_text="opened").wait_for()
    assert await page.locator("#case-customer").inner_text() == "Acme Corporation"
    assert await page.get_by_label("Origin").input_value() == "phone"


async def route_and_pick(page, base: str) -> None:
    card = page.get_by_role("region", name="Queues")
    await card.get_by_text("In no queue.").wait_for()
    await page.get_by_role("button", name="Save and route").click()
    await page.get_by_text("Routed by the rule Acme under contract").wait_for()
    await card.get_by_role("link", name="Key accounts").wait_for()
    await page.goto(f"http://{base}/")
    link = page.get_by_role("list", name="Queues").get_by_role("link", name="Key accounts")
    assert await link.get_by_label("1 unclaimed").count() == 1
    await link.click()
    await page.get_by_role("heading", name="Key accounts").wait_for()
    await page.get_by_role("button", name="Pick #").click()
    await page.get_by_text("You work on").wait_for()
    row = page.get_by_role("row").filter(has_text="Printer prints grey stripes again")
    assert "Ann Agent" in await row.inner_text()
    await row.get_by_role("link").click()
    await page.get_by_role("heading", name="Case work").wait_for()


async def resolve(page, billable: str) -> None:
    await page.get_by_text("Resolve case", exact=True).click()
    await page.get_by_label("Billable minutes").fill(billable)
    await page.get_by_role("button", name="Resolve", exact=True).click()


async def work_to_resolution(page) -> None:
    await page.get_by_text("New activity", exact=True).click()
    await page.get_by_label("Kind").select_option(label="Task")
    await page.get_by_label("Activity subject").fill("Call Rita back")
    await page.get_by_role("button", name="Add activity").click()
    await page.get_by_role("status").filter(has_text="Task added").wait_for()
    await resolve(page, "90")
    await page.get_by_role("alert").filter(has_text="1 open activity remain").wait_for()
    await page.get_by_label("Minutes spent on Call Rita back").fill("20")
    await page.get_by_role("button", name="Complete Call Rita back").click()
    await page.get_by_role("status").filter(has_text="Activity completed").wait_for()
    await resolve(page, "90")
    await page.get_by_role("status").filter(has_text="Case resolved").wait_for()
    assert "billable 90 min" in await page.locator(".resolution").inner_text()


async def apply_entitlement(page) -> None:
    await page.get_by_label("Entitlement", exact=True).select_option(
        label="Acme support hours (10 h left)")
    await page.get_by_role("button", name="Apply entitlement").click()
    await page.get_by_role("status").filter(has_text="Entitlement applied").wait_for()
    assert await page.get_by_label("Remaining terms").inner_text() == "10 h left"


async def child_refuses_parent_resolve(page) -> None:
    await page.get_by_role("button", name="Reactivate case").click()
    await page.get_by_role("status").filter(has_text="Case reactivated").wait_for()
    await page.get_by_text("New child case", exact=True).click()
    await page.get_by_label("Child case title").fill("Send a technician to floor 2")
    await page.get_by_role("button", name="Create child case").click()
    await page.get_by_role("status").filter(has_text="created").wait_for()
    children = page.get_by_role("list", name="Child cases")
    assert "Send a technician to floor 2" in await children.inner_text()
    await resolve(page, "0")
    await page.get_by_role("alert").filter(has_text="1 child case is still open").wait_for()


async def link_similar(page, old_ticket: int) -> None:
    await page.get_by_label("Find resolved cases").fill("grey stripes")
    await page.get_by_role("button", name="Find similar").click()
    found = page.get_by_role("list", name="Resolved cases found")
    await found.wait_for()
    assert "Replaced the drum unit" in await found.inner_text()
    await page.get_by_role("button", name=f"Link case #{old_ticket} as similar").click()
    await page.get_by_role("status").filter(has_text="linked as similar").wait_for()
    linked = page.get_by_role("list", name="Similar cases")
    assert "Printer prints grey stripes" in await linked.inner_text()


async def test_a_phone_case_from_setup_to_similar_case(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        admin = await logged_in_page(browser, base, "ada@example.com")
        await admin_sets_up(admin, base, tmp_path)
        assert "10 h" in await remaining_on_admin_page(admin, base)

        page = await logged_in_page(browser, base, "ann@example.com")
        await agent_opens_phone_case(page)
        case_url = page.url.split("?")[0]
        await apply_entitlement(page)
        await route_and_pick(page, base)
        assert page.url.split("?")[0] == case_url
        await work_to_resolution(page)
        assert await page.get_by_label("Remaining terms").inner_text() == "8 h 30 min left"
        assert "Entitlement terms: 1 h 30 min used of Acme support hours" in (
            await page.locator(".timeline").inner_text())
        assert "8 h 30 min" in await remaining_on_admin_page(admin, base)

        await child_refuses_parent_resolve(page)
        await link_similar(page, desk["old_ticket"])
        await screenshots(page, tmp_path, "journey-case")

        children = page.get_by_role("list", name="Child cases")
        await children.get_by_role("link", name="Send a technician to floor 2").click()
        await page.get_by_role("heading", name="Send a technician to floor 2").wait_for()
        assert await page.locator("#case-customer").inner_text() == "Acme Corporation"
        assert await page.get_by_label("Origin").input_value() == "phone"
        await screenshots(page, tmp_path, "journey-child")
