"""Custom views in a real Chromium: an agent makes one in the form, sees only what it keeps
and its count in the rail, edits and deletes it; another agent, not allowed to share views,
is offered private views only and refused a shared one."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tickets.service import ticket_for_conversation, update_ticket

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

MAIL = [  # (inbox, subject, priority)
    ("billing", "Charged twice for March", "urgent"),
    ("billing", "Card declined at checkout", "urgent"),
    ("billing", "Invoice address", "low"),
    ("support", "Printer on fire", "urgent"),
]


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "billing", "name": "Billing", "addresses": ["billing@example.com"]}]}


async def _receive(runtime, inbox: str, subject: str, priority: str) -> None:
    key = uuid.uuid4().hex
    message = InboundMessage(inbox=inbox, channel="email", sender_email=f"{key[:6]}@example.org",
                             sender_name=f"Customer {key[:4]}", subject=subject,
                             text="Please help.", external_id=f"{key}@example.org")
    async with transaction(runtime.sessions) as session:
        result = await ingest(session, message)
        ticket = await ticket_for_conversation(session, result.conversation_id)
        assert ticket is not None
        await update_ticket(session, ticket.id, {"priority": priority}, actor_id=None,
                            cause="agent")


@pytest.fixture
async def desk(runtime):
    """Ann (both inboxes, allowed to share views) and Ben (support only, not allowed)."""
    ann, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    ben, _ = await add_user(runtime, "ben@example.com", "agent", "Ben Agent")
    async with transaction(runtime.sessions) as session:
        (await session.get(User, ann)).can_share_views = True
    await add_to_inbox(runtime, "support", user_ids=(ann, ben))
    await add_to_inbox(runtime, "billing", user_ids=(ann,))
    for mail in MAIL:
        await _receive(runtime, *mail)


def _rail_link(page, name: str):
    return page.get_by_role("navigation", name="Views").get_by_role("link", name=name)


async def test_an_agent_makes_edits_and_deletes_a_custom_view(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await _rail_link(page, "New view").click()
        await page.get_by_role("heading", name="New view").wait_for()
        await page.get_by_label("Name").fill("Urgent billing")
        await page.get_by_label("Who sees it").select_option(label="Everyone")
        await page.get_by_label("Priority").select_option(label="Urgent")
        await page.get_by_label("Inbox").select_option(label="Billing")
        await screenshots(page, tmp_path, "new-view")
        await page.get_by_role("button", name="Create view").click()

        await page.get_by_role("heading", name="Urgent billing").wait_for()
        assert "view=" in page.url
        subjects = await page.locator("a.subject").all_inner_texts()
        assert sorted(subjects) == ["Card declined at checkout", "Charged twice for March"]
        link = _rail_link(page, "Urgent billing")
        assert await link.get_attribute("aria-current") == "page"
        assert await link.locator(".count").inner_text() == "2"
        await screenshots(page, tmp_path, "custom-view")

        await page.get_by_role("link", name="Subject").click()  # sorts inside the view
        await page.wait_for_url("**sort=subject**")
        assert await page.locator("a.subject").all_inner_texts() == [
            "Card declined at checkout", "Charged twice for March"]

        await page.get_by_role("link", name="Edit view").click()
        await page.get_by_role("heading", name="Edit view: Urgent billing").wait_for()
        assert await page.get_by_label("Priority").input_value() == "urgent"
        await page.get_by_label("Name").fill("All billing")
        await page.get_by_label("Priority").select_option(label="Any priority")
        await page.get_by_role("button", name="Save view").click()
        await page.get_by_role("heading", name="All billing").wait_for()
        assert await page.locator("tbody tr.row").count() == 3
        assert await _rail_link(page, "All billing").locator(".count").inner_text() == "3"

        await page.get_by_role("button", name="Delete view All billing").click()
        await page.get_by_role("status").wait_for()
        assert await _rail_link(page, "All billing").count() == 0


async def test_without_the_permission_only_private_views(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        ann = await logged_in_page(browser, base, "ann@example.com")
        await ann.goto(f"http://{base}/views/new")
        await ann.get_by_label("Name").fill("Urgent billing")
        await ann.get_by_label("Who sees it").select_option(label="Everyone")
        await ann.get_by_label("Priority").select_option(label="Urgent")
        await ann.get_by_label("Inbox").select_option(label="Billing")
        await ann.get_by_role("button", name="Create view").click()
        await ann.get_by_role("heading", name="Urgent billing").wait_for()

        ben = await logged_in_page(browser, base, "ben@example.com")
        # The shared view reaches Ben, but inside his inboxes: billing is not one of them.
        shared = _rail_link(ben, "Urgent billing")
        assert await shared.locator(".count").inner_text() == "0"
        await shared.click()
        await ben.get_by_role("heading", name="Urgent billing").wait_for()
        assert await ben.locator("tbody tr.row").count() == 0
        assert await ben.get_by_role("link", name="Edit view").count() == 0

        await ben.goto(f"http://{base}/views/new")
        visibility = ben.get_by_label("Who sees it")
        assert await visibility.locator("option").all_inner_texts() == ["Only me"]
        assert await ben.get_by_label("Inbox").locator("option").all_inner_texts() == [
            "Any inbox", "Support"]
        # A form sent with a visibility it did not offer is refused, saying why.
        await ben.get_by_label("Name").fill("For everyone")
        await visibility.evaluate(
            "select => { select.add(new Option('Everyone', 'shared')); select.value = 'shared'; }")
        await ben.get_by_role("button", name="Create view").click()
        alert = ben.get_by_role("alert")
        await alert.wait_for()
        assert await alert.inner_text() == "you may only create private views"
        await screenshots(ben, tmp_path, "refused-shared-view")

        await visibility.select_option(label="Only me")
        await ben.get_by_label("Priority").select_option(label="Urgent")
        await ben.get_by_role("button", name="Create view").click()
        await ben.get_by_role("heading", name="For everyone").wait_for()
        assert await ben.locator("a.subject").all_inner_texts() == ["Printer on fire"]
        assert await _rail_link(ben, "For everyone").locator(".count").inner_text() == "1"
        await ann.reload()
        assert await _rail_link(ann, "For everyone").count() == 0
