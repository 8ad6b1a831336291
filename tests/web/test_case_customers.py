"""Case fields in a real Chromium: opening a phone case for a company found by a few
letters, setting the case fields on the ticket card, making a case of a message; with
and without a script."""

from __future__ import annotations

import pytest

from core.db import transaction
from inbox.companies import create_company
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import WIDTHS, chromium, logged_in_page, screenshots, serving
from tests.web.test_conversation_page import receive
from tickets import catalog

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def desk(runtime):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    async with transaction(runtime.sessions) as session:
        await create_company(session, name="Acme Corporation", domain="acme.example",
                             actor=None)
        hardware = await catalog.add_subject(session, name="Hardware", parent_id=None,
                                             actor=None)
        await catalog.add_subject(session, name="Printers", parent_id=hardware.id, actor=None)
        await catalog.add_product(session, name="Printer X200", actor=None)
    return agent_id


async def test_a_phone_case_for_a_company_then_its_fields(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.get_by_role("link", name="New case").click()
        await page.get_by_label("Find customer").fill("acm")
        await page.get_by_label("Acme Corporation").check()  # htmx brought the matches
        await page.get_by_label("Caller's name").fill("Rita Ruiz")
        await page.get_by_label("Title").fill("Printer offline")
        await page.get_by_label("Notes").fill("Called at 9:10: floor 2 printer offline.")
        await screenshots(page, tmp_path, "new-case")
        await page.get_by_role("button", name="Open case").click()
        await page.get_by_role("status").filter(has_text="opened").wait_for()
        assert await page.locator("#case-customer").inner_text() == "Acme Corporation"
        assert "floor 2 printer offline" in await page.locator(".kind-comment").inner_text()
        await page.get_by_label("Subject", exact=True).select_option(label="Hardware › Printers")
        await page.get_by_label("Product").select_option(label="Printer X200")
        await page.get_by_label("Origin").select_option(label="Walk-in")
        await page.get_by_label("Case type").select_option(label="Problem")
        await page.get_by_label("Title", exact=True).fill("Printer on floor 2 offline")
        await page.get_by_role("button", name="Save case").click()
        await page.get_by_role("status").filter(has_text="Case saved").wait_for()
        timeline = await page.locator(".timeline").inner_text()
        assert "changed subject from none to Hardware › Printers" in timeline
        assert "changed origin from phone to walk_in" in timeline
        assert await page.get_by_label("Case type").input_value() == "problem"
        await screenshots(page, tmp_path, "case-card")
        await page.goto(f"http://{base}/")
        assert await page.get_by_role("link", name="Printer offline").count() == 1


async def test_choosing_a_customer_and_making_a_case_without_a_script(runtime, desk,
                                                                      tmp_path):
    conversation_id = await receive(runtime, "Two problems", "The scanner beeps.")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        context = await browser.new_context(java_script_enabled=False,
                                            storage_state=await page.context.storage_state())
        still = await context.new_page()
        await still.goto(f"http://{base}/conversations/{conversation_id}")
        await still.get_by_label("Find customer").fill("ACME")
        await still.get_by_role("button", name="Find", exact=True).click()
        await still.get_by_label("Acme Corporation").check()
        await screenshots(still, tmp_path, "choose-customer")
        await still.get_by_role("button", name="Set customer").click()
        await still.get_by_role("status").filter(has_text="Customer set").wait_for()
        assert await still.locator("#case-customer").inner_text() == "Acme Corporation"
        await still.get_by_role("button", name="Make a case of the message from Anna Berg",
                                exact=False).click()
        await still.get_by_role("status").filter(has_text="made from a message").wait_for()
        assert await still.locator("h1").inner_text() == "The scanner beeps."
        assert await still.locator("#case-customer").inner_text() == "Acme Corporation"
        assert "made this case from a message of ticket" in await still.locator(
            ".timeline").inner_text()


async def test_the_case_pages_pass_axe(runtime, desk, tmp_path):
    from tests.web.test_accessibility import check

    conversation_id = await receive(runtime, "Scanner", "It beeps.")
    async with serving(runtime) as base, chromium() as browser:
        for width in WIDTHS.values():
            await check(browser, base, "/cases/new?q=acm", width, tmp_path, "new-case-axe")
            await check(browser, base, f"/conversations/{conversation_id}", width, tmp_path,
                        "case-card-axe")
            await check(browser, base, f"/tickets/1/customer?conversation_id={conversation_id}"
                        "&q=acme", width, tmp_path, "customer-axe")
