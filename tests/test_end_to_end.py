"""A person's day, against the real `frontdesk` processes: CLI, server, browser, restart.

Starts `frontdesk serve` (and `frontdesk worker` when Redis is configured) on a free port,
submits the contact form in Chromium, works the ticket through the API with a cookie
session, restarts the server and checks that nothing was lost.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import (
    BIN,
    BROWSER_ARGS,
    CHROMIUM,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    create_postgres_database,
    drop_postgres_database,
    frontdesk_cli,
    unused_port,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "a long admin password"


def write_config(tmp: Path, database_url: str, port: int) -> Path:
    config = tmp / "frontdesk.toml"
    config.write_text(f"""
secret_key = "end-to-end-secret-key-0123456789"
[database]
url = "{database_url}"
[http]
host = "127.0.0.1"
port = {port}
[smtp_in]
enabled = false
[jobs]
redis_url = "{TEST_REDIS_URL}"
queue_name = "frontdesk-e2e:{port}"
[[inboxes]]
slug = "support"
name = "Support"
[[forms]]
slug = "contact"
inbox = "support"
title = "Contact support"
""")
    return config


class Server:
    def __init__(self, config: Path, port: int, log: Path):
        self.config, self.port, self.log = config, port, log
        self.processes: list[subprocess.Popen] = []

    async def start(self) -> None:
        commands = [["serve"]] + ([["worker"]] if TEST_REDIS_URL else [])
        with self.log.open("a") as log:
            for command in commands:
                self.processes.append(subprocess.Popen(
                    [str(BIN / "frontdesk"), "--config", str(self.config), *command],
                    stdout=log, stderr=subprocess.STDOUT))
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    ready = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if ready.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=30)
        self.processes.clear()


@pytest.fixture
async def database_for_processes(tmp_path):
    if TEST_DATABASE_URL:
        url = await create_postgres_database(TEST_DATABASE_URL)
        yield url
        await drop_postgres_database(TEST_DATABASE_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'frontdesk.db'}"


async def submit_in_browser(base: str, screenshots: Path) -> int:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = await browser.new_page()
        await page.goto(f"{base}/forms/contact")
        await page.get_by_label("Your name").fill("Anna Berg")
        await page.get_by_label("Email").fill("not-an-email")
        await page.get_by_label("Subject").fill("Invoice is wrong")
        await page.get_by_label("Message").fill("The total counts VAT twice.")
        await page.get_by_role("button", name="Send").click()
        await page.wait_for_selector("#error-summary")
        await page.screenshot(path=str(screenshots / "form-error.png"), full_page=True)
        await page.get_by_label("Email").fill("anna@example.org")
        await page.get_by_role("button", name="Send").click()
        await page.wait_for_selector("text=Thank you")
        await page.screenshot(path=str(screenshots / "form-thanks.png"), full_page=True)
        reference = await page.locator("strong").inner_text()
        await browser.close()
    return int(reference.lstrip("#"))


class Api:
    """A logged-in cookie session that sends the CSRF token on writes."""

    def __init__(self, client: httpx.AsyncClient, csrf: str):
        self.client, self.csrf = client, csrf

    async def get(self, path: str) -> dict:
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    async def send(self, method: str, path: str, body: dict | None = None,
                   expect: int = 200) -> dict | None:
        response = await self.client.request(method, path, json=body,
                                             headers={"X-CSRF-Token": self.csrf})
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
async def test_a_person_works_a_ticket_end_to_end(tmp_path, database_for_processes):
    port = unused_port()
    config = write_config(tmp_path, database_for_processes, port)
    base = f"http://127.0.0.1:{port}"
    frontdesk_cli(config, "migrate")
    added = frontdesk_cli(config, "users", "add", "boss@example.com", "--name", "Bo Boss",
                      "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert "added admin boss@example.com" in added
    server = Server(config, port, tmp_path / "server.log")
    await server.start()
    try:
        number = await submit_in_browser(base, tmp_path)
        async with httpx.AsyncClient(base_url=base) as client:
            login = await client.post("/api/session", json={"email": "boss@example.com",
                                                            "password": PASSWORD})
            assert login.status_code == 200
            api = Api(client, login.json()["csrf_token"])
            await work_the_ticket(api, client, number)
        server.stop()
        await server.start()
        async with httpx.AsyncClient(base_url=base) as client:
            token = frontdesk_cli(config, "tokens", "create", "boss@example.com")
            client.headers["Authorization"] = f"Bearer {token}"
            await everything_is_still_there(client, number)
    finally:
        server.stop()


async def work_the_ticket(api: Api, client: httpx.AsyncClient, number: int) -> None:
    me = await api.get("/api/me")
    [conversation] = (await api.get("/api/conversations"))["items"]
    assert conversation["ticket_id"] == number and conversation["subject"] == "Invoice is wrong"
    conv = conversation["id"]
    ticket = await api.get(f"/api/tickets/{number}")
    assert ticket["conversation_ids"] == [conv] and ticket["status"] == "new"

    await api.send("PATCH", f"/api/conversations/{conv}", {"owner_id": me["id"]})
    assert (await api.get(f"/api/tickets/{number}"))["owner_id"] == me["id"]

    agent = await api.send("POST", "/api/users", {"email": "al@example.com", "name": "Al",
                                                  "role": "agent", "password": "agent password"},
                           expect=201)
    refused = await client.patch(f"/api/tickets/{number}", json={"owner_id": agent["id"]},
                                 headers={"X-CSRF-Token": api.csrf})
    assert refused.status_code == 422  # Al does not see the inbox yet
    await api.send("PUT", "/api/inboxes/support/members", {"user_ids": [agent["id"]]})
    await api.send("PATCH", f"/api/tickets/{number}", {"owner_id": agent["id"]})
    assert (await api.get(f"/api/conversations/{conv}"))["owner_id"] == me["id"]

    await api.send("PATCH", f"/api/tickets/{number}", {"status": "closed"})
    assert (await api.get(f"/api/conversations/{conv}"))["status"] == "closed"
    await api.send("PATCH", f"/api/tickets/{number}", {"status": "waiting_on_us"})
    assert (await api.get(f"/api/conversations/{conv}"))["status"] == "open"

    await api.send("PATCH", f"/api/conversations/{conv}", {"status": "closed"})
    assert (await api.get(f"/api/tickets/{number}"))["status"] == "waiting_on_us"

    second = (await client.post("/forms/contact", json={
        "name": "Anna Berg", "email": "anna@example.org", "subject": "Also: the invoice",
        "message": "Same problem on the March invoice."})).json()["ticket_number"]
    merged = await api.send("POST", f"/api/tickets/{number}/merge",
                            {"other_id": second, "primary_id": number})
    assert len(merged["conversation_ids"]) == 2
    third = (await client.post("/forms/contact", json={
        "name": "Cy", "email": "cy@example.org", "subject": "Spam-ish",
        "message": "delete me"})).json()["ticket_number"]
    third_conv = (await api.get(f"/api/tickets/{third}"))["conversation_ids"][0]
    await api.send("DELETE", f"/api/conversations/{third_conv}", expect=204)
    assert (await client.get(f"/api/tickets/{third}")).status_code == 404


async def everything_is_still_there(client: httpx.AsyncClient, number: int) -> None:
    ticket = (await client.get(f"/api/tickets/{number}")).json()
    assert ticket["status"] == "waiting_on_us" and len(ticket["conversation_ids"]) == 2
    assert [h for h in ticket["history"] if h["action"] == "merged"]
    listed = (await client.get("/api/tickets")).json()["items"]
    assert [t["id"] for t in listed] == [number]
    conversations = (await client.get("/api/conversations", params={"status": "all"})).json()
    assert len(conversations["items"]) == 2
