"""Throttles against real `frontdesk serve` processes (uvicorn, over TCP): two servers on
one database (and Redis, when the run has it) share the login throttle, and uvicorn's own
reading of X-Forwarded-For is off, so a client on loopback cannot pose as another."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    create_postgres_database,
    drop_postgres_database,
    frontdesk_cli,
    unused_port,
)
from tests.test_end_to_end import Server

pytestmark = pytest.mark.slow
PASSWORD = "a long enough password"


def write_config(tmp: Path, database_url: str, port: int, queue_name: str) -> Path:
    config = tmp / f"frontdesk-{port}.toml"
    config.write_text(f"""
secret_key = "throttle-test-secret-key-0123456789"
[database]
url = "{database_url}"
[http]
host = "127.0.0.1"
port = {port}
[smtp_in]
enabled = false
[jobs]
redis_url = "{TEST_REDIS_URL}"
queue_name = "{queue_name}"
[[inboxes]]
slug = "support"
name = "Support"
[[forms]]
slug = "contact"
inbox = "support"
title = "Contact support"
rate_limit_per_minute = 1
""")
    return config


@pytest.fixture
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """Two `frontdesk serve` on one database; their base URLs."""
    if TEST_DATABASE_URL:
        database_url = await create_postgres_database(TEST_DATABASE_URL)
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'frontdesk.db'}"
    ports = [unused_port(), unused_port()]
    # One queue name: the servers share their Redis keys, and no other run sees them.
    queue_name = f"frontdesk-throttles:{uuid.uuid4().hex}"
    configs = [write_config(tmp_path, database_url, port, queue_name) for port in ports]
    frontdesk_cli(configs[0], "migrate")
    for email in ("agent@example.com", "admin@example.com"):
        frontdesk_cli(configs[0], "users", "add", email, "--name", "Someone",
                      "--password-stdin", stdin=PASSWORD + "\n")
    servers = [Server(config, port, tmp_path / "serve.log")
               for config, port in zip(configs, ports, strict=True)]
    try:
        for server in servers:
            await server.start()
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    finally:
        for server in servers:
            server.stop()
        if TEST_DATABASE_URL:
            await drop_postgres_database(TEST_DATABASE_URL, database_url)


async def log_in(client: httpx.AsyncClient, base: str, email: str, password: str,
                 **headers: str) -> int:
    response = await client.post(f"{base}/api/session", headers=headers,
                                 json={"email": email, "password": password})
    return response.status_code


async def test_two_servers_share_the_login_throttle(two_servers):
    first, second = two_servers
    async with httpx.AsyncClient(timeout=30) as client:
        for base in (first, second, first, second):  # three free failures, and one more
            assert await log_in(client, base, "agent@example.com", "wrong password") == 401
        assert await log_in(client, second, "agent@example.com", PASSWORD) == 429
        assert await log_in(client, first, "agent@example.com", PASSWORD) == 429
        assert await log_in(client, second, "admin@example.com", PASSWORD) == 200


async def test_uvicorn_does_not_take_x_forwarded_for_from_loopback(two_servers):
    first, second = two_servers
    form = {"name": "Anna", "email": "anna@example.org", "subject": "Hi", "message": "Help"}
    async with httpx.AsyncClient(timeout=30) as client:
        sent = [await client.post(f"{base}/forms/contact", json=form,
                                  headers={"X-Forwarded-For": address})
                for base, address in ((first, "192.0.2.1"), (second, "192.0.2.2"))]
    # One client (127.0.0.1) whatever it claims, one submission a minute, on both servers.
    assert [response.status_code for response in sent] == [201, 429]
