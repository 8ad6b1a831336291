"""Two real `frontdesk serve` processes on one database: an address an admin adds through
the API of one is taken by the SMTP receiver of the other, without a restart; removed, it
is refused there. On SQLite the second process learns it by polling the settings version
(two processes on one file have no Redis); with FRONTDESK_TEST_REDIS_URL set the
announcement travels over Redis pub/sub as well."""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import (
    BIN,
    PASSWORD,
    TEST_REDIS_URL,
    frontdesk_cli,
    process_env,
    unused_port,
)
from tests.test_end_to_end import database_for_processes  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow


def write_config(tmp: Path, name: str, database_url: str, http_port: int,
                 smtp_port: int) -> Path:
    config = tmp / f"{name}.toml"
    redis = f'redis_url = "{TEST_REDIS_URL}"\nqueue_name = "fd-live-channels-{tmp.name}"' if (
        TEST_REDIS_URL) else ""
    config.write_text(f"""
secret_key = "live-channels-test-secret-key-0123456789"
data_dir = "{tmp / 'data'}"
[database]
url = "{database_url}"
settings_poll_seconds = 0.5
[http]
port = {http_port}
[smtp_in]
port = {smtp_port}
[jobs]
{redis}
[attachments]
dir = "{tmp / 'attachments'}"
[[inboxes]]
slug = "support"
name = "Support"
addresses = ["help@example.com"]
""")
    return config


def serve(config: Path, log: Path, command: str = "serve") -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "frontdesk"), "--config", str(config), command],
                                stdout=out, stderr=out, env=process_env())


async def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if process.poll() is not None:
                break
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def rcpt(port: int, address: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail("anna@customer.example")
        code, _ = client.rcpt(address)
        return code


def send(port: int, address: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("anna@customer.example", [address],
                        f"From: Anna <anna@customer.example>\r\nTo: {address}\r\n"
                        f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}"
                        "@customer.example>\r\n\r\nHello.\r\n")


async def eventually(check, what: str, logs: list[Path]):
    """`check()` once it is truthy (the other process learns within a poll or two)."""
    for _ in range(300):
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never saw {what}:\n" + "\n".join(log.read_text() for log in logs))


async def test_an_address_added_on_one_server_is_taken_by_the_other_without_a_restart(
        tmp_path, database_for_processes):  # noqa: F811
    ports = {name: (unused_port(), unused_port()) for name in ("a", "b")}
    configs = {name: write_config(tmp_path, name, database_for_processes, *ports[name])
               for name in ports}
    frontdesk_cli(configs["a"], "migrate")
    frontdesk_cli(configs["a"], "users", "add", "ada@example.com", "--name", "Ada",
                  "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    token = frontdesk_cli(configs["a"], "tokens", "create", "ada@example.com")
    boss = {"Authorization": f"Bearer {token}"}
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    processes = {}
    try:
        for name in ports:
            processes[name] = serve(configs[name], logs[name])
            await wait_ready(f"http://127.0.0.1:{ports[name][0]}", processes[name], logs[name])
        if TEST_REDIS_URL:  # jobs (processing the mail) run on a worker then
            logs["worker"] = tmp_path / "worker.log"
            processes["worker"] = serve(configs["a"], logs["worker"], "worker")
        a_http, b_smtp = f"http://127.0.0.1:{ports['a'][0]}", ports["b"][1]
        assert await asyncio.to_thread(rcpt, b_smtp, "deals@example.com") == 550

        async with httpx.AsyncClient(base_url=a_http, headers=boss, timeout=30) as api:
            created = await api.post("/api/admin/inboxes", json={
                "slug": "sales", "name": "Sales", "addresses": ["deals@example.com"]})
            assert created.status_code == 201, created.text
            await eventually(lambda: rcpt(b_smtp, "deals@example.com") == 250,
                             "B's receiver take the new address", list(logs.values()))
            await asyncio.to_thread(send, b_smtp, "deals@example.com", "New pricing")

            async def landed() -> list[dict]:
                listed = (await api.get("/api/conversations?inbox=sales")).json()["items"]
                return [c for c in listed if c["subject"] == "New pricing"]

            for _ in range(300):
                if await landed():
                    break
                await asyncio.sleep(0.1)
            assert await landed(), "the mail did not land in the inbox"

            removed = await api.patch("/api/admin/inboxes/sales", json={"addresses": []})
            assert removed.status_code == 200, removed.text
            await eventually(lambda: rcpt(b_smtp, "deals@example.com") == 550,
                             "B's receiver refuse the removed address", list(logs.values()))
        # Still the processes they were: nothing was restarted.
        assert all(process.poll() is None for process in processes.values())
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=30)
