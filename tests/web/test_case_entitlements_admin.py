"""The entitlements and status reasons pages of the admin console in a real Chromium:
an admin adds an entitlement for a company found by typing, edits it, and keeps the
reasons of each status and their transitions; every change is in the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core import clock
from core.db import transaction
from inbox.models import Company
from tests.support import CHROMIUM, PASSWORD, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_accessibility import violations
from tickets import entitlements, status_reasons

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def console(runtime):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with transaction(runtime.sessions) as session:
        session.add(Company(name="Acme Corp", created_at=clock.now()))


async def audit_actions(runtime) -> set[str]:
    async with transaction(runtime.sessions) as session:
        return set((await session.scalars(select(AuditEntry.action))).all())


async def test_an_admin_adds_and_edits_an_entitlement(runtime, console, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("link", name="Entitlements").first.click()
        await page.get_by_role("heading", name="Entitlements", exact=True).wait_for()
        await page.get_by_label("Name", exact=True).fill("Gold 2026")
        # Only a customer from the list will do, not the letters typed to find it.
        await page.get_by_label("Customer", exact=True).fill("Company: Acme")
        await page.get_by_label("Starts on", exact=True).fill("2026-01-01")
        await page.get_by_label("Ends on", exact=True).fill("2026-12-31")
        await page.get_by_label("Terms in", exact=True).select_option("hours")
        await page.get_by_label("Terms (hours or cases)", exact=True).fill("10")
        await page.get_by_label("Phone", exact=True).check()
        await page.get_by_label("Email", exact=True).check()
        await page.get_by_label("Default for this customer", exact=True).check()
        await page.get_by_label("First response goal", exact=True).fill("30")
        await page.get_by_role("button", name="Add entitlement").click()
        await page.get_by_role("alert").filter(has_text="pick the customer").wait_for()
        assert await page.get_by_label("Name", exact=True).input_value() == "Gold 2026"  # kept
        await page.get_by_label("Customer", exact=True).fill("Company: Acme Corp")
        await page.get_by_role("button", name="Add entitlement").click()
        await page.get_by_role("status").filter(has_text="Entitlement 'Gold 2026' added").wait_for()
        row = page.get_by_role("row").filter(has_text="Gold 2026")
        assert "10 h" in await row.inner_text() and "Acme Corp" in await row.inner_text()
        await screenshots(page, tmp_path, "admin-entitlements")

        await row.get_by_role("link", name="Gold 2026").click()
        await page.get_by_label("Remaining (hours or cases)", exact=True).fill("8.5")
        await page.get_by_label("Next response goal", exact=True).fill("abc")
        await page.get_by_role("button", name="Save entitlement").click()
        await page.get_by_role("alert").filter(has_text="goals are whole minutes").wait_for()
        await page.get_by_label("Next response goal", exact=True).fill("")
        await page.get_by_role("button", name="Save entitlement").click()
        await page.get_by_role("status").filter(has_text="saved").wait_for()
        assert "8 h 30 min" in await page.get_by_role("row").filter(
            has_text="Gold 2026").inner_text()
        await page.get_by_role("link", name="Gold 2026").click()
        await screenshots(page, tmp_path, "admin-entitlement")

    async with transaction(runtime.sessions) as session:
        [gold] = await entitlements.list_entitlements(session)
    assert (gold.terms_kind, gold.terms_total, gold.terms_remaining) == ("hours", 600, 510)
    assert gold.channels == ["email", "phone"] and gold.is_default
    assert gold.sla_goals["first_response"]["minutes"] == 30
    assert {"entitlement.created", "entitlement.updated"} <= await audit_actions(runtime)


async def test_an_admin_keeps_status_reasons_and_transitions(runtime, console, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin/status-reasons")
        await page.get_by_label("New reason for Waiting on us", exact=True).fill("On hold")
        await page.get_by_role("button", name="Add a reason to Waiting on us").click()
        await page.get_by_role("status").filter(has_text="'On hold' added").wait_for()
        await page.get_by_role("button", name="Move Researching up").click()
        await page.get_by_role("status").filter(has_text="Order saved").wait_for()
        await page.get_by_label("Problem solved may follow Researching", exact=True).check()
        await page.get_by_label("Canceled may follow Researching", exact=True).check()
        await page.get_by_role("button", name="Save transitions").click()
        await page.get_by_role("status").filter(has_text="Transitions saved").wait_for()
        assert await page.get_by_label("Problem solved may follow Researching",
                                       exact=True).is_checked()
        await page.get_by_label("Merged in use", exact=True).uncheck()
        await page.get_by_role("button", name="Save Merged").click()
        await page.get_by_role("status").filter(has_text="'Merged' saved").wait_for()
        await screenshots(page, tmp_path, "admin-status-reasons")

    async with transaction(runtime.sessions) as session:
        rows = await status_reasons.list_reasons(session)
        pairs = await status_reasons.list_transitions(session)
    ids = {r.key: r.id for r in rows}
    assert [r.key for r in rows if r.status == "waiting_on_contact"] == [
        "researching", "waiting_for_details"]
    assert pairs == {(ids["researching"], ids["problem_solved"]),
                     (ids["researching"], ids["canceled"])}
    assert not next(r for r in rows if r.key == "merged").active
    assert {"status_reason.created", "status_reason.moved",
            "status_reason.transitions_saved", "status_reason.updated"} <= (
        await audit_actions(runtime))


async def test_pages_pass_axe(runtime, console):
    async with serving(runtime) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                            bypass_csp=True)
        page = await context.new_page()
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("ada@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/**")
        for path in ("/admin/entitlements", "/admin/status-reasons"):
            await page.goto(f"http://{base}{path}")
            found = await violations(page)
            assert found == [], path + "\n" + "\n".join(found)
