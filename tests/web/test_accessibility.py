"""The pages pass axe-core in a real Chromium at the widths people use: the login page, the
inbox with rows, and a conversation with HTML mail, an attachment and a failed reply. A
serious or critical violation fails the test, named with the elements it was found on.

axe-core is vendored under tests/web/vendor/ (its version in the file's first line, its
licence beside it). It is injected as a script element, which the pages' CSP forbids, so the
test's browser context bypasses CSP (it checks the page's markup, not its headers)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from core.db import transaction
from inbox import service as inbox
from inbox.messages import Attachment, InboundMessage
from inbox.service import ingest
from tests.support import CHROMIUM, PASSWORD, add_to_inbox, add_user
from tests.web.site import WIDTHS, chromium, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")


async def receive(runtime: Any, subject: str, text: str, **extra: Any) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email="anna@example.org",
                             sender_name="Anna Berg", subject=subject, text=text,
                             external_id=f"{uuid.uuid4().hex}@example.org", **extra)
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


@pytest.fixture
async def desk(runtime):
    """An agent of support; three conversations, the first with HTML mail (quoted history,
    a remote image), an attachment, an agent's reply that failed and a comment."""
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    invoice = await receive(
        runtime, "Invoice counts VAT twice",
        "Hello,\nthe March invoice counts VAT twice.\n\nOn Monday you wrote:\n> old news",
        html="<p>Hello,</p><p>the <b>March</b> invoice counts VAT twice.</p>"
             "<img src=\"https://tracker.example/pixel.gif\" alt=\"\">",
        quoted_text_start=len("Hello,\nthe March invoice counts VAT twice.\n\n"),
        attachments=(Attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 " * 300),))
    await receive(runtime, "Printer on fire", "It smokes after the firmware update.")
    await receive(runtime, "Cannot log in", "The password reset mail never arrives.")
    async with transaction(runtime.sessions) as session:
        reply = await inbox.add_agent_message(session, invoice, author_id=agent_id,
                                              kind="reply", text="A corrected one is coming.")
        await inbox.record_delivery(session, reply.id, "failed",
                                    "550 5.1.1 mailbox unavailable")
        await inbox.add_agent_message(session, invoice, author_id=agent_id, kind="comment",
                                      text="Finance is on it.")
    return {"invoice": invoice}


async def violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    await page.add_script_tag(path=str(AXE))
    results = await page.evaluate("axe.run()")
    assert results["passes"], "axe-core checked nothing on the page"
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
            for v in results["violations"] if v["impact"] in FAILING_IMPACTS]


async def check(browser: Any, base: str, path: str, width: int, tmp_path: Path,
                name: str, *, log_in: bool = True) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 900},
                                        bypass_csp=True)
    page = await context.new_page()
    if log_in:
        await page.goto(f"http://{base}/login")
        await page.get_by_label("Email").fill("ann@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"http://{base}/")
    await page.goto(f"http://{base}{path}")
    await page.wait_for_load_state("networkidle")
    found = await violations(page)
    if width == WIDTHS["wide"]:  # the helper takes both widths
        await screenshots(page, tmp_path, name)
    await context.close()
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("width", WIDTHS.values())
async def test_login_page(runtime, desk, tmp_path, width):
    async with serving(runtime) as base, chromium() as browser:
        await check(browser, base, "/login", width, tmp_path, "axe-login", log_in=False)


@pytest.mark.parametrize("width", WIDTHS.values())
async def test_inbox_with_rows(runtime, desk, tmp_path, width):
    async with serving(runtime) as base, chromium() as browser:
        await check(browser, base, "/", width, tmp_path, "axe-inbox")


@pytest.mark.parametrize("width", WIDTHS.values())
async def test_conversation_with_html_attachment_and_failed_reply(runtime, desk, tmp_path,
                                                                   width):
    async with serving(runtime) as base, chromium() as browser:
        await check(browser, base, f"/conversations/{desk['invoice']}", width, tmp_path,
                    "axe-conversation")
