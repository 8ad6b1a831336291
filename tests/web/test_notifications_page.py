"""Notifications in a real Chromium: a comment mentions a colleague, whose bell counts it;
the /notifications page lists it and marks everything read."""

from __future__ import annotations

import pytest

from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_conversation_page import receive

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


async def test_a_mention_rings_the_bell_and_is_marked_read(runtime, tmp_path):
    ann_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    bo_id, _ = await add_user(runtime, "bo@example.com", "agent", "Bo Builder")
    await add_to_inbox(runtime, "support", user_ids=(ann_id, bo_id))
    conversation_id = await receive(runtime, "Printer jammed", "It jams on page 2.")
    async with serving(runtime) as base, chromium() as browser:
        ann = await logged_in_page(browser, base, "ann@example.com")
        await ann.goto(f"http://{base}/conversations/{conversation_id}")
        await ann.get_by_role("tab", name="To the team").click()
        await ann.get_by_label("Comment").fill("@bo could you check the rollers?")
        await ann.get_by_role("button", name="Add comment").click()
        await ann.get_by_role("status").filter(has_text="Comment added").wait_for()
        await ann.get_by_role("link", name="Notifications, 0 unread").wait_for()

        bo = await logged_in_page(browser, base, "bo@example.com")
        await bo.get_by_role("link", name="Notifications, 1 unread").click()
        await bo.get_by_role("heading", name="Notifications").wait_for()
        item = bo.get_by_role("link", name="Ann Agent mentioned you: Printer jammed")
        await item.wait_for()
        await screenshots(bo, tmp_path, "notifications")
        await bo.get_by_role("button", name="Mark all read").click()
        await bo.get_by_role("status").filter(has_text="All marked read").wait_for()
        await bo.get_by_role("link", name="Notifications, 0 unread").wait_for()
        await bo.get_by_label("Email me my notifications too").check()
        await bo.get_by_role("button", name="Save").click()
        await bo.get_by_role("status").filter(has_text="will be emailed to you").wait_for()
        assert await bo.get_by_label("Email me my notifications too").is_checked()
        await item.click()
        await bo.get_by_role("heading", name="Printer jammed").wait_for()
        assert "@bo could you check" in await bo.locator(".kind-comment").inner_text()


async def test_the_bell_counts_a_new_notification_without_a_reload(runtime, tmp_path):
    ann_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    bo_id, _ = await add_user(runtime, "bo@example.com", "agent", "Bo Builder")
    await add_to_inbox(runtime, "support", user_ids=(ann_id, bo_id))
    conversation_id = await receive(runtime, "Printer jammed", "It jams on page 2.")
    async with serving(runtime) as base, chromium() as browser:
        bo = await logged_in_page(browser, base, "bo@example.com")
        await bo.get_by_role("link", name="Notifications, 0 unread").wait_for()
        await bo.locator("body[data-live=open]").wait_for()
        loaded = await bo.evaluate("performance.timeOrigin")

        ann = await logged_in_page(browser, base, "ann@example.com")
        await ann.goto(f"http://{base}/conversations/{conversation_id}")
        await ann.get_by_role("tab", name="To the team").click()
        await ann.get_by_label("Comment").fill("@bo could you check the rollers?")
        await ann.get_by_role("button", name="Add comment").click()
        await ann.get_by_role("status").filter(has_text="Comment added").wait_for()

        await bo.get_by_role("link", name="Notifications, 1 unread").wait_for()
        assert await bo.evaluate("performance.timeOrigin") == loaded  # the same page
        await screenshots(bo, tmp_path, "bell-live")
