"""An admin invites an agent in a real Chromium; the invitation is caught by a real SMTP
sink (aiosmtpd) that `[smtp_out]` points at; the agent opens the link from the mail in a
browser of their own, chooses a password and lands signed in on the inbox; the same link
again says it was used. Screenshots at both widths of every page on the way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn

import server
from accounts.service import create_team
from core.db import transaction
from tests.connectors.email.test_smtp_out import RecordingRelay, running_relay
from tests.support import CHROMIUM, add_to_inbox, run_jobs, unused_port
from tests.web.site import chromium, logged_in_page, screenshots

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

RELAY_PORT = unused_port()
HTTP_PORT = unused_port()
BASE = f"127.0.0.1:{HTTP_PORT}"
NEW_PASSWORD = "river stone lantern"


@pytest.fixture
def settings_overrides() -> dict:
    # The links in the mail point where the test serves (`[http] public_url`).
    return {"smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0},
            "http": {"public_url": f"http://{BASE}"}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


@asynccontextmanager
async def serving_at_public_url(runtime: Any) -> AsyncIterator[str]:
    """uvicorn around `runtime` on HTTP_PORT, the port of its public URL."""
    config = uvicorn.Config(server.create_app(runtime=runtime), host="127.0.0.1",
                            port=HTTP_PORT, ws="websockets-sansio", log_level="warning",
                            lifespan="on")
    serving = uvicorn.Server(config)
    task = asyncio.create_task(serving.serve())
    try:
        while not serving.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        yield BASE
    finally:
        serving.should_exit = True
        await task


async def _mailed_link(runtime, relay: RecordingRelay, to: str) -> str:
    await run_jobs(runtime)
    links = [link for r in relay.accepted if r.rcpt_tos == [to]
             for link in re.findall(rf"http://{re.escape(BASE)}/password/\S+",
                                    r.parsed().get_content())]
    assert len(links) == 1, relay.accepted
    return links[0]


async def test_an_admin_invites_an_agent_who_joins_from_the_mail(runtime, admin, relay,
                                                                 tmp_path):
    async with transaction(runtime.sessions) as session:
        team = await create_team(session, "Support team", [])
    await add_to_inbox(runtime, "support", team_ids=(team.id,))
    async with serving_at_public_url(runtime) as base, chromium() as browser:
        boss = await logged_in_page(browser, base, "admin@example.com")
        await boss.goto(f"http://{base}/admin")
        await boss.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="People").click()
        await boss.get_by_role("heading", name="People").wait_for()
        await boss.get_by_role("link", name="Invite someone").click()
        await boss.get_by_label("Email").fill("nia@example.com")
        await boss.get_by_label("Name").fill("Nia New")
        await boss.get_by_label("Role").select_option(label="Agent")
        await boss.get_by_label("Support team").check()
        await screenshots(boss, tmp_path, "people-invite")
        await boss.get_by_role("button", name="Send invitation").click()
        await boss.get_by_role("status").filter(has_text="Invitation sent.").wait_for()
        row = boss.get_by_role("row").filter(has_text="nia@example.com")
        assert "Invited" in await row.inner_text() and "Support team" in await row.inner_text()
        await screenshots(boss, tmp_path, "people-list")
        await row.get_by_role("link", name="Nia New").click()
        await boss.get_by_role("button", name="Resend invitation").wait_for()
        await screenshots(boss, tmp_path, "person-invited")

        link = await _mailed_link(runtime, relay, "nia@example.com")
        nia_context = await browser.new_context(viewport={"width": 1280, "height": 900})
        nia = await nia_context.new_page()
        await nia.goto(link)
        await nia.get_by_text("Welcome, Nia New").wait_for()
        await screenshots(nia, tmp_path, "password-invite")
        await nia.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        await nia.get_by_label("New password again").fill("not the same one")
        await nia.get_by_role("button", name="Join Frontdesk").click()
        await nia.get_by_role("alert").filter(has_text="not the same").wait_for()
        await screenshots(nia, tmp_path, "password-mismatch")
        await nia.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        await nia.get_by_label("New password again").fill(NEW_PASSWORD)
        await nia.get_by_role("button", name="Join Frontdesk").click()
        await nia.wait_for_url(f"http://{base}/")
        assert await nia.locator(".who").inner_text() == "Nia New"
        # Her team's inbox is hers to see.
        assert await nia.get_by_label("Inbox").locator("option").all_inner_texts() == [
            "All inboxes", "Support"]
        await screenshots(nia, tmp_path, "joined-inbox")

        await nia.goto(link)
        await nia.get_by_role("heading", name="This link was used already").wait_for()
        await screenshots(nia, tmp_path, "password-used")
        await nia_context.close()

        await boss.reload()
        await boss.get_by_role("button", name="Send password reset link").wait_for()
        assert "Active" in await boss.locator(".admin-head").inner_text()
        await screenshots(boss, tmp_path, "person-active")


async def test_an_admin_makes_a_team_and_chooses_its_members(runtime, admin, tmp_path):
    from tests.support import add_user

    await add_user(runtime, "al@example.com", "agent", "Al Agent")
    await add_user(runtime, "bo@example.com", "agent", "Bo Builder")
    async with serving_at_public_url(runtime) as base, chromium() as browser:
        boss = await logged_in_page(browser, base, "admin@example.com")
        await boss.goto(f"http://{base}/admin/teams")
        await boss.get_by_label("New team").fill("Billing")
        await boss.get_by_role("button", name="Create team").click()
        await boss.get_by_role("status").filter(has_text="Team created.").wait_for()
        await boss.get_by_label("Al Agent").check()
        await boss.get_by_label("Bo Builder").check()
        await boss.get_by_label("Name", exact=True).fill("Billing and invoices")
        await boss.get_by_role("button", name="Save").click()
        await boss.get_by_role("status").filter(has_text="Saved.").wait_for()
        assert await boss.get_by_label("Bo Builder").is_checked()
        await screenshots(boss, tmp_path, "team")
        await boss.get_by_role("button", name="Deactivate team").click()
        await boss.get_by_role("button", name="Reactivate team").wait_for()
        await boss.get_by_role("link", name="Teams", exact=True).first.click()
        row = boss.get_by_role("row").filter(has_text="Billing and invoices")
        assert "2 members" in await row.inner_text() and "Deactivated" in await row.inner_text()
        await screenshots(boss, tmp_path, "teams")
        await boss.goto(f"http://{base}/admin/audit")
        await boss.get_by_text("Changed active of the team Billing and invoices").wait_for()


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_pages_pass_axe(runtime, admin, relay, width, tmp_path):
    from tests.support import PASSWORD
    from tests.web.test_accessibility import violations

    async with transaction(runtime.sessions) as session:
        team = await create_team(session, "Support team", [admin[0]])
    async with serving_at_public_url(runtime) as base, chromium() as browser:
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            bypass_csp=True)  # axe comes in as a script
        page = await context.new_page()
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("admin@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/")
        await page.goto(f"http://{base}/admin/people/invite")
        await page.get_by_label("Email").fill("nia@example.com")
        await page.get_by_label("Name").fill("Nia New")
        await page.get_by_role("button", name="Send invitation").click()
        await page.get_by_role("status").wait_for()
        link = await _mailed_link(runtime, relay, "nia@example.com")
        found = {}
        for path in ("/admin/people", "/admin/people/invite", f"/admin/people/{admin[0]}",
                     "/admin/people/2", "/admin/teams", f"/admin/teams/{team.id}", link,
                     "/password/fdp_unknown", "/forgot-password"):
            await page.goto(path if path.startswith("http") else f"http://{base}{path}")
            found[path] = await violations(page)
        await page.get_by_label("Email").fill("admin@example.com")
        await page.get_by_role("button", name="Mail me a link").click()
        await page.get_by_role("status").filter(has_text="on its way").wait_for()
        found["/forgot-password (sent)"] = await violations(page)
        if width == 1280:  # the helper takes both widths
            await screenshots(page, tmp_path, "forgot-sent")
            await page.goto(f"http://{base}/forgot-password")
            await screenshots(page, tmp_path, "forgot")
        await context.close()
    assert all(v == [] for v in found.values()), found
