"""/admin/slack in a real Chromium, against the Web API double: an admin connects the
workspace (a refused token shown beside the form), picks a channel, sees the last event
and retries one that failed; screenshots at 1280 and 390 px."""

from __future__ import annotations

import pytest

from tests.connectors.slack.conftest import callback, deliver, message
from tests.connectors.slack.double import SIGNING_SECRET, TOKEN, SlackDouble
from tests.support import CHROMIUM, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def test_an_admin_connects_slack_picks_a_channel_and_retries_an_event(
        runtime, client, slack: SlackDouble, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Slack").click()
        await page.get_by_role("heading", name="Slack", exact=True).wait_for()
        form = page.get_by_role("region", name="Connect a workspace")
        await form.get_by_label("Bot token").fill("xoxb-0000-wrong-token")
        await form.get_by_label("Signing secret").fill(SIGNING_SECRET)
        await form.get_by_role("button", name="Connect").click()
        await page.get_by_role("alert").filter(has_text="does not take this bot token"
                                               ).wait_for()
        assert await form.get_by_label("Bot token").input_value() == ""
        await form.get_by_label("Bot token").fill(TOKEN)
        await form.get_by_label("Signing secret").fill(SIGNING_SECRET)
        await form.get_by_label("Inbox").select_option("support")
        await form.get_by_role("button", name="Connect").click()
        await page.get_by_role("status").filter(has_text="Connected to Acme").wait_for()
        assert TOKEN not in await page.content() and SIGNING_SECRET not in await page.content()

        channels = page.get_by_role("region", name="Channels")
        await channels.get_by_label("#help").check()
        await channels.get_by_role("button", name="Save channels").click()
        await page.get_by_role("status").filter(has_text="Listening to #help").wait_for()
        assert await page.get_by_label("#help").is_checked()
        assert not await page.get_by_label("#random").is_checked()

        slack.failing.add("users.info")
        assert (await deliver(client, callback(message("Hello?", "1772442000.000100",
                                                       user="U0ANNA01")))).status_code == 200
        await run_jobs(runtime)
        await page.reload()
        failed = page.get_by_role("region", name="Events that failed")
        await failed.get_by_role("cell").filter(has_text="fatal_error").first.wait_for()
        status = page.get_by_role("region", name="Status")
        assert "none yet" not in await status.get_by_text("UTC").first.inner_text()
        await screenshots(page, tmp_path, "admin-slack")

        slack.failing.clear()
        await failed.get_by_role("button", name="Retry event").click()
        await page.get_by_role("status").filter(has_text="processed again").wait_for()
        await run_jobs(runtime)
        await page.reload()
        await page.get_by_role("region", name="Events that failed").get_by_text("None."
                                                                                 ).wait_for()
