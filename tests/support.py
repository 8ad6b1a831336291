"""Helpers shared by the tests: settings, a test database, jobs, users and clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from accounts.passwords import hash_new_password
from accounts.service import create_api_token, create_user
from core.db import Base, RawBase, transaction
from core.jobs import ArqQueue, InProcessQueue, registry
from core.runtime import Runtime
from core.settings import Settings, settings_from_dict

TEST_DATABASE_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL", "")
CHROMIUM = shutil.which("chromium")
"""Debian's Chromium, driven by Playwright (never a browser Playwright downloads)."""
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-quic"]
"""Without the background-networking flags Chromium keeps trying the closed network."""
TEST_REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "")
PASSWORD = "correct horse battery"


def unused_port() -> int:
    """A loopback port nothing listens on (at the moment it is chosen)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BIN = Path(sys.executable).parent


def process_env(**extra: str) -> dict[str, str]:
    """This environment without FRONTDESK_* overrides (a child reads only its config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    return env | extra


def frontdesk_cli(config: Path, *args: str, stdin: str | None = None) -> str:
    """Run `frontdesk --config CONFIG ARGS...`; returns its output (fails on an error)."""
    result = subprocess.run([str(BIN / "frontdesk"), "--config", str(config), *args],
                            input=stdin, capture_output=True, text=True, timeout=120,
                            env=process_env())
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def make_certificate(directory: Path, name: str = "server") -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1 (its own authority, so it is
    also the `ca_file` that trusts it) and its key: (certificate path, key path)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: one inbox `support`, the `contact` form, no env overrides."""
    data: dict[str, Any] = {
        "secret_key": "test-secret-key-0123456789",
        "database": {"url": database_url},
        "attachments": {"dir": tempfile.mkdtemp(prefix="frontdesk-attachments-")},
        # Replies go to a loopback port nothing listens on unless a test brings a relay.
        "smtp_out": {"host": "127.0.0.1", "port": unused_port()},
        # Tests send much mail from loopback; tests/connectors/email/test_smtp_limits.py
        # sets small limits.
        "smtp_in": {"client_connections_per_minute": 1_000_000,
                    "client_messages_per_minute": 1_000_000},
        "jobs": {"redis_url": TEST_REDIS_URL,
                 "queue_name": f"frontdesk-test:{uuid.uuid4().hex}"},
        "inboxes": [{"slug": "support", "name": "Support", "addresses": ["help@example.com"]}],
        "forms": [{"slug": "contact", "inbox": "support", "title": "Contact support"}],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return settings_from_dict(data, env={})


async def create_postgres_database(admin_url: str) -> str:
    """Create a fresh database on the server of `admin_url`; returns its URL."""
    import asyncpg

    url = make_url(admin_url)
    name = f"fd_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database=url.database)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(admin_url: str, database_url: str) -> None:
    import asyncpg

    url, name = make_url(admin_url), make_url(database_url).database
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 database=url.database)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(runtime: Runtime) -> None:
    """Empty every table (PostgreSQL: one statement, identities restarted)."""
    tables = [*Base.metadata.sorted_tables, *RawBase.metadata.sorted_tables]
    names = ", ".join(f'"{t.name}"' for t in tables)
    async with runtime.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_queue(settings: Settings) -> InProcessQueue | ArqQueue:
    if settings.jobs.redis_url:
        return ArqQueue(settings.jobs.redis_url, settings.jobs.queue_name)
    return InProcessQueue(run_periodic=False)


async def run_jobs(runtime: Runtime) -> None:
    """Run every job enqueued so far (and those they enqueue) to completion."""
    queue = runtime.queue
    if isinstance(queue, InProcessQueue):
        await queue.drain()
        return
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    from core.jobs import arq_worker_settings

    async def nothing(ctx: dict[str, Any]) -> None:
        return None

    name = runtime.settings.jobs.queue_name
    options = arq_worker_settings(runtime.settings.jobs.redis_url, name,
                                  on_startup=nothing, on_shutdown=nothing, jobs=registry)
    options.pop("cron_jobs")
    pool = await create_pool(RedisSettings.from_dsn(runtime.settings.jobs.redis_url),
                             default_queue_name=name)
    worker = Worker(**options, burst=True, poll_delay=0.02, handle_signals=False,
                    ctx={"runtime": runtime, "redis": pool}, redis_pool=pool)
    # arq's own burst mode also waits for deferred jobs; here only jobs due now are run.
    try:
        while True:
            await worker._poll_iteration()
            running = [t for t in worker.tasks.values() if not t.done()]
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                continue
            due = await pool.zcount(name, "-inf", int(time.time() * 1000))
            if due == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await pool.aclose()


async def retry_failed_inbound(client: httpx.AsyncClient, runtime: Runtime,
                               admin_headers: dict[str, str], raw_id: int) -> list[int]:
    """Retry failed inbound mail `raw_id` as an admin does and run the jobs; returns the ids
    the failed list showed before."""
    listed = (await client.get("/api/admin/failed-inbound", headers=admin_headers)).json()
    retried = await client.post(f"/api/admin/failed-inbound/{raw_id}/retry",
                                headers=admin_headers)
    assert retried.status_code == 202, retried.text
    await run_jobs(runtime)
    return [item["id"] for item in listed["items"]]


_password_hash: str | None = None


async def add_user(runtime: Runtime, email: str, role: str = "agent",
                   name: str | None = None) -> tuple[int, dict[str, str]]:
    """Create a user with a token; returns (user id, bearer headers)."""
    global _password_hash
    if _password_hash is None:  # one argon2 hash (a tenth of a second) for every test user
        _password_hash = await hash_new_password(PASSWORD)
    password_hash = _password_hash
    async with transaction(runtime.sessions) as session:
        user = await create_user(session, email=email, name=name or email.split("@")[0],
                                 role=role, password_hash=password_hash)
        issued = await create_api_token(session, user)
    return user.id, {"Authorization": f"Bearer {issued.token}"}


async def add_to_inbox(runtime: Runtime, slug: str, *, user_ids: tuple[int, ...] = (),
                       team_ids: tuple[int, ...] = ()) -> None:
    """Make these users and teams members of the inbox `slug` (besides its members)."""
    from inbox import access

    async with transaction(runtime.sessions) as session:
        inbox = await access.require_inbox(session, access.EVERY_INBOX, slug)
        members = (await access.members_of(session, [inbox.id]))[inbox.id]
        await access.set_members(session, inbox.id, team_ids=[*members.team_ids, *team_ids],
                                 user_ids=[*members.user_ids, *user_ids])


@asynccontextmanager
async def client_for(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def submit_form(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """POST the contact form as JSON; fields default to a valid submission."""
    data = {"name": "Anna Berg", "email": "anna@example.org", "subject": "Printer on fire",
            "message": "It started smoking after the update."}
    data.update(fields)
    return await client.post("/forms/contact", json=data)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
