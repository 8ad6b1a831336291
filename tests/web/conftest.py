"""A live `frontdesk serve` on a free loopback port, shared by the tests that need a real
server: the browser, raw sockets and the OpenAPI fuzzer.

Its configuration names no secret key, so the first command writes one into its data
directory, as `make run` does. Admin and agent tokens come from the CLI.
"""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.support import (
    BIN,
    PASSWORD,
    TEST_DATABASE_URL,
    create_postgres_database,
    drop_postgres_database,
    frontdesk_cli,
    process_env,
    unused_port,
)


@dataclass(frozen=True)
class LiveServer:
    base: str
    data_dir: Path
    log: Path
    admin_token: str
    agent_token: str


def _write_config(directory: Path, database_url: str, port: int, smtp_port: int) -> Path:
    config = directory / "frontdesk.toml"
    config.write_text(f"""
data_dir = "{directory / 'data'}"
[database]
url = "{database_url}"
[http]
host = "127.0.0.1"
port = {port}
[smtp_in]
port = {smtp_port}
[smtp_out]
port = {unused_port()}
[attachments]
dir = "{directory / 'data' / 'attachments'}"
[[inboxes]]
slug = "support"
name = "Support"
addresses = ["help@example.com"]
[[forms]]
slug = "contact"
inbox = "support"
title = "Contact support"
rate_limit_per_minute = 1000
""")
    return config


def _wait_until_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    with httpx.Client(base_url=base) as client:
        for _ in range(600):
            if process.poll() is not None:
                break
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:  # between two questions, notice at once if the server died
                process.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def _mail_with_attachment() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = "cy@example.org", "help@example.com"
    message["Subject"], message["Message-ID"] = "Invoice attached", "<seed-1@example.org>"
    message.set_content("The invoice is attached.")
    message.add_attachment(b"total: 12 EUR\n", maintype="text", subtype="plain",
                           filename="invoice.txt")
    return message


def _seed(base: str, smtp_port: int, admin_token: str) -> None:
    """Something to find: two form tickets (one with an agent comment) and a mail with an
    attachment, through the real SMTP receiver."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base, headers=headers) as client:
        for email in ("anna@example.org", "bo@example.org"):
            client.post("/forms/contact", json={
                "name": "Anna", "email": email, "subject": "Printer on fire",
                "message": "It smokes."}).raise_for_status()
        client.post("/api/conversations/1/messages",
                    json={"kind": "comment", "text": "ok"}).raise_for_status()
        with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
            smtp.send_message(_mail_with_attachment())
        for _ in range(600):  # until the server has made the mail a conversation
            if len(client.get("/api/conversations").json()["items"]) == 3:
                return
            time.sleep(0.1)
    raise AssertionError("the seeded mail never became a conversation")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("live")
    database_url = (asyncio.run(create_postgres_database(TEST_DATABASE_URL))
                    if TEST_DATABASE_URL else f"sqlite+aiosqlite:///{directory / 'frontdesk.db'}")
    port, smtp_port = unused_port(), unused_port()
    config = _write_config(directory, database_url, port, smtp_port)
    frontdesk_cli(config, "migrate")
    tokens = {}
    for role in ("admin", "agent"):
        frontdesk_cli(config, "users", "add", f"{role}@example.com", "--name", role.title(),
                      "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        tokens[role] = frontdesk_cli(config, "tokens", "create", f"{role}@example.com")
    log = directory / "server.log"
    with log.open("a") as output:
        process = subprocess.Popen([str(BIN / "frontdesk"), "--config", str(config), "serve"],
                                   stdout=output, stderr=subprocess.STDOUT, env=process_env())
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base, process, log)
        _seed(base, smtp_port, tokens["admin"])
        yield LiveServer(base, directory / "data", log, tokens["admin"], tokens["agent"])
    finally:
        process.terminate()
        process.wait(timeout=30)
        if TEST_DATABASE_URL:
            asyncio.run(drop_postgres_database(TEST_DATABASE_URL, database_url))
