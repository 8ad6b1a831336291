"""Operating a real `frontdesk serve` process: its metrics and JSON log over real SMTP and
HTTP, the SMTP port from the environment, a port in use, and the warnings at start."""

from __future__ import annotations

import asyncio
import json
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import BIN, TEST_DATABASE_URL, frontdesk_cli, process_env, unused_port
from tests.test_end_to_end import database_for_processes  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow


def write_config(tmp: Path, database_url: str, http_port: int, *, host: str = "127.0.0.1",
                 extra: str = "") -> Path:
    config = tmp / "frontdesk.toml"
    config.write_text(f"""
secret_key = "operations-test-secret-key-0123456789"
data_dir = "{tmp / 'data'}"
[database]
url = "{database_url}"
[http]
host = "{host}"
port = {http_port}
metrics = true
[smtp_in]
port = 1
[logging]
log_format = "json"
[attachments]
dir = "{tmp / 'attachments'}"
[[inboxes]]
slug = "support"
name = "Support"
addresses = ["help@example.com"]
{extra}
""")
    return config


def serve(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "frontdesk"), "--config", str(config), "serve"],
                                stdout=out, stderr=out, env=process_env(**env))


def serve_to_the_end(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `frontdesk serve` expecting it to stop by itself (within a minute)."""
    return subprocess.run([str(BIN / "frontdesk"), "--config", str(config), "serve"],
                          capture_output=True, text=True, timeout=60, env=process_env(**env))


async def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                break
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def log_lines(log: Path) -> list[dict]:
    """The JSON objects of the log (every line must be one)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def send(port: int, recipients: list[str], message: str) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            return client.sendmail("anna@customer.example", recipients, message)
        except smtplib.SMTPRecipientsRefused as refused:
            return refused.recipients


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{base}/metrics")
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


async def wait_for(predicate, what: str, log: Path):
    for _ in range(300):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never saw {what}:\n{log.read_text()}")


async def test_metrics_and_json_log_of_mail_over_real_smtp(tmp_path, database_for_processes):  # noqa: F811
    http_port, smtp_port = unused_port(), unused_port()
    config = write_config(tmp_path, database_for_processes, http_port)
    if TEST_DATABASE_URL:
        frontdesk_cli(config, "migrate")
    log = tmp_path / "serve.log"
    # [smtp_in] port = 1 in the file: the environment's port wins.
    process = serve(config, log, FRONTDESK_SMTP_PORT=str(smtp_port))
    base = f"http://127.0.0.1:{http_port}"
    try:
        await wait_ready(base, process, log)
        refused = send(smtp_port, ["nobody@example.com"], "Subject: lost\r\n\r\nHello?\r\n")
        assert refused["nobody@example.com"][0] == 550
        assert send(smtp_port, ["help@example.com"],
                    "From: anna@customer.example\r\nTo: help@example.com\r\n"
                    "Subject: Printer\r\nMessage-ID: <ops-1@customer.example>\r\n\r\n"
                    "It smokes.\r\n") == {}
        assert send(smtp_port, ["help@example.com"], "\r\njust some bytes, no header\r\n") == {}

        async def both_processed():
            outcomes = [line.get("outcome") for line in log_lines(log)
                        if line.get("event") == "inbound_mail"]
            return outcomes if {"accepted", "quarantined"} <= set(outcomes) else None

        await wait_for(both_processed, "the two messages processed", log)
        values = await scrape(base)
        # While it runs: at its end, multiprocessing's resource tracker (a helper process
        # that logs nothing) may print a warning of its own.
        lines = log_lines(log)  # every line is JSON, uvicorn's and the receiver's too
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert values[("frontdesk_mail_accepted_total", (("source", "smtp"),))] == 1
    assert values[("frontdesk_mail_quarantined_total", (("reason", "unreadable"),))] == 1
    # Refused by the receiver process, counted by the server that serves /metrics.
    assert values[("frontdesk_mail_rejected_total", (("reason", "unknown_recipient"),))] == 1
    assert values[("frontdesk_ingest_lag_seconds_count", ())] == 1
    assert values[("frontdesk_outbox_backlog", ())] == 0
    assert values[("frontdesk_http_request_duration_seconds_count",
                   (("method", "GET"), ("route", "/readyz"), ("status", "200")))] >= 1

    assert {"time", "level", "logger", "message"} <= set(lines[0])
    mail = {line["outcome"]: line for line in lines if line.get("event") == "inbound_mail"}
    accepted = mail["accepted"]
    assert accepted["inbox"] == "support" and accepted["raw_id"] >= 1
    assert isinstance(accepted["message_id"], int)
    assert isinstance(accepted["conversation_id"], int)
    assert mail["quarantined"]["message_id"] is None
    assert mail["quarantined"]["error"] == "no header fields: this is not an email"
    assert mail["rejected"]["reason"] == "unknown_recipient"
    assert mail["rejected"]["recipient"] == "nobody@example.com"
    assert any(line["logger"] == "uvicorn.access" for line in lines)


def assert_one_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("frontdesk:")] == [expected]


def test_an_smtp_port_in_use_stops_the_start_with_one_line_after_the_warnings(
        tmp_path, taken_port):
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}", unused_port(),
                          host="0.0.0.0")
    result = serve_to_the_end(config, FRONTDESK_SMTP_PORT=str(taken_port))
    assert result.returncode == 1
    assert_one_line(result.stderr, f"frontdesk: cannot listen for SMTP on 127.0.0.1:"
                                    f"{taken_port}: address already in use")
    warnings = [json.loads(line) for line in result.stderr.splitlines()
                if line.startswith("{") and '"WARNING"' in line]
    # Cookies without Secure, no public_url, the secret key written in the file.
    assert len(warnings) == 3
    assert all(w["logger"] == "frontdesk.deployment" for w in warnings)
    messages = " | ".join(w["message"] for w in warnings)
    assert "without Secure" in messages and "without [http] public_url" in messages
    assert "secret key is written in the configuration file" in messages


def test_an_http_port_in_use_stops_the_start_with_one_line(tmp_path, taken_port):
    smtp_port = unused_port()
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}", taken_port)
    result = serve_to_the_end(config, FRONTDESK_SMTP_PORT=str(smtp_port))
    assert result.returncode == 1
    assert_one_line(result.stderr, f"frontdesk: cannot listen for HTTP on 127.0.0.1:"
                                    f"{taken_port}: address already in use")
    assert "WARNING" not in result.stderr  # loopback only: nothing to warn about
    with socket.create_server(("127.0.0.1", smtp_port)):
        pass  # the SMTP port bound first was let go


def test_a_bad_smtp_port_in_the_environment_is_a_config_error(tmp_path):
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}", unused_port())
    result = serve_to_the_end(config, FRONTDESK_SMTP_PORT="smtp")
    assert result.returncode == 2
    assert_one_line(result.stderr, "frontdesk: FRONTDESK_SMTP_PORT='smtp': smtp_in.port: "
                                   "Input should be a valid integer, unable to parse string "
                                   "as an integer")


async def test_multiprocess_mode_serves_the_counts_of_the_directory(tmp_path):
    http_port = unused_port()
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}", http_port)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    log = tmp_path / "serve.log"
    process = serve(config, log, FRONTDESK_SMTP_PORT=str(unused_port()),
                    PROMETHEUS_MULTIPROC_DIR=str(shared))
    base = f"http://127.0.0.1:{http_port}"
    try:
        await wait_ready(base, process, log)
        values = await scrape(base)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert list(shared.glob("*.db"))  # the counts went through the shared files
    ready = ("frontdesk_http_request_duration_seconds_count",
             (("method", "GET"), ("route", "/readyz"), ("status", "200")))
    assert values[ready] >= 1
    assert values[("frontdesk_outbox_backlog", ())] == 0
