"""Pages in a real Chromium against the live server: /docs renders every operation from
this server's own files, and neither it nor the form page breaks its Content-Security-Policy
or reaches beyond localhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import BROWSER_ARGS, CHROMIUM

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None,
                                 reason="needs Debian's chromium (apt-get install chromium)")]

# Runs before any page script and outside the page's policy: records what the policy blocks.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


class Visit:
    """One page in Chromium, with every request it made and every policy violation."""

    def __init__(self, page):
        self.page, self.requests, self.console = page, [], []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: self.console.append(message.text))

    async def violations(self) -> list[str]:
        return await self.page.evaluate("window.__violations")

    def remote_requests(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme not in ("data", "blob")
                and urlsplit(url).hostname not in ("127.0.0.1", "localhost")]


@pytest.fixture
async def visit() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM,
                                          args=BROWSER_ARGS)
        context = await browser.new_context()
        await context.add_init_script(RECORD_VIOLATIONS)

        async def open_page(url: str) -> Visit:
            page = await context.new_page()
            seen = Visit(page)
            await page.goto(url)
            return seen

        yield open_page
        await browser.close()


def documented_operations(base: str) -> set[str]:
    """Every operation in the server's document, as "METHOD /path"."""
    spec = httpx.get(f"{base}/openapi.json").json()
    return {f"{method.upper()} {path}" for path, methods in spec["paths"].items()
            for method in methods}


async def drawn_operations(page) -> set[str]:
    """Scroll /docs from top to bottom as a reader would and collect every operation drawn.

    Swagger UI draws a long list virtually (only what is near the screen is in the page), so
    the operations are gathered screen by screen."""
    drawn: set[str] = set()
    summaries = page.locator(".opblock-summary")
    await page.evaluate("window.scrollTo(0, 0)")
    while True:
        for text in await summaries.evaluate_all(
                "all => all.map(s => s.querySelector('.opblock-summary-method').textContent"
                " + ' ' + s.querySelector('.opblock-summary-path').dataset.path)"):
            drawn.add(text)
        at_bottom = await page.evaluate(
            "window.scrollY + window.innerHeight >= document.body.scrollHeight - 2")
        if at_bottom:
            return drawn
        await page.mouse.wheel(0, 600)
        await page.wait_for_timeout(50)


async def test_docs_render_every_operation_offline_under_the_policy(live_server, visit,
                                                                     tmp_path: Path):
    seen = await visit(f"{live_server.base}/docs")
    await seen.page.locator(".opblock").first.wait_for()
    await seen.page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    assert await drawn_operations(seen.page) == documented_operations(live_server.base), \
        seen.console
    await seen.page.evaluate("window.scrollTo(0, 0)")
    await seen.page.locator(".opblock-summary").first.click()
    await seen.page.locator(".opblock-body").first.wait_for()
    assert await seen.violations() == [], seen.console
    assert seen.remote_requests() == []
    assert any(url.endswith("/static/swagger-ui/swagger-ui-bundle.js") for url in seen.requests)


async def test_the_form_page_is_styled_from_its_stylesheet_under_the_policy(live_server, visit,
                                                                         tmp_path: Path):
    seen = await visit(f"{live_server.base}/forms/contact")
    await seen.page.get_by_role("button", name="Send").click()
    await seen.page.wait_for_selector("#error-summary")
    await seen.page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
    button = seen.page.get_by_role("button", name="Send")
    color = await button.evaluate("b => getComputedStyle(b).backgroundColor")
    assert color == "rgb(26, 95, 180)"
    honeypot = seen.page.locator(".hp")
    assert await honeypot.evaluate("e => getComputedStyle(e).position") == "absolute"
    assert await seen.violations() == [], seen.console
    assert seen.remote_requests() == []
    # The policy is in force and the recorder sees it: an inline style is refused.
    await seen.page.evaluate("document.head.append(Object.assign("
                             "document.createElement('style'), {textContent: 'p {}'}))")
    await seen.page.wait_for_function("window.__violations.length > 0")
    assert (await seen.violations())[0].startswith("style-src")
