"""Queues and routing in a real Chromium: an admin makes a queue and a routing rule, an
agent routes a case into the queue with "Save and route" and picks it from the rail's
queue view; "Apply routing rule" on the list's selection."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def receive(runtime, subject: str) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email="anna@example.org",
                             sender_name="Anna Berg", subject=subject, text="Please help.",
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


async def admin_makes_queue_and_rule(page, base: str, tmp_path) -> None:
    await page.goto(f"http://{base}/admin/queues")
    await page.get_by_label("Queue name").fill("Printers")
    await page.get_by_role("button", name="Create queue").click()
    await page.get_by_text("Queue created.").wait_for()
    await screenshots(page, tmp_path, "admin-queues")
    await page.goto(f"http://{base}/admin/routing")
    await page.get_by_label("New rule set").fill("Main")
    await page.get_by_role("button", name="Create rule set").click()
    await page.get_by_role("heading", name="Main").wait_for()
    await page.get_by_label("Rule name").fill("Printer cases")
    await page.get_by_label("Subject contains").fill("printer")
    await page.get_by_label("Then").select_option(label="Add to queue Printers")
    await page.get_by_role("button", name="Add rule").click()
    await page.get_by_text("Rule added.").wait_for()
    await page.get_by_role("button", name="Activate rule set").click()
    await page.get_by_text("Active: new routing uses this set.").wait_for()
    row = page.get_by_role("row").filter(has_text="Printer cases")
    assert "Add to queue Printers" in await row.inner_text()
    await screenshots(page, tmp_path, "admin-routing")


async def test_a_case_is_routed_into_a_queue_and_picked_from_the_rail(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    conversation_id = await receive(runtime, "The printer is on fire")
    async with serving(runtime) as base, chromium() as browser:
        admin = await logged_in_page(browser, base, "ada@example.com")
        await admin_makes_queue_and_rule(admin, base, tmp_path)

        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{conversation_id}")
        card = page.get_by_role("region", name="Queues")
        await card.get_by_text("In no queue.").wait_for()
        await page.get_by_label("Priority").select_option("high")
        await page.get_by_role("button", name="Save and route").click()
        await page.get_by_text("Routed by the rule Printer cases").wait_for()
        assert await page.get_by_label("Priority").input_value() == "high"
        await card.get_by_role("link", name="Printers").wait_for()
        assert "unclaimed" in await card.inner_text()
        await page.get_by_text("Ann Agent routed it by the rule Printer cases").wait_for()
        await screenshots(page, tmp_path, "ticket-card-routed")

        await page.goto(f"http://{base}/")
        queues = page.get_by_role("list", name="Queues")
        link = queues.get_by_role("link", name="Printers")
        assert await link.get_by_label("1 unclaimed").count() == 1
        await link.click()
        await page.get_by_role("heading", name="Printers").wait_for()
        await screenshots(page, tmp_path, "queue-view")
        await page.get_by_role("button", name="Pick #").click()
        await page.get_by_text("You work on").wait_for()
        row = page.get_by_role("row").filter(has_text="The printer is on fire")
        assert "Ann Agent" in await row.inner_text()
        assert await link.get_by_label("0 unclaimed").count() == 1
        await row.get_by_role("link").click()
        assert await page.get_by_label("Ticket owner").input_value() == str(agent_id)
        await screenshots(page, tmp_path, "picked")


async def test_apply_routing_rule_on_a_selection(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    await receive(runtime, "Printer jammed")
    await receive(runtime, "Printer out of toner")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await admin_makes_queue_and_rule(page, base, tmp_path)
        await page.goto(f"http://{base}/?view=all")
        await page.get_by_label("Select all conversations").check()
        await page.get_by_role("button", name="Apply routing rule").click()
        await page.get_by_text("2 routed, 0 matched no rule").wait_for()
        link = page.get_by_role("list", name="Queues").get_by_role("link", name="Printers")
        assert await link.get_by_label("2 unclaimed").count() == 1
        await screenshots(page, tmp_path, "applied")

        await page.goto(f"http://{base}/admin/inboxes/support")
        await page.get_by_label("Route new tickets").check()
        await page.get_by_role("button", name="Save routing").click()
        await page.get_by_text("Saved how new tickets are routed.").wait_for()
        assert await page.get_by_label("Route new tickets").is_checked()
        await receive(runtime, "Printer makes noises")
        await page.goto(f"http://{base}/")
        assert await link.get_by_label("3 unclaimed").count() == 1
