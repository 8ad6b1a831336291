"""The forms editor in a real Chromium, as an admin uses it: make a form, give it a select
and a checkbox, reorder and remove fields, copy the embed snippet; then a customer fills in
the public page (also framed by another site) and the conversation shows the values."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import CHROMIUM, add_user
from tests.web.site import chromium, logged_in_page, screenshots, serving

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@contextmanager
def another_site(html: str) -> Iterator[str]:
    """A page of another origin (its own loopback port) serving `html`; yields its URL."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def field_labels(page) -> list[str]:
    return [text.strip() for text in
            await page.locator(".fields-table tbody tr td:first-child").all_inner_texts()]


async def add_field(page, label: str, name: str, kind: str, *, options: str = "",
                    required: bool = False) -> None:
    await page.get_by_label("Label", exact=True).fill(label)
    await page.get_by_label("Name (key in the data").fill(name)
    await page.get_by_label("Type", exact=True).select_option(kind)
    await page.get_by_label("Options").fill(options)
    if required:
        await page.get_by_label("Required", exact=True).check()
    await page.get_by_role("button", name="Add field").click()


async def test_an_admin_makes_a_form_and_a_customer_fills_it_in(runtime, tmp_path):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ada@example.com")
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        await page.goto(f"http://{base}/admin")
        await page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Forms").click()
        await page.get_by_role("heading", name="Forms").wait_for()
        await page.get_by_role("link", name="Contact support", exact=True).wait_for()
        await page.get_by_role("link", name="New form").click()

        await page.get_by_label("Address").fill("repairs")
        await page.get_by_label("Title").fill("Repairs")
        await page.get_by_label("Intro").fill("Tell us what broke.")
        await page.get_by_label("Thank-you text").fill("Thanks, a technician will write.")
        await page.get_by_role("button", name="Create form").click()
        await page.get_by_role("status").filter(has_text="Form created").wait_for()
        assert await field_labels(page) == ["Your name", "Email", "Subject", "Message"]

        # A select without options is refused, with the reason, and nothing is added.
        await add_field(page, "Department", "department", "select")
        await page.get_by_role("alert").filter(
            has_text="a select field needs at least one option").wait_for()
        assert await field_labels(page) == ["Your name", "Email", "Subject", "Message"]
        assert await page.get_by_label("Name (key in the data").input_value() == "department"

        await add_field(page, "Department", "department", "select",
                        options="Billing\nRepairs\nSomething else", required=True)
        await page.get_by_role("status").filter(has_text="Field added").wait_for()
        await add_field(page, "Send me news", "news", "checkbox")
        await page.get_by_role("status").filter(has_text="Field added").wait_for()
        await page.get_by_role("button", name="Move Send me news up").click()
        await page.get_by_role("status").filter(has_text="Field moved").wait_for()
        await page.get_by_role("button", name="Remove Subject").click()
        await page.get_by_role("status").filter(has_text="Field removed").wait_for()
        assert await field_labels(page) == [
            "Your name", "Email", "Message", "Send me news", "Department"]
        assert await page.get_by_role("button", name="Remove Email").count() == 0

        snippet = await page.get_by_label("Embed snippet", exact=True).input_value()
        assert f'src="http://{base}/forms/repairs"' in snippet and 'title="Repairs"' in snippet
        assert await page.get_by_label("Link", exact=True).input_value() == (
            f"http://{base}/forms/repairs")
        await page.get_by_role("button", name="Copy the embed snippet").click()
        await page.get_by_role("status").filter(has_text="Copied").wait_for()
        assert await page.evaluate("navigator.clipboard.readText()") == snippet
        await screenshots(page, tmp_path, "admin-form-edit")

        # Another site frames the form with the snippet.
        with another_site(f"<!doctype html><title>Shop</title><h1>Our shop</h1>{snippet}"
                          ) as shop:
            visitor = await browser.new_page()
            await visitor.goto(shop)
            frame = visitor.frame_locator("iframe[title=Repairs]")
            await frame.get_by_role("heading", name="Repairs").wait_for()
            await visitor.close()

        await page.get_by_role("link", name="Open the public page").click()
        await page.get_by_role("heading", name="Repairs").wait_for()
        await page.get_by_text("Tell us what broke.").wait_for()
        await page.get_by_label("Your name").fill("Anna Berg")
        await page.get_by_label("Email").fill("anna@example.org")
        await page.get_by_label("Message").fill("The dryer squeaks.")
        await page.get_by_label("Department").select_option("Repairs")
        await page.get_by_label("Send me news").check()
        await screenshots(page, tmp_path, "public-form")
        await page.get_by_role("button", name="Send").click()
        await page.get_by_text("Thanks, a technician will write.").wait_for()

        await page.goto(f"http://{base}/")
        await page.get_by_role("link", name="Repairs from Anna Berg").click()
        body = page.locator(".message").first
        await body.get_by_text("Department: Repairs").wait_for()
        assert "Send me news: yes" in await body.inner_text()

        await page.goto(f"http://{base}/admin/forms")
        row = page.get_by_role("row").filter(has_text="Repairs")
        assert "1" in (await row.locator("td").nth(3).inner_text())
        await screenshots(page, tmp_path, "admin-forms")
