"""Canned replies in the reply editor, in a real Chromium: inserted by name with the
contact's and agent's names and the ticket number filled in, with and without a script."""

from __future__ import annotations

import pytest

from core.db import transaction
from inbox.snippets import create_snippet
from tests.support import CHROMIUM, add_to_inbox, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_conversation_page import receive

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

BODY = "Hi {{contact.first_name}},\nticket #{{ticket.number}} is solved. {{contact.nickname}}"


@pytest.fixture
async def desk(runtime):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    async with transaction(runtime.sessions) as session:
        await create_snippet(session, name="Solved", body=BODY, actor=None)
        await create_snippet(session, name="Signature", body="— {{agent.first_name}}",
                             actor=None)
    conversation_id = await receive(runtime, "Printer jammed", "It jams on page 2.")
    async with transaction(runtime.sessions) as session:
        from tickets.service import ticket_for_conversation
        ticket = await ticket_for_conversation(session, conversation_id)
    assert ticket is not None
    return {"conversation_id": conversation_id, "ticket": ticket.number}


async def test_inserting_canned_replies_at_the_cursor(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{desk['conversation_id']}")
        editor = page.get_by_label("Reply", exact=True)
        await editor.fill("Thanks for waiting.\n")
        await editor.press("End")
        await page.get_by_label("Canned reply").select_option(label="Solved")
        await page.get_by_role("button", name="Insert").click()
        expected = (f"Thanks for waiting.\nHi Anna,\nticket #{desk['ticket']} is solved. "
                    "{{contact.nickname}}")
        assert await editor.input_value() == expected
        await page.get_by_label("Canned reply").select_option(label="Signature")
        await page.get_by_role("button", name="Insert").click()
        assert await editor.input_value() == expected + "— Ann"
        await screenshots(page, tmp_path, "canned-reply")
        await page.get_by_role("button", name="Send").click()
        await page.get_by_role("status").filter(has_text="Reply queued").wait_for()
        assert "ticket #" in await page.locator(".kind-reply").inner_text()


async def test_inserting_without_a_script_reloads_the_editor_with_the_text(runtime, desk):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        context = await browser.new_context(java_script_enabled=False,
                                            storage_state=await page.context.storage_state())
        still = await context.new_page()
        await still.goto(f"http://{base}/conversations/{desk['conversation_id']}")
        await still.get_by_label("Canned reply").select_option(label="Signature")
        await still.get_by_role("button", name="Insert").click()
        await still.wait_for_url("**snippet=*")
        assert await still.get_by_label("Reply", exact=True).input_value() == "— Ann"
