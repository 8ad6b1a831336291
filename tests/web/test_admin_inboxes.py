"""The inboxes of the admin console in a real Chromium: an admin adds an address on the inbox
page and mail to it, over SMTP to the receiver process, lands without a restart; an admin
restricts an inbox to a team and an agent's inbox, in a second browser, gains and loses its
conversations; a refused value comes back in the form, nothing saved."""

from __future__ import annotations

import asyncio
import smtplib

import pytest
from sqlalchemy import select

from connectors.email.receiver import start_receiver, stop_receiver
from core.db import transaction
from inbox.models import Conversation, Inbox
from tests.support import CHROMIUM, PASSWORD, add_user, run_jobs, submit_form
from tests.web.site import WIDTHS, chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


def send(port: int, address: str, subject: str) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            return client.sendmail(
                "anna@customer.example", [address],
                f"From: Anna <anna@customer.example>\r\nTo: {address}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject.replace(' ', '.')}@customer.example>\r\n\r\nHello.\r\n")
        except smtplib.SMTPRecipientsRefused as refused:
            return refused.recipients


async def conversation_subjects(runtime, slug: str) -> list[str]:
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(
            select(Conversation.subject).join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(Inbox.slug == slug))).all())


async def test_an_admin_adds_an_address_and_mail_to_it_lands_without_a_restart(
        runtime, admin, tmp_path):
    receiver = await start_receiver(runtime, port=0)
    try:
        port = receiver.port
        refused = await asyncio.to_thread(send, port, "orders@example.com", "Before")
        assert refused["orders@example.com"][0] == 550
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "admin@example.com")
            await page.goto(f"http://{base}/admin")
            await page.get_by_role("navigation", name="Admin console").get_by_role(
                "link", name="Inboxes").click()
            await page.get_by_role("heading", name="Inboxes").wait_for()
            await screenshots(page, tmp_path, "admin-inboxes")
            await page.get_by_role("link", name="Support").click()
            addresses = page.get_by_label("Addresses")
            assert await addresses.input_value() == "help@example.com"
            await addresses.fill("help@example.com\norders@example.com")
            await page.get_by_label("From name").fill("Example support")
            await page.get_by_role("button", name="Save inbox").click()
            await page.get_by_role("status").filter(has_text="Saved").wait_for()
            await screenshots(page, tmp_path, "admin-inbox")

            # The receiver process was told over its pipe; retried for the moment that
            # takes, never restarted.
            for _ in range(100):
                answer = await asyncio.to_thread(send, port, "orders@example.com",
                                                 "Order 1234 is late")
                if answer == {}:
                    break
                await asyncio.sleep(0.05)
            assert answer == {}
            assert receiver.process is not None and receiver.process.is_alive()
            for _ in range(200):
                await run_jobs(runtime)
                if "Order 1234 is late" in await conversation_subjects(runtime, "support"):
                    break
                await asyncio.sleep(0.05)
            await page.goto(f"http://{base}/")
            await page.get_by_text("Order 1234 is late").first.wait_for()

            await page.goto(f"http://{base}/admin/inboxes/support")
            await page.get_by_label("Addresses").fill("help@example.com")
            await page.get_by_role("button", name="Save inbox").click()
            await page.get_by_role("status").filter(has_text="Saved").wait_for()
        for _ in range(100):
            answer = await asyncio.to_thread(send, port, "orders@example.com", "After")
            if answer:
                break
            await asyncio.sleep(0.05)
        assert answer["orders@example.com"][0] == 550
    finally:
        await stop_receiver(receiver)


async def test_a_new_inbox_with_a_taken_address_comes_back_with_the_reason(
        runtime, admin, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "admin@example.com")
        await page.goto(f"http://{base}/admin/inboxes")
        await page.get_by_role("link", name="New inbox").click()
        await page.get_by_label("Short name (in links)").fill("sales")
        await page.get_by_label("Name", exact=True).fill("Sales")
        await page.get_by_label("Addresses").fill("sales@example.com\nhelp@example.com")
        await page.get_by_label("Catch-all domains").fill("sales.example")
        await page.get_by_role("button", name="Create inbox").click()
        problem = page.get_by_role("alert")
        await problem.wait_for()
        assert await problem.inner_text() == "help@example.com belongs to the inbox 'support'"
        assert await page.get_by_label("Addresses").get_attribute("aria-invalid") == "true"
        await screenshots(page, tmp_path, "admin-inbox-new-refused")
        async with transaction(runtime.sessions) as session:
            assert (await session.scalars(select(Inbox.slug))).all() == ["support"]

        await page.get_by_label("Addresses").fill("sales@example.com")
        await page.get_by_role("button", name="Create inbox").click()
        await page.get_by_role("heading", name="Sales").wait_for()
        await page.get_by_role("status").filter(has_text="Inbox created").wait_for()
        await page.get_by_role("button", name="Delete inbox").click()
        await page.get_by_role("heading", name="Inboxes").wait_for()
        assert await page.get_by_role("link", name="Sales").count() == 0


async def test_restricting_an_inbox_to_a_team_changes_what_an_agent_sees(
        runtime, client, admin, tmp_path):
    _, boss = admin
    dana, _ = await add_user(runtime, "dana@example.com", "agent", "Dana Agent")
    team = await client.post("/api/teams", headers=boss,
                             json={"name": "Printers", "member_ids": [dana]})
    assert team.status_code == 201, team.text
    assert (await submit_form(client, subject="Printer on fire")).status_code < 400
    await run_jobs(runtime)

    async with serving(runtime) as base, chromium() as browser:
        agent_page = await logged_in_page(browser, base, "dana@example.com")
        assert await agent_page.get_by_text("Printer on fire").count() == 0

        page = await logged_in_page(browser, base, "admin@example.com")
        await page.goto(f"http://{base}/admin/inboxes/support")
        who = page.get_by_role("group", name="Who can see this inbox")
        await who.get_by_label("Printers").check()
        await page.get_by_role("button", name="Save who can see it").click()
        await page.get_by_role("status").filter(has_text="Saved who can see").wait_for()
        assert await page.get_by_label("Printers").is_checked()

        await agent_page.reload()
        await agent_page.get_by_text("Printer on fire").first.wait_for()
        await screenshots(agent_page, tmp_path, "agent-gains")

        await page.get_by_label("Printers").uncheck()
        await page.get_by_role("button", name="Save who can see it").click()
        await page.get_by_role("status").filter(has_text="Saved who can see").wait_for()
        await agent_page.reload()
        await agent_page.get_by_role("main").wait_for()
        assert await agent_page.get_by_text("Printer on fire").count() == 0



@pytest.mark.parametrize("width", WIDTHS.values())
async def test_the_inbox_pages_pass_axe(runtime, admin, client, width):
    from tests.web.test_accessibility import violations

    _, boss = admin
    await client.post("/api/teams", headers=boss, json={"name": "Printers", "member_ids": []})
    await add_user(runtime, "dana@example.com", "agent", "Dana Agent")
    async with serving(runtime) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            bypass_csp=True)
        page = await context.new_page()
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("admin@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/")
        found = []
        for path in ("/admin/inboxes", "/admin/inboxes/new", "/admin/inboxes/support"):
            await page.goto(f"http://{base}{path}")
            found += [f"{path}: {v}" for v in await violations(page)]
        await context.close()
    assert found == [], "\n".join(found)
