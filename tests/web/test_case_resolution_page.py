"""Case work on the conversation page in a real Chromium: add a task, be refused to
resolve, complete it, resolve with 90 billable minutes, reactivate, make a child case and
be refused to resolve the parent, find and link a similar resolved case; and the admin's
case settings page."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import CHROMIUM, PASSWORD, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_accessibility import violations
from tickets.queries import tickets_of_conversations
from tickets.resolution import ResolveInput, resolve_case

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def receive(runtime, subject: str, email: str) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email=email,
                             sender_name="Anna Berg", subject=subject, text="It smears.",
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


@pytest.fixture
async def desk(runtime):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    old = await receive(runtime, "Toner smears on every page", "old@example.org")
    async with transaction(runtime.sessions) as session:
        old_ticket = (await tickets_of_conversations(session, [old]))[old]
        await resolve_case(session, old_ticket.id, ResolveInput(text="Replaced the drum"),
                           actor_id=agent_id)
    case = await receive(runtime, "Printer prints grey stripes", "anna@example.org")
    async with transaction(runtime.sessions) as session:
        case_ticket = (await tickets_of_conversations(session, [case]))[case]
    return {"case": case, "old_ticket": old_ticket.id, "ticket": case_ticket.id}


async def axe_findings(browser, base: str, email: str, path: str) -> list[str]:
    """axe-core's serious and critical findings on `path` (in a context that lets its
    script in), seen by `email`."""
    context = await browser.new_context(viewport={"width": 390, "height": 900},
                                        bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"http://{base}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"http://{base}/**")
    await page.goto(f"http://{base}{path}")
    found = await violations(page)
    await context.close()
    return found


async def resolve(page, billable: str) -> None:
    await page.get_by_text("Resolve case", exact=True).click()
    await page.get_by_label("Billable minutes").fill(billable)
    await page.get_by_role("button", name="Resolve", exact=True).click()


async def test_working_a_case_to_resolution(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{desk['case']}")
        await page.get_by_role("heading", name="Case work").wait_for()

        await page.get_by_text("New activity", exact=True).click()
        await page.get_by_label("Kind").select_option(label="Task")
        await page.get_by_label("Activity subject").fill("Order the drum")
        await page.get_by_role("button", name="Add activity").click()
        await page.get_by_role("status").filter(has_text="Task added").wait_for()

        await resolve(page, "90")
        alert = page.get_by_role("alert")
        await alert.filter(has_text="1 open activity remain").wait_for()

        await page.get_by_label("Minutes spent on Order the drum").fill("40")
        await page.get_by_role("button", name="Complete Order the drum").click()
        await page.get_by_role("status").filter(has_text="Activity completed").wait_for()
        await page.get_by_text("Resolve case", exact=True).click()
        assert await page.get_by_label("Total time").inner_text() == "40 min"
        await page.get_by_label("Billable minutes").fill("90")
        await page.get_by_role("button", name="Resolve", exact=True).click()
        await page.get_by_role("status").filter(has_text="Case resolved").wait_for()
        resolution = await page.locator(".resolution").inner_text()
        assert "Total 40 min, billable 90 min" in resolution
        timeline = await page.locator(".timeline").inner_text()
        assert "Ann Agent resolved the case" in timeline
        assert "Ann Agent completed the task “Order the drum”" in timeline
        await screenshots(page, tmp_path, "resolved")

        await page.get_by_role("button", name="Reactivate case").click()
        await page.get_by_role("status").filter(has_text="Case reactivated").wait_for()
        assert "(reactivated since)" in await page.locator(".resolution").inner_text()

        await page.get_by_text("New child case", exact=True).click()
        await page.get_by_label("Child case title").fill("Send a technician")
        await page.get_by_role("button", name="Create child case").click()
        await page.get_by_role("status").filter(has_text="created").wait_for()
        children = page.get_by_role("list", name="Child cases")
        assert "Send a technician" in await children.inner_text()
        await resolve(page, "0")
        await page.get_by_role("alert").filter(has_text="1 child case is still open").wait_for()

        await page.get_by_label("Find resolved cases").fill("toner")
        await page.get_by_role("button", name="Find similar").click()
        await page.get_by_role("heading", name="Resolved cases like").wait_for()
        found = page.get_by_role("list", name="Resolved cases found")
        assert "Replaced the drum" in await found.inner_text()
        await screenshots(page, tmp_path, "similar")
        await page.get_by_role("button",
                               name=f"Link case #{desk['old_ticket']} as similar").click()
        await page.get_by_role("status").filter(has_text="linked as similar").wait_for()
        linked = page.get_by_role("list", name="Similar cases")
        assert "Toner smears on every page" in await linked.inner_text()
        await screenshots(page, tmp_path, "case")
        for path in (f"/conversations/{desk['case']}",
                     f"/tickets/{desk['ticket']}/similar?conversation_id={desk['case']}&q=toner"):
            assert await axe_findings(browser, base, "ann@example.com", path) == [], path

        await children.get_by_role("link", name="Send a technician").click()
        await page.get_by_role("link", name=f"case #{desk['ticket']}").wait_for()
        assert await page.get_by_role("button", name="Create child case").count() == 0


async def test_admin_sets_case_settings(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin/cases")
        await page.get_by_role("heading", name="Cases").wait_for()
        assert await page.get_by_label("Customer").is_checked()
        await page.get_by_label("Priority").check()
        await page.get_by_label("Close children with parent").check()
        await page.get_by_label("Entitlement terms go down on").select_option("resolution")
        await page.get_by_role("button", name="Save case settings").click()
        await page.get_by_role("status").filter(has_text="Saved.").wait_for()
        assert await page.get_by_label("Close children with parent").is_checked()
        assert await page.get_by_label("Priority").is_checked()
        await screenshots(page, tmp_path, "admin-cases")
        assert await axe_findings(browser, base, "ada@example.com", "/admin/cases") == []
        await page.goto(f"http://{base}/admin/audit")
        assert "Changed the case settings" in await page.locator("main").inner_text()
