"""Live updates in a real Chromium: the inbox and the conversation page follow what
happens elsewhere without a reload, and never show what the agent may not see."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from connectors.email.smtp_in import start_smtp, stop_smtp
from core.db import transaction
from core.outbox import OutboxItem
from inbox.messages import InboundMessage
from inbox.models import Message
from inbox.service import ingest
from tests.support import CHROMIUM, add_to_inbox, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}]}


async def receive(runtime, subject: str, *, inbox: str = "support", text: str = "Hello",
                  references: tuple[str, ...] = (), external_id: str | None = None) -> int:
    message = InboundMessage(inbox=inbox, channel="email", sender_email="anna@example.org",
                             sender_name="Anna Berg", subject=subject, text=text,
                             external_id=external_id or f"{uuid.uuid4().hex}@example.org",
                             references=references)
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


@pytest.fixture
async def desk(runtime):
    """Ann and Ben work support (not sales); one conversation is waiting."""
    people = {}
    for email, name in (("ann@example.com", "Ann Agent"), ("ben@example.com", "Ben Agent")):
        people[name.split()[0].lower()], _ = await add_user(runtime, email, "agent", name)
    await add_to_inbox(runtime, "support", user_ids=tuple(people.values()))
    people["waiting"] = await receive(runtime, "Printer on fire",
                                      external_id="first@example.org")
    return people


async def live(page) -> None:
    """Wait until the page's live socket is open."""
    # (a locator, not wait_for_function: the page's policy forbids the eval it polls with)
    await page.locator("body[data-live=open]").wait_for(state="attached")


async def test_a_new_email_appears_in_the_open_inbox_without_reload(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.get_by_role("link", name="Printer on fire").wait_for()
        await live(page)
        await page.evaluate("window.notReloaded = true")
        counts = page.get_by_role("navigation", name="Views")
        assert "1 conversations" in await counts.inner_html()

        await receive(runtime, "Quote for 40 chairs", inbox="sales")
        await receive(runtime, "Cannot log in")
        await page.get_by_role("link", name="Cannot log in").wait_for()
        assert await page.evaluate("window.notReloaded") is True
        assert await page.get_by_role("link", name="Quote for 40 chairs").count() == 0
        await counts.get_by_label("2 conversations").first.wait_for()
        await screenshots(page, tmp_path, "live-inbox")


def send_mail(port: int, to: str, subject: str) -> None:
    """One message over SMTP to the server on loopback, as a customer's MTA sends it."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Cy Young <cy@example.net>", to, subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.net>"
    message.set_content("Sent over SMTP.")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message)


async def test_mail_received_over_smtp_appears_in_the_open_inbox(runtime, desk, tmp_path):
    smtp = await start_smtp(runtime, port=0)
    try:
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "ann@example.com")
            await page.get_by_role("link", name="Printer on fire").wait_for()
            await live(page)
            await page.evaluate("window.notReloaded = true")
            for to, subject in (("sales@example.com", "Quote for 40 chairs"),
                                ("help@example.com", "Invoice twice")):
                await asyncio.to_thread(send_mail, smtp.port, to, subject)
            await run_jobs(runtime)
            await page.get_by_role("link", name="Invoice twice").wait_for()
            assert await page.evaluate("window.notReloaded") is True
            assert await page.get_by_role("link", name="Quote for 40 chairs").count() == 0
            await screenshots(page, tmp_path, "live-inbox-smtp")
    finally:
        await stop_smtp(smtp)


async def test_a_new_message_is_announced_on_the_open_conversation(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{desk['waiting']}")
        await live(page)
        await page.get_by_label("Reply").fill("Draft that must survive")
        await receive(runtime, "Re: Printer on fire", text="Now it smokes even more.",
                      references=("first@example.org",))
        await page.get_by_role("status").filter(has_text="New message").wait_for()
        await screenshots(page, tmp_path, "live-banner")
        await page.get_by_role("button", name="Show new messages").click()
        await page.get_by_text("Now it smokes even more.").wait_for()
        assert await page.get_by_label("Reply").input_value() == "Draft that must survive"
        assert await page.locator(".message").count() == 2


async def test_colleagues_see_who_is_viewing_and_replying(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        ann = await logged_in_page(browser, base, "ann@example.com")
        ben = await logged_in_page(browser, base, "ben@example.com")
        url = f"http://{base}/conversations/{desk['waiting']}"
        await ann.goto(url)
        await live(ann)
        await ben.goto(url)
        await live(ben)
        ann_sees, ben_sees = ann.get_by_role("status"), ben.get_by_role("status")
        await ben_sees.filter(has_text="Ann Agent is viewing").wait_for()  # told on arrival
        await ann_sees.filter(has_text="Ben Agent is viewing").wait_for()
        await ben.get_by_label("Reply").type("On it")
        await ann_sees.filter(has_text="Ben Agent is replying").wait_for()
        await screenshots(ann, tmp_path, "live-presence")
        await ben.goto(f"http://{base}/")
        await ann_sees.filter(has_text="Ben Agent").wait_for(state="detached")


async def agent_replies(runtime, conversation_id: int) -> tuple[list[str], int]:
    """The agents' replies stored in the conversation (texts), and the outbox items."""
    async with transaction(runtime.sessions) as session:
        texts = (await session.scalars(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound")
            .order_by(Message.id))).all()
        items = await session.scalar(select(func.count()).select_from(OutboxItem))
    return list(texts), items


async def test_a_reply_after_a_colleagues_asks_first_and_a_double_click_sends_once(
        runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        ann = await logged_in_page(browser, base, "ann@example.com")
        ben = await logged_in_page(browser, base, "ben@example.com")
        url = f"http://{base}/conversations/{desk['waiting']}"
        await ann.goto(url)
        await ben.goto(url)
        await ben.get_by_label("Reply").fill("Ben here: a technician is on the way.")
        await ben.get_by_role("button", name="Send").click()
        await ben.get_by_role("status").filter(has_text="Reply queued").wait_for()

        await ann.get_by_label("Reply").fill("Ann here: please unplug it.")
        await ann.get_by_role("button", name="Send", exact=True).click()
        await ann.get_by_role("alert").filter(has_text="1 new message arrived").wait_for()
        new = ann.get_by_role("article").filter(has=ann.get_by_text("New", exact=True))
        assert "technician is on the way" in await new.inner_text()
        assert await ann.get_by_label("Reply").input_value() == "Ann here: please unplug it."
        await ann.get_by_role("link", name="Review").wait_for()
        await screenshots(ann, tmp_path, "collision-prompt")
        assert (await agent_replies(runtime, desk["waiting"]))[0] == [
            "Ben here: a technician is on the way."]
        await ann.get_by_role("button", name="Send anyway").click()
        await ann.get_by_role("status").filter(has_text="Reply queued").wait_for()

        await ann.get_by_label("Reply").fill("And please open a window.")
        async with ann.expect_navigation():  # the page before says "Reply queued" too
            await ann.get_by_role("button", name="Send", exact=True).dblclick()
        await ann.get_by_role("status").filter(has_text="Reply queued").wait_for()
        assert await ann.get_by_label("Reply").input_value() == ""
        # The same form reaching the server twice (a resubmit, a retried post):
        await ann.get_by_label("Reply").fill("Keep away from the smoke.")
        statuses = await ann.evaluate("""() => {
            const form = document.getElementById("reply-text").form;
            const post = () => fetch(form.action, {method: "POST", body: new FormData(form),
                                                   redirect: "manual"});
            return Promise.all([post(), post()]).then(answers => answers.map(a => a.type));
        }""")
        assert statuses == ["opaqueredirect", "opaqueredirect"]  # both answered by a 303
        texts, outbox = await agent_replies(runtime, desk["waiting"])
        assert texts == ["Ben here: a technician is on the way.", "Ann here: please unplug it.",
                         "And please open a window.", "Keep away from the smoke."]
        assert outbox == 4


async def test_a_change_made_elsewhere_shows_on_the_open_conversation(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        ann = await logged_in_page(browser, base, "ann@example.com")
        await ann.goto(f"http://{base}/conversations/{desk['waiting']}")
        await live(ann)
        await ann.evaluate("window.notReloaded = true")
        await ann.get_by_label("Reply").fill("Draft that must survive")

        ben = await logged_in_page(browser, base, "ben@example.com")
        await ben.goto(f"http://{base}/conversations/{desk['waiting']}")
        await ben.get_by_label("Priority").select_option("urgent")
        await ben.get_by_role("status").filter(has_text="Ticket saved").wait_for()
        await ben.get_by_role("button", name="Close", exact=True).click()
        await ben.get_by_role("status").filter(has_text="Closed").wait_for()

        await ann.get_by_role("button", name="Reopen").wait_for()
        await ann.locator("#ticket-priority option[value=urgent][selected]").wait_for(
            state="attached")
        assert "changed priority from medium to urgent" in await ann.locator(
            ".timeline").inner_text()
        assert await ann.evaluate("window.notReloaded") is True
        assert await ann.get_by_label("Reply").input_value() == "Draft that must survive"
        await screenshots(ann, tmp_path, "live-details")


async def test_sla_clocks_count_down_on_open_pages(runtime, client, manual_clock, tmp_path):
    ann, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(ann,))
    _, admin = await add_user(runtime, "boss@example.com", "admin")
    answer = await client.put("/api/sla/settings", headers=admin, json={
        "mode": "always", "goals": {"first_response": {"minutes": 30}}})
    assert answer.status_code == 200, answer.text
    waiting = await receive(runtime, "Printer on fire")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.context.add_init_script("window.FRONTDESK_TICK_MS = 300")
        await page.goto(f"http://{base}/conversations/{waiting}")
        await page.get_by_text("First response: due in 30m").wait_for()
        await page.evaluate("window.notReloaded = true")
        inbox = await page.context.new_page()
        await inbox.goto(f"http://{base}/")
        await inbox.get_by_text("Due in 30m").wait_for()

        manual_clock.advance(timedelta(minutes=40))
        await page.get_by_text("First response: overdue by 10m").wait_for()
        await inbox.get_by_text("Overdue 10m").wait_for()
        assert await page.evaluate("window.notReloaded") is True
