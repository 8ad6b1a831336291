"""The chat widget in a real Chromium: a shop's page (another loopback port, a strict
Content-Security-Policy) embeds it; an agent answers from the inbox in a second browser
context. Chat both ways with typing, a visitor cut off mid-chat who comes back with
nothing lost or doubled, the transcript on close caught by a real SMTP sink, and the
"leave a message" form outside office hours."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from email import policy
from email.message import EmailMessage

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from playwright.async_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from connectors.webchat import service
from core.db import transaction
from inbox.models import Conversation, Message
from sla.service import save_policy
from tests.support import CHROMIUM, run_jobs, unused_port
from tests.web.site import chromium, logged_in_page, screenshots, serving
from tests.web.test_accessibility import AXE, FAILING_IMPACTS

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


class Sink:
    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.mails.append(email.message_from_bytes(envelope.original_content,
                                                   policy=policy.default))  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def sink_port() -> int:
    return unused_port()


@pytest.fixture
def shop_port() -> int:
    return unused_port()


@pytest.fixture
def settings_overrides(sink_port: int) -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": sink_port, "timeout_seconds": 2.0}}


@pytest.fixture
def sink(sink_port: int) -> Iterator[Sink]:
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=sink_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
async def base(runtime, shop_port: int) -> AsyncIterator[str]:
    """Frontdesk on loopback, its chat on for the shop's origin, transcripts on."""
    async with transaction(runtime.sessions) as session:
        await service.save_settings(session, None, 1, "support", service.ChatValues(
            enabled=True, allowed_origins=(f"http://127.0.0.1:{shop_port}",),
            transcript=True, greeting="Hi! We usually answer within minutes."))
    async with serving(runtime) as address:
        yield address


@pytest.fixture
async def shop(base: str, shop_port: int) -> AsyncIterator[str]:
    """The shop's page, on a port (an origin) of its own, embedding the widget under a
    policy that forbids inline script and style and any other server."""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Blue Shop</title></head>
<body><main><h1>Blue Shop</h1><p>Shoes, boots and sandals.</p></main>
<script src="http://{base}/widget.js" data-inbox="support" async></script></body></html>"""
    policy_header = (f"default-src 'none'; script-src http://{base}; connect-src ws://{base}; "
                     "style-src 'self'")

    async def home(request):  # type: ignore[no-untyped-def]
        return HTMLResponse(page, headers={"Content-Security-Policy": policy_header})

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", home)]),
                                           host="127.0.0.1", port=shop_port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{shop_port}/"
    server.should_exit = True
    await task


async def conversation_of_chat(runtime) -> int:
    for _ in range(200):
        async with transaction(runtime.sessions) as session:
            found = await session.scalar(select(Conversation.id)
                                         .where(Conversation.channel == "chat"))
        if found is not None:
            return int(found)
        await asyncio.sleep(0.05)
    raise AssertionError("the chat never became a conversation")


async def shown(visitor, texts: list[str]) -> None:
    """Wait until the widget's log shows exactly `texts` as its messages, in order."""
    log = visitor.get_by_role("log", name="Messages")
    for text in texts:
        await log.get_by_text(text, exact=True).wait_for()
    messages = log.locator(".msg .text")
    got = [(await messages.nth(i).text_content() or "") for i in range(await messages.count())]
    assert got == texts


async def type_until_seen(dialog, typing, words: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Type `words` in the widget; the agent's page says the visitor is typing before
    the last one. Typing is told at most every few seconds (the last message's typing
    may have been the last one told): the visitor goes on typing, as a person does."""
    message = dialog.get_by_label("Message", exact=True)
    for word in words[:-1]:
        await message.type(word, delay=20)
        try:
            await typing.wait_for(timeout=4000)
            break
        except PlaywrightTimeout:
            continue
    await typing.wait_for()
    await message.fill("".join(words))


async def test_chat_both_ways_a_cut_off_visitor_resumes_and_the_transcript_is_mailed(
        runtime, agent, base, shop, sink, tmp_path) -> None:
    async with chromium() as browser:
        visitor_context = await browser.new_context(viewport={"width": 1280, "height": 900})
        visitor = await visitor_context.new_page()
        errors: list[str] = []
        visitor.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await visitor.goto(shop)
        launcher = visitor.get_by_role("button", name="Chat with us")
        await launcher.click()
        dialog = visitor.get_by_role("dialog", name="Support")
        await dialog.wait_for()
        assert await launcher.get_attribute("aria-expanded") == "true"
        await dialog.get_by_text("Hi! We usually answer within minutes.").wait_for()
        await screenshots(visitor, tmp_path, "widget-details")
        # Details asked before the chat (optional): the name field has the focus.
        await dialog.get_by_label("Your name").fill("Vera Visitor")
        await dialog.get_by_label("Your email").fill("vera@example.org")
        await dialog.get_by_role("button", name="Start chat").click()
        await dialog.get_by_label("Message", exact=True).fill("Do you have the blue boots in 38?")
        await dialog.get_by_label("Message", exact=True).press("Enter")
        conversation_id = await conversation_of_chat(runtime)

        agent_page = await logged_in_page(browser, base, "agent@example.com")
        await agent_page.goto(f"http://{base}/conversations/{conversation_id}")
        await agent_page.get_by_text("Do you have the blue boots in 38?").wait_for()
        await agent_page.locator("body[data-live=open]").wait_for(state="attached")
        await dialog.get_by_text("Al Agent joined the chat").wait_for()

        # Typing, both ways.
        # Typing is told at most every few seconds (the first message's typing may have
        # been the last one told): the visitor goes on typing, as a person does, until the
        # agent sees it.
        typing = agent_page.get_by_role("status").filter(has_text="Vera Visitor is typing")
        await type_until_seen(dialog, typing, ("And ", "in ", "size ", "39", "?"))
        await agent_page.get_by_label("Reply").type("Let me check", delay=20)
        await dialog.get_by_role("status").filter(has_text="Al Agent is typing").wait_for()
        await agent_page.get_by_label("Reply").fill("Yes, two pairs left in 38.")
        await agent_page.get_by_role("button", name="Send", exact=True).click()
        await run_jobs(runtime)
        await shown(visitor, ["Do you have the blue boots in 38?", "Yes, two pairs left in 38."])
        # The visitor types and sends: the agent's page shows it in the thread as it
        # arrives, nothing clicked, and the visitor no longer types.
        await agent_page.locator("body[data-live=open]").wait_for(state="attached")
        await dialog.get_by_label("Message", exact=True).fill("")
        await type_until_seen(dialog, typing, ("And ", "in ", "39?"))
        await dialog.get_by_role("button", name="Send").click()
        thread = agent_page.get_by_role("list", name="Messages")
        await thread.get_by_text("And in 39?", exact=True).wait_for()
        await typing.wait_for(state="detached")
        await agent_page.get_by_role("status").filter(
            has_text="New message from Vera Visitor").wait_for(state="attached")
        assert await agent_page.get_by_role("button", name="Show new messages").count() == 0
        assert await thread.get_by_role("listitem").count() == 3
        await screenshots(agent_page, tmp_path, "agent-chat-live")
        await screenshots(visitor, tmp_path, "widget-chat")

        # The visitor's network goes; the agent answers twice meanwhile.
        await visitor_context.set_offline(True)
        for text in ("No 39, sorry.", "But 40 is in stock."):
            await agent_page.get_by_label("Reply").fill(text)
            async with agent_page.expect_navigation():
                await agent_page.get_by_role("button", name="Send", exact=True).click()
            await run_jobs(runtime)
        await visitor_context.set_offline(False)
        async with asyncio.timeout(60):
            await shown(visitor, ["Do you have the blue boots in 38?",
                                  "Yes, two pairs left in 38.", "And in 39?",
                                  "No 39, sorry.", "But 40 is in stock."])

        # A reload resumes the same conversation, shown once.
        await visitor.reload()
        await visitor.get_by_role("button", name="Chat with us").click()
        await shown(visitor, ["Do you have the blue boots in 38?",
                              "Yes, two pairs left in 38.", "And in 39?",
                              "No 39, sorry.", "But 40 is in stock."])

        # The agent closes the chat: the widget says so, the transcript is mailed.
        async with agent_page.expect_navigation():
            await agent_page.get_by_role("button", name="Close", exact=True).click()
        await dialog.get_by_text("This chat was closed").wait_for()
        await run_jobs(runtime)
        for _ in range(100):
            if sink.mails:
                break
            await asyncio.sleep(0.05)
        [mail] = [m for m in sink.mails if m["Subject"] == "Your chat with Support"]
        assert mail["Auto-Submitted"] == "auto-generated"
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "But 40 is in stock." in body and "And in 39?" in body
        assert errors == [], errors
    async with transaction(runtime.sessions) as session:
        texts = (await session.scalars(select(Message.text).where(
            Message.conversation_id == conversation_id).order_by(Message.id))).all()
    assert texts == ["Do you have the blue boots in 38?", "Yes, two pairs left in 38.",
                     "And in 39?", "No 39, sorry.", "But 40 is in stock."]


async def test_outside_office_hours_the_widget_takes_a_message(runtime, base, shop,
                                                               manual_clock, tmp_path) -> None:
    async with transaction(runtime.sessions) as session:
        # Office hours from 10:00 on weekdays; the clock says Monday 09:00 UTC.
        await save_policy(session, {"mode": "working_hours", "calendars": [{
            "timezone": "UTC", "hours": {day: [["10:00", "18:00"]] for day in
                                         ("mon", "tue", "wed", "thu", "fri")}}]}, None)
        await service.save_settings(session, None, 1, "support", service.ChatValues(
            enabled=True, allowed_origins=(shop.rstrip("/"),), office_hours=True))
    async with chromium() as browser:
        visitor = await (await browser.new_context(viewport={"width": 390, "height": 800})
                         ).new_page()
        await visitor.goto(shop)
        await visitor.get_by_role("button", name="Chat with us").click()
        dialog = visitor.get_by_role("dialog", name="Support")
        await dialog.get_by_text("We are away right now").wait_for()
        await screenshots(visitor, tmp_path, "widget-offline-form")
        await dialog.get_by_label("Your name").fill("Otto")
        await dialog.get_by_label("Your message").fill("Please call me back about boots.")
        await dialog.get_by_role("button", name="Send message").click()
        await dialog.get_by_role("alert").filter(has_text="Leave your email").wait_for()
        await dialog.get_by_label("Your email").fill("otto@example.org")
        await dialog.get_by_label("Your message").fill("Please call me back about boots.")
        await dialog.get_by_role("button", name="Send message").click()
        await dialog.get_by_text("Thank you: we will answer by email.").wait_for()
        await screenshots(visitor, tmp_path, "widget-offline")
    async with transaction(runtime.sessions) as session:
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None and conversation.channel == "chat"
        text = await session.scalar(select(Message.text))
        assert text == "Please call me back about boots."


async def test_admins_set_the_widget_on_its_page(runtime, admin, base, tmp_path) -> None:
    async with chromium() as browser:
        page = await logged_in_page(browser, base, "admin@example.com")
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Chat widget").click()
        await page.get_by_role("heading", name="Chat widget").wait_for()
        origins = page.get_by_label("Sites that may show the widget")
        await origins.fill("https://www.example.org\nhttps://shop.example.org")
        await page.get_by_label("Ask the visitor's name and email").select_option("yes")
        await page.get_by_label("Greeting").fill("Hello! How can we help?")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Save chat widget").click()
        await page.get_by_role("status").filter(has_text="Chat widget saved").wait_for()
        snippet = await page.get_by_label("Embed snippet").input_value()
        assert snippet.endswith('/widget.js" data-inbox="support" async></script>')
        await screenshots(page, tmp_path, "admin-chat")
        await origins.fill("no site at all")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Save chat widget").click()
        await page.get_by_role("alert").filter(has_text="not a site address").wait_for()
    async with transaction(runtime.sessions) as session:
        values = await service.get_settings(session, 1)
    assert values.allowed_origins == ("https://www.example.org", "https://shop.example.org")
    assert values.ask_details == "yes" and values.greeting == "Hello! How can we help?"


async def violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical violations (targets in a shadow root are lists)."""
    await page.add_script_tag(path=str(AXE))
    results = await page.evaluate("axe.run()")
    assert results["passes"], "axe-core checked nothing on the page"
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:5])
            for v in results["violations"] if v["impact"] in FAILING_IMPACTS]


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_open_widget_and_its_admin_page_pass_axe(runtime, admin, base, shop,
                                                           width) -> None:
    async with chromium() as browser:
        # (the context bypasses CSP only so that axe-core can be injected)
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            bypass_csp=True)
        visitor = await context.new_page()
        await visitor.goto(shop)
        await visitor.get_by_role("button", name="Chat with us").click()
        await visitor.get_by_role("dialog", name="Support").wait_for()
        assert await violations(visitor) == []
        await visitor.keyboard.press("Escape")  # closes, the focus back on the launcher
        assert await visitor.get_by_role("dialog").count() == 0
        assert await visitor.evaluate(
            "document.querySelector('[data-frontdesk-chat]').shadowRoot.activeElement"
            ".className") == "launcher"
        page = await logged_in_page(browser, base, "admin@example.com", width=width)
        page_context = page.context
        await page.goto(f"http://{base}/admin/chat")
        await page.close()
        axe_page = await (await browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=True,
            storage_state=await page_context.storage_state())).new_page()
        await axe_page.goto(f"http://{base}/admin/chat")
        assert await violations(axe_page) == []
