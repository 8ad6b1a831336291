"""SLA in a real Chromium, as an admin: set working hours with a lunch break and a holiday and
watch the preview move past them; see the report charts of two seeded weeks and download
the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import server
from core import clock
from core.db import transaction
from sla.service import current_policy
from tests.sla.test_sla_reports_api import MONDAY, seed_two_weeks
from tests.support import CHROMIUM, PASSWORD, add_user, client_for
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

# Monday 7 December 2026, 11:30 in Stockholm.
NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


async def preview_says(page, text: str) -> None:
    await page.locator("#sla-preview-body").filter(has_text=text).wait_for()


async def test_working_hours_with_a_lunch_break_and_a_holiday_move_the_preview(
        runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    with clock.use(clock.ManualClock(NOW)):
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "ada@example.com")
            await page.goto(f"http://{base}/admin")
            await page.get_by_role("navigation", name="Admin console").get_by_role(
                "link", name="SLA", exact=True).click()
            await page.get_by_role("heading", name="SLA settings").wait_for()
            await page.get_by_label("Working hours only").check()
            await page.get_by_label("Time zone").select_option("Europe/Stockholm")
            await page.get_by_label("first response goal, minutes", exact=True).fill("60")
            await page.get_by_label("close goal, minutes", exact=True).fill("480")
            await page.get_by_role("button", name="Preview", exact=True).click()
            await preview_says(page, "First response: due at Mon 7 Dec 12:30")
            await preview_says(page, "Close: due at Tue 8 Dec 11:30")

            # A lunch break on Monday: a second period (a full page round trip).
            await page.get_by_label("Monday period 1 to").fill("12:00")
            await page.get_by_role("button", name="Add a period to Monday").click()
            await page.get_by_label("Monday period 2 from").fill("13:00")
            await page.get_by_label("Monday period 2 to").fill("17:00")
            await page.get_by_role("button", name="Preview", exact=True).click()
            await preview_says(page, "First response: due at Mon 7 Dec 13:30")
            await preview_says(page, "Close: due at Tue 8 Dec 12:30")

            # Tuesday off: the preview follows the change by itself (htmx).
            loaded = await page.evaluate("performance.timeOrigin")
            await page.get_by_label("Company holidays").fill("2026-12-08")
            await page.get_by_label("Company holidays").blur()
            await preview_says(page, "Close: due at Wed 9 Dec 12:30")
            assert await page.evaluate("performance.timeOrigin") == loaded
            await screenshots(page, tmp_path, "sla-editor")

            # A reversed period is refused beside Tuesday's fields; nothing is saved.
            await page.get_by_label("Tuesday period 1 from").fill("17:00")
            await page.get_by_label("Tuesday period 1 to").fill("09:00")
            await page.get_by_role("button", name="Save settings").click()
            await page.get_by_role("alert").filter(has_text="not saved").wait_for()
            tuesday = page.get_by_role("group", name="Tuesday")
            assert await tuesday.locator(".field-error").count() == 1
            assert await page.get_by_label("Tuesday period 1 from").get_attribute(
                "aria-invalid") == "true"
            await screenshots(page, tmp_path, "sla-editor-error")
            await page.get_by_label("Tuesday period 1 from").fill("09:00")
            await page.get_by_label("Tuesday period 1 to").fill("17:00")
            await page.get_by_role("button", name="Save settings").click()
            await page.get_by_role("status").filter(has_text="SLA settings saved").wait_for()
            await preview_says(page, "Close: due at Wed 9 Dec 12:30")
            assert await page.get_by_label("Monday period 2 from").input_value() == "13:00"
    async with transaction(runtime.sessions) as session:
        version, policy = await current_policy(session)
    assert version > 0
    [calendar] = policy.calendars
    assert calendar.hours["mon"] == [("09:00", "12:00"), ("13:00", "17:00")]
    assert [d.isoformat() for d in calendar.holidays] == ["2026-12-08"]


async def test_report_charts_of_two_weeks_and_the_csv(runtime, admin, tmp_path):
    _, headers = admin
    manual = clock.ManualClock(MONDAY)
    with clock.use(manual):
        async with client_for(server.create_app(runtime=runtime)) as client:
            await seed_two_weeks(client, headers, manual)
        manual.set(MONDAY + timedelta(days=14, hours=3))
        async with serving(runtime) as base, chromium() as browser:
            page = await logged_in_page(browser, base, "admin@example.com")
            await page.goto(f"http://{base}/admin")
            await page.get_by_role("navigation", name="Admin console").get_by_role(
                "link", name="SLA reports").click()
            await page.get_by_role("heading", name="SLA reports").wait_for()
            chart = page.get_by_role("img", name="First response: met in time")
            await chart.wait_for()
            description = await chart.locator("desc").text_content()
            assert "16 Nov: 50%" in description and "23 Nov: 50%" in description
            median = page.get_by_role("img", name="Median working time to first response")
            assert "16 Nov: 20 min; 23 Nov: 65 min" in await median.locator(
                "desc").text_content()
            teams = page.get_by_role("img", name="Breaches by team")
            assert "No team: 1" in await teams.locator("desc").text_content()
            await page.get_by_text("Table: Median working time to first response").click()
            row = page.get_by_role("row", name="23 Nov 2026")
            assert "65 min" in await row.first.inner_text()
            await screenshots(page, tmp_path, "sla-reports")

            async with page.expect_download() as waiting:
                await page.get_by_role("link", name="Download CSV").click()
            download = await waiting.value
            saved = Path(tmp_path) / "report.csv"
            await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    first = {row["week_starting"]: row for row in rows
             if row["goal"] == "first_response" and row["team"] == "All teams"}
    assert (first["2026-11-16"]["percent_met"], first["2026-11-23"]["percent_met"]) == (
        "50", "50")
    assert (first["2026-11-16"]["median_working_minutes"],
            first["2026-11-23"]["median_working_minutes"]) == ("20", "65")


async def test_sla_pages_pass_axe(runtime, admin, tmp_path):
    from tests.web.site import WIDTHS
    from tests.web.test_accessibility import violations

    _, headers = admin
    settings = {"mode": "working_hours", "property": "priority",
                "calendars": [{"timezone": "Europe/Stockholm",
                               "hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}}],
                "goals": {"first_response": {"minutes": 60}},
                "values": {"urgent": {"first_response": {"minutes": 15}}, "low": None}}
    async with client_for(server.create_app(runtime=runtime)) as client:
        assert (await client.put("/api/sla/settings", headers=headers,
                                 json=settings)).status_code == 200
    found = []
    async with serving(runtime) as base, chromium() as browser:
        for width in WIDTHS.values():
            context = await browser.new_context(viewport={"width": width, "height": 900},
                                                bypass_csp=True)
            page = await context.new_page()
            await page.goto(f"http://{base}/login")
            await page.get_by_label("Email").fill("admin@example.com")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(f"http://{base}/")
            for path in ("/admin/sla", "/admin/sla/reports"):
                await page.goto(f"http://{base}{path}")
                await page.wait_for_load_state("networkidle")
                found += [f"{path} at {width}: {line}" for line in await violations(page)]
            await context.close()
    assert found == [], "\n".join(found)
