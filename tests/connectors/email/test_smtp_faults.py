"""A real crash on either side of the commit loses no mail and duplicates none.

A real `frontdesk serve` process (SQLite file, or a fresh PostgreSQL database and a
`frontdesk worker` when FRONTDESK_TEST_DATABASE_URL / FRONTDESK_TEST_REDIS_URL are set) runs
with FRONTDESK_FAULT_POINT set, so it SIGKILLs itself just before storing a message or just
after committing it and before its `250`. The sender sees the connection drop, as it would
in a power cut. The server comes back without the fault point, the sender retries the same
bytes, and the API shows exactly one conversation holding exactly one message.
"""

from __future__ import annotations

import asyncio
import signal
import smtplib
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from connectors.email.smtp_in import FAULT_POINT_VARIABLE, FAULT_POINTS
from core.db import raw_store_url
from tests.support import (
    BIN,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    create_postgres_database,
    drop_postgres_database,
    frontdesk_cli,
    process_env,
    unused_port,
)

pytestmark = pytest.mark.slow

PASSWORD = "a long admin password"
SETTLE_SECONDS = 150.0
"""Bound on waiting for the mail to be processed; the raw row left pending by a crash is
picked up by the `email.sweep` job, which runs every 60 seconds."""

RAW = (b"From: Anna Svensson <anna@example.se>\r\n"
       b"To: Support <help@example.com>\r\n"
       b"Subject: Boots never arrived\r\n"
       b"Date: Mon, 03 Feb 2025 09:12:44 +0100\r\n"
       b"Message-ID: <crash-test-4711@mail.example.se>\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"\r\n"
       b"My order 4711 has not arrived.\r\n")


def write_config(tmp: Path, database_url: str, http_port: int, smtp_port: int) -> Path:
    config = tmp / "frontdesk.toml"
    config.write_text(f"""
secret_key = "fault-test-secret-key-0123456789"
[database]
url = "{database_url}"
[http]
host = "127.0.0.1"
port = {http_port}
[smtp_in]
host = "127.0.0.1"
port = {smtp_port}
[jobs]
redis_url = "{TEST_REDIS_URL}"
queue_name = "frontdesk-faults:{http_port}"
[[inboxes]]
slug = "support"
name = "Support"
addresses = ["help@example.com"]
""")
    return config


class Processes:
    """`frontdesk serve` (and `frontdesk worker` with Redis), logging to one file."""

    def __init__(self, config: Path, http_port: int, smtp_port: int, log: Path):
        self.config, self.http_port, self.smtp_port, self.log = config, http_port, smtp_port, log
        self.serve: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def _spawn(self, command: str, env: dict[str, str]) -> subprocess.Popen:
        with self.log.open("a") as log:
            return subprocess.Popen([str(BIN / "frontdesk"), "--config", str(self.config),
                                     command], stdout=log, stderr=subprocess.STDOUT, env=env)

    async def start_serve(self, fault_point: str | None = None) -> None:
        extra = {FAULT_POINT_VARIABLE: fault_point} if fault_point else {}
        self.serve = self._spawn("serve", process_env(**extra))
        if TEST_REDIS_URL and self.worker is None:
            self.worker = self._spawn("worker", process_env())
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if self.serve.poll() is not None:
                    break
                try:
                    if (await client.get(f"http://127.0.0.1:{self.http_port}/readyz")
                            ).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"server did not start:\n{self.log.read_text()}")
        try:
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as probe:
                probe.noop()
        except OSError as exc:
            raise AssertionError(f"frontdesk serve does not take SMTP on {self.smtp_port}: "
                                 f"{exc}\n{self.log.read_text()}") from None

    def wait_serve_exit(self) -> int:
        assert self.serve is not None
        code = self.serve.wait(timeout=30)
        self.serve = None
        return code

    def stop(self) -> None:
        for process in (self.serve, self.worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.serve, self.worker):
            if process is not None:
                process.wait(timeout=30)
        self.serve = self.worker = None


def send(port: int, raw: bytes) -> tuple[int, bytes]:
    """Deliver `raw` in one SMTP session; returns the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("anna@example.se")
        code, _ = smtp.rcpt("help@example.com")
        assert code == 250
        return smtp.data(raw)


async def pending_raw_mail(database_url: str) -> int:
    """Raw rows not yet through `email.process`, read from the database itself."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(make_url(raw_store_url(database_url)).database) as db:
            return int(db.execute("SELECT count(*) FROM raw_emails WHERE status = 'pending'"
                                  ).fetchone()[0])
    import asyncpg

    url = make_url(database_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database=url.database)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM raw_emails WHERE status = 'pending'"))
    finally:
        await conn.close()


async def settled_conversations(base: str, token: str, database_url: str) -> list[dict]:
    """The conversations once every raw mail is processed and one has its ticket (polled
    until then, at most SETTLE_SECONDS)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        while True:
            listing = (await client.get("/api/conversations", params={"status": "all"})
                       ).json()["items"]
            ready = listing and all(c["ticket_id"] is not None for c in listing)
            if ready and await pending_raw_mail(database_url) == 0:
                return [(await client.get(f"/api/conversations/{c['id']}")).json()
                        for c in listing]
            assert time.monotonic() < deadline, "mail was not processed in time"
            await asyncio.sleep(0.25)


@pytest.fixture
async def database_for_processes(tmp_path: Path) -> AsyncIterator[str]:
    if TEST_DATABASE_URL:
        url = await create_postgres_database(TEST_DATABASE_URL)
        yield url
        await drop_postgres_database(TEST_DATABASE_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'frontdesk.db'}"


@pytest.mark.parametrize("fault_point", FAULT_POINTS)
async def test_a_crash_around_the_commit_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, database_for_processes: str, fault_point: str) -> None:
    http_port, smtp_port = unused_port(), unused_port()
    config = write_config(tmp_path, database_for_processes, http_port, smtp_port)
    frontdesk_cli(config, "migrate")
    frontdesk_cli(config, "users", "add", "boss@example.com", "--name", "Bo Boss", "--role",
              "admin", "--password-stdin", stdin=PASSWORD + "\n")
    processes = Processes(config, http_port, smtp_port, tmp_path / "server.log")
    try:
        await processes.start_serve(fault_point)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await asyncio.to_thread(send, smtp_port, RAW)
        assert processes.wait_serve_exit() == -signal.SIGKILL

        await processes.start_serve()
        code, reply = await asyncio.to_thread(send, smtp_port, RAW)  # the sender's retry
        assert code == 250 and reply.startswith(b"2.0.0 Ok: queued as ")

        token = frontdesk_cli(config, "tokens", "create", "boss@example.com")
        conversations = await settled_conversations(f"http://127.0.0.1:{http_port}", token,
                                                    database_for_processes)
        [conversation] = conversations
        [message] = conversation["messages"]
        assert message["external_id"] == "crash-test-4711@mail.example.se"
        assert message["text"].strip() == "My order 4711 has not arrived."
        assert conversation["subject"] == "Boots never arrived"
    finally:
        processes.stop()
