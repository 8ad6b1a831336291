"""The conversation page in a real Chromium: read the thread, answer, comment, work the
ticket card, merge and move, as an agent does."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox.messages import Attachment, InboundMessage
from inbox.service import add_agent_message, ingest
from tests.support import CHROMIUM, add_to_inbox, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}]}


async def receive(runtime, subject: str, text: str, *, html: str | None = None,
                  email: str = "anna@example.org", **extra) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email=email,
                             sender_name="Anna Berg", subject=subject, text=text, html=html,
                             external_id=f"{uuid.uuid4().hex}@example.org", **extra)
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


@pytest.fixture
async def desk(runtime):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    await add_to_inbox(runtime, "sales", user_ids=(agent_id,))
    invoice = await receive(
        runtime, "Invoice counts VAT twice",
        "Hello,\nthe March invoice counts VAT twice.\n\nOn Monday you wrote:\n> old news",
        html="<p>Hello,</p><p>the <b>March</b> invoice counts VAT twice.</p>"
             "<img src=\"https://tracker.example/pixel.gif\" alt=\"\">",
        quoted_text_start=len("Hello,\nthe March invoice counts VAT twice.\n\n"),
        attachments=(Attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 " * 300),))
    again = await receive(runtime, "Also the April invoice", "Same problem in April.")
    return {"agent_id": agent_id, "invoice": invoice, "again": again}


async def test_reading_answering_and_working_the_ticket(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        left: list[str] = []  # requests that reached the network for another host

        async def record(route):
            left.append(route.request.url)
            await route.abort()

        await page.context.route("http*://tracker.example/**", record)
        await page.goto(f"http://{base}/conversations/{desk['invoice']}")
        await page.get_by_role("heading", name="Invoice counts VAT twice").wait_for()
        frame = page.frame_locator("iframe.html-body").first
        assert "March" in await frame.locator("body").inner_text()
        assert await page.get_by_role("link", name="invoice.pdf").count() == 1
        assert left == []
        await screenshots(page, tmp_path, "conversation")

        await page.get_by_label("Reply").fill("We are sending a corrected invoice.")
        await page.get_by_role("button", name="Send").click()
        await page.get_by_role("status").filter(has_text="Reply queued").wait_for()
        assert await page.locator(".kind-reply").count() == 1

        await page.get_by_role("tab", name="To the team").click()
        await page.get_by_label("Comment").fill("Finance confirmed the error.")
        await page.get_by_role("button", name="Add comment").click()
        await page.get_by_role("status").filter(has_text="Comment added").wait_for()
        assert "Finance confirmed" in await page.locator(".kind-comment").inner_text()

        await page.get_by_label("Priority").select_option("urgent")
        await page.get_by_role("status").filter(has_text="Ticket saved").wait_for()
        assert await page.get_by_label("Priority").input_value() == "urgent"
        assert "changed priority from medium to urgent" in await page.locator(
            ".timeline").inner_text()

        await page.get_by_label("Owner", exact=True).select_option(label="Ann Agent")
        await page.get_by_role("status").filter(has_text="Assigned").wait_for()
        assert await page.get_by_label("Ticket owner").input_value() == str(desk["agent_id"])

        other = await page.evaluate(
            f"fetch('/api/conversations/{desk['again']}').then(r => r.json())"
            ".then(c => c.ticket_id)")
        await page.get_by_text("Merge another ticket into this one").click()
        await page.get_by_label("Ticket number to merge").fill(f"#{other}")
        await page.get_by_role("button", name="Merge").click()
        await page.get_by_role("status").filter(has_text="merged into").wait_for()

        await page.get_by_role("button", name="Close", exact=True).click()
        await page.get_by_role("status").filter(has_text="Closed").wait_for()
        await page.get_by_role("button", name="Reopen").wait_for()
        await screenshots(page, tmp_path, "conversation-worked")
    await run_jobs(runtime)


async def test_moving_to_another_inbox_and_refusals_shown_on_the_page(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{desk['again']}")
        await page.get_by_label("Move to inbox").select_option(label="Sales")
        await page.get_by_role("button", name="Move").click()
        await page.get_by_role("status").filter(has_text="Moved to Sales").wait_for()
        await page.get_by_text("Merge another ticket into this one").click()
        await page.get_by_label("Ticket number to merge").fill("#99999")
        await page.get_by_role("button", name="Merge").click()
        await page.get_by_role("alert").filter(has_text="no ticket 99999").wait_for()


async def test_a_conversation_out_of_scope_is_not_found(runtime, desk):
    await add_user(runtime, "out@example.com", "agent", "Otto")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "out@example.com")
        response = await page.goto(f"http://{base}/conversations/{desk['invoice']}")
        assert response.status == 404
        body = await page.goto(
            f"http://{base}/conversations/{desk['invoice']}/messages/1/body")
        assert body.status == 404
        thread = await page.goto(f"http://{base}/conversations/{desk['invoice']}/thread")
        assert thread.status == 404


async def test_the_thread_after_a_message_is_its_newer_messages_as_the_page_shows_them(
        runtime, desk):
    async with transaction(runtime.sessions) as session:
        first = await add_agent_message(session, desk["again"], author_id=desk["agent_id"],
                                        kind="comment", text="Looking into April.")
        second = await add_agent_message(session, desk["again"], author_id=desk["agent_id"],
                                         kind="reply", text="Fixed in both invoices.")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        response = await page.goto(
            f"http://{base}/conversations/{desk['again']}/thread?after={first.id - 1}")
        assert response.status == 200
        items = page.get_by_role("listitem")
        assert await items.count() == 2
        assert await page.locator("li.message").evaluate_all(
            "items => items.map(item => item.id)") == [
                f"message-{first.id}", f"message-{second.id}"]
        await items.nth(0).get_by_text("Internal comment").wait_for()
        await items.nth(1).get_by_text("Fixed in both invoices.").wait_for()
        # As on the page, each message can be made into a case.
        assert await items.nth(1).get_by_role("button", name="Make a case").count() == 1
        assert await page.locator("ol.thread").get_attribute(
            "data-newest-message") == str(second.id)
        await page.goto(f"http://{base}/conversations/{desk['again']}/thread?after={second.id}")
        assert await page.get_by_role("listitem").count() == 0
        bad = await page.goto(f"http://{base}/conversations/{desk['again']}/thread?after=x")
        assert bad.status == 422
