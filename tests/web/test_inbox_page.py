"""The inbox page in a real Chromium, used as an agent uses it: log in, pick a view, search,
sort, select and act, move with the keyboard."""

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

MAIL = [
    ("Anna Berg", "anna@example.org", "Invoice counts VAT twice",
     "Hello, the March invoice counts VAT twice. Could you send a corrected one?"),
    ("Bo Brûlé", "bo@acme.example", "Printer on fire",
     "It started smoking after the firmware update. Is that covered by the warranty?"),
    ("Cy Young", "cy@example.net", "Cannot log in",
     "Password reset mail never arrives. I checked the spam folder twice."),
]


async def receive(runtime, name: str, email: str, subject: str, text: str) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email=email,
                             sender_name=name, subject=subject, text=text,
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


@pytest.fixture
async def desk(runtime):
    """An agent of support and three conversations waiting."""
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    ids = [await receive(runtime, *mail) for mail in MAIL]
    return {"agent_id": agent_id, "conversations": ids}


async def test_logging_in_and_out(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"http://{base}/")
        assert "/login" in page.url
        await page.get_by_label("Email").fill("ann@example.com")
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("alert").wait_for()
        assert "Wrong email or password" in await page.get_by_role("alert").inner_text()
        await screenshots(page, tmp_path, "login-error")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("heading", name="All open").wait_for()
        await page.get_by_role("button", name="Log out").click()
        await page.get_by_role("button", name="Log in").wait_for()
        await page.goto(f"http://{base}/")
        assert "/login" in page.url


async def test_views_search_sort_and_bulk_close(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        rows = page.locator("tbody tr.row")
        assert await rows.count() == 3
        rail = page.get_by_role("navigation", name="Views")
        unassigned = rail.get_by_role("link", name="Unassigned")
        assert "3" in await unassigned.inner_text()
        await screenshots(page, tmp_path, "inbox")

        await page.get_by_label("Search").fill("warranty")
        await page.get_by_label("Search").press("Enter")
        await page.get_by_role("heading", name="Search: warranty").wait_for()
        assert await rows.count() == 1
        assert await page.locator("mark").first.inner_text() == "warranty"
        await screenshots(page, tmp_path, "search")

        await page.goto(f"http://{base}/")
        await page.get_by_role("link", name="Subject").click()
        await page.wait_for_url("**sort=subject**")
        subjects = await page.locator("a.subject").all_inner_texts()
        assert subjects == sorted(subjects)

        await page.get_by_label("Select conversation with Cy Young: Cannot log in").check()
        await page.get_by_label("Select conversation with Anna Berg: Invoice counts VAT twice"
                                ).check()
        await page.get_by_role("button", name="Close", exact=True).click()
        await page.get_by_role("status").wait_for()
        assert "2 updated" in await page.get_by_role("status").inner_text()
        assert await rows.count() == 1
        closed = page.get_by_role("navigation", name="Views").get_by_role("link", name="Closed")
        assert "2" in await closed.inner_text()


async def test_an_agent_sees_only_their_inboxes(runtime, desk, tmp_path):
    outsider, _ = await add_user(runtime, "out@example.com", "agent", "Otto Outside")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "out@example.com")
        assert await page.locator("tbody tr.row").count() == 0
        assert "No conversations here" in await page.locator(".empty").inner_text()
        response = await page.goto(f"http://{base}/?q=warranty")
        assert response.status == 200
        assert await page.locator("tbody tr.row").count() == 0


async def test_the_keyboard_moves_through_the_list(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        focused = await page.evaluate("document.activeElement.textContent")
        second = await page.locator("a.subject").nth(1).inner_text()
        assert focused == second
        await page.keyboard.press("k")
        assert await page.evaluate("document.activeElement.textContent") == \
            await page.locator("a.subject").nth(0).inner_text()
        await page.keyboard.press("/")
        assert await page.evaluate("document.activeElement.id") == "search"
