"""The admin console in a real Chromium: an admin reaches it from the top bar, moves
through its sections and reads the audit log; an agent has no way in."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit import service as audit
from core.db import transaction
from tests.support import CHROMIUM, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def test_an_admin_reads_the_audit_log_and_an_agent_finds_no_console(runtime, tmp_path):
    admin_id, _ = await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    await add_user(runtime, "al@example.com", "agent", "Al Agent")
    async with transaction(runtime.sessions) as session:
        ada = await session.get(User, admin_id)
        await audit.record_change(session, actor=ada, action="team.created",
                                  subject_type="team", subject_id=3,
                                  summary="Team Billing created", after={"name": "Billing"})
        await audit.record_change(session, actor=ada, action="user.updated",
                                  subject_type="user", subject_id=9,
                                  summary="Bo Builder made an admin",
                                  before={"role": "agent"}, after={"role": "admin"})
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.get_by_role("link", name="Admin", exact=True).click()
        await page.get_by_role("heading", name="Admin console").wait_for()
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Audit log").click()
        await page.get_by_role("heading", name="Audit log").wait_for()
        row = page.get_by_role("row").filter(has_text="Bo Builder made an admin")
        await row.get_by_text("Before and after").click()
        assert "agent" in await row.locator("del").inner_text()
        assert "admin" in await row.locator("ins").inner_text()
        await screenshots(page, tmp_path, "admin-audit")

        await page.get_by_label("What").select_option("team")
        await page.get_by_role("button", name="Filter").click()
        await page.get_by_text("Team Billing created").wait_for()
        assert await page.get_by_text("Bo Builder made an admin").count() == 0

        agent = await logged_in_page(browser, base, "al@example.com")
        assert await agent.get_by_role("link", name="Admin", exact=True).count() == 0
        answer = await agent.goto(f"http://{base}/admin/audit")
        assert answer is not None and answer.status == 404
        await agent.get_by_role("heading", name="Not found").wait_for()


async def test_an_admin_writes_canned_replies_and_the_log_keeps_each_change(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("link", name="Canned replies").first.click()
        await page.get_by_role("heading", name="Canned replies").wait_for()
        new = page.get_by_role("region", name="New canned reply")
        await new.get_by_label("Name").fill("Refund sent")
        await new.get_by_label("Text").fill("Hi {{contact.first_name}}, the refund is on its way.")
        await new.get_by_role("button", name="Add canned reply").click()
        await page.get_by_role("status").filter(has_text="'Refund sent' added").wait_for()

        await new.get_by_label("Name").fill("Refund sent")
        await new.get_by_label("Text").fill("Again")
        await new.get_by_role("button", name="Add canned reply").click()
        await page.get_by_role("alert").filter(has_text="exists").wait_for()
        assert await new.get_by_label("Text").input_value() == "Again"

        card = page.get_by_role("region", name="Refund sent")
        await card.get_by_label("Name").fill("Refund issued")
        await card.get_by_role("button", name="Save Refund sent").click()
        await page.get_by_role("status").filter(has_text="'Refund issued' saved").wait_for()
        await screenshots(page, tmp_path, "admin-canned-replies")

        await page.get_by_role("region", name="Refund issued").get_by_role(
            "button", name="Delete Refund issued").click()
        await page.get_by_role("status").filter(has_text="deleted").wait_for()
        await page.get_by_text("No canned replies yet.").wait_for()

        await page.goto(f"http://{base}/admin/audit")
        summaries = await page.locator(".audit-log tbody tr").all_inner_texts()
        assert [s.split("\t")[2] for s in summaries] == [
            "snippet.deleted Canned reply 'Refund issued' deleted",
            "snippet.updated Canned reply 'Refund issued' changed",
            "snippet.created Canned reply 'Refund sent' created"]


async def test_on_a_phone_the_current_section_is_in_view(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com", width=390)
        await page.goto(f"http://{base}/admin/audit")
        current = page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Audit log")
        box = await current.bounding_box()
        # Within a pixel: the rail's scroll stops on whole pixels, the links are laid out
        # on fractions of one.
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 391, box
