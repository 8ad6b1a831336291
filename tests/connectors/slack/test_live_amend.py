"""An edit or a deletion made in Slack shows on an agent's open conversation page without
a reload (real Chromium, the live socket, events signed as Slack signs them)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import transaction
from inbox.models import Conversation, Message
from tests.connectors.slack.conftest import callback, connect, deliver, message
from tests.support import CHROMIUM, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

TOP = "1772442000.000100"
ANSWER = "1772442001.000200"


def changed(ts: str, text: str | None) -> dict:
    """A `message_changed` (new `text`) or, without text, a `message_deleted` event."""
    if text is None:
        return {"type": "message", "subtype": "message_deleted", "channel": "C0HELP01",
                "deleted_ts": ts, "ts": "1772442100.000900", "hidden": True,
                "previous_message": {"type": "message", "user": "U0ANNA01", "ts": ts}}
    return {"type": "message", "subtype": "message_changed", "channel": "C0HELP01",
            "ts": "1772442100.000800", "hidden": True,
            "message": {"type": "message", "user": "U0ANNA01", "text": text, "ts": ts,
                        "edited": {"user": "U0ANNA01", "ts": "1772442100.000800"}},
            "previous_message": {"type": "message", "user": "U0ANNA01", "ts": ts}}


async def test_an_edit_and_a_deletion_in_slack_show_on_the_open_page(
        client, runtime, admin, slack, tmp_path):
    await connect(client, admin[1])
    await deliver(client, callback(message("The printer is on fire", TOP)))
    await deliver(client, callback(message("Model LX-300", ANSWER, thread_ts=TOP)))
    await run_jobs(runtime)
    async with transaction(runtime.sessions) as session:
        conversation_id = await session.scalar(select(Conversation.id))
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "admin@example.com")
        await page.goto(f"http://{base}/conversations/{conversation_id}")
        await page.locator("body[data-live=open]").wait_for(state="attached")
        await page.evaluate("window.notReloaded = true")
        await page.get_by_label("Reply").fill("Draft that stays")
        thread = page.get_by_role("list", name="Messages")

        await deliver(client, callback(changed(TOP, "The printer was on fire")))
        await run_jobs(runtime)
        await thread.get_by_text("The printer was on fire").wait_for()
        await screenshots(page, tmp_path, "slack-edited")
        await deliver(client, callback(changed(ANSWER, None)))
        await run_jobs(runtime)
        await thread.get_by_text("(This message was deleted in Slack.)").wait_for()
        assert await thread.get_by_text("Model LX-300").count() == 0
        assert await page.evaluate("window.notReloaded") is True
        assert await page.get_by_label("Reply").input_value() == "Draft that stays"
        await screenshots(page, tmp_path, "slack-deleted")
    async with transaction(runtime.sessions) as session:
        texts = (await session.scalars(select(Message.text).order_by(Message.id))).all()
    assert texts == ["The printer was on fire\n\n(edited)",
                     "(This message was deleted in Slack.)"]
