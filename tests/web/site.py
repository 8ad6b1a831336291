"""A real HTTP server around a test's runtime, and a real Chromium to use it as a person
does: log in, look, take screenshots at the widths people use."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

import server
from tests.support import BROWSER_ARGS, CHROMIUM, PASSWORD, unused_port

WIDTHS = {"wide": 1280, "narrow": 390}
SCREENSHOTS = os.environ.get("FRONTDESK_SCREENSHOTS", "")
"""A folder that also gets a copy of every screenshot (to look at them after a run)."""


@asynccontextmanager
async def serving(runtime: Any) -> AsyncIterator[str]:
    """uvicorn (HTTP and websockets) on a free loopback port around `runtime`; yields
    "127.0.0.1:<port>"."""
    port = unused_port()
    config = uvicorn.Config(server.create_app(runtime=runtime), host="127.0.0.1", port=port,
                            ws="websockets-sansio", log_level="warning", lifespan="on",
                            ws_per_message_deflate=server.WEBSOCKET_COMPRESSION)
    serving = uvicorn.Server(config)
    task = asyncio.create_task(serving.serve())
    try:
        while not serving.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        serving.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (Debian's), through Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in_page(browser: Any, base: str, email: str, *, width: int = 1280) -> Any:
    """A new page of a new context, logged in as `email` through the login form."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    await page.goto(f"http://{base}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"http://{base}/**")
    return page


async def screenshots(page: Any, folder: Path, name: str) -> list[Path]:
    """The page at each of WIDTHS (full page), saved as <name>-<width>.png in `folder`
    (and in FRONTDESK_SCREENSHOTS when set); the page keeps its first width after."""
    saved = []
    first = page.viewport_size
    for label, width in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": 900})
        path = folder / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        saved.append(path)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(SCREENSHOTS) / path.name)
    await page.set_viewport_size(first)
    return saved
