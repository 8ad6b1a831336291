"""Each refusal of the SMTP receiver is counted under its reason (smtplib against the real
server in the test's event loop, which counts in this process)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY

from connectors.email.smtp_in import SmtpServer, start_smtp, stop_smtp
from core import metrics
from core.runtime import Runtime
from tests.connectors.email.test_smtp_in import mail

SENDER, RECIPIENT = "anna@example.se", "help@example.com"


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_in": {"client_connections_per_minute": 1_000_000,
                        "client_messages_per_minute": 1_000_000},
            "limits": {"max_message_bytes": 10_000}}


@pytest.fixture
async def smtp(runtime: Runtime) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(runtime, port=0)
    yield server
    await stop_smtp(server)


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("frontdesk_mail_rejected_total", {"reason": reason}) or 0.0


def unknown_recipient(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(SENDER)
        return client.rcpt("nobody@example.com")[0]


def malformed_recipient(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(SENDER)
        return client.rcpt("bad\x01address@example.com")[0]


def too_large(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(SENDER)
        client.rcpt(RECIPIENT)
        return client.data(mail("Big", body="x" * 60 + ("\r\n" + "y" * 60) * 400))[0]


def bare_line_feed(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        for command in (b"EHLO client.example", f"MAIL FROM:<{SENDER}>".encode(),
                        f"RCPT TO:<{RECIPIENT}>".encode(), b"DATA"):
            raw.sendall(command + b"\r\n")
            while reader.readline()[3:4] == b"-":  # the last line of a reply
                pass
        raw.sendall(b"Subject: smuggled\r\n\r\nline one\nline two\r\n.\r\n")
        return int(reader.readline()[:3])


def accepted(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(SENDER, [RECIPIENT], mail("Fine"))
        return 250


@pytest.mark.parametrize(("send", "code", "reason"), [
    (unknown_recipient, 550, "unknown_recipient"),
    (malformed_recipient, 553, "malformed_address"),
    (too_large, 552, "too_large"),
    (bare_line_feed, 521, "bare_line_feed"),
])
async def test_a_refusal_is_counted_under_its_reason(smtp, send: Callable[[int], int], code,
                                                    reason):
    before = {known: rejected(known) for known in metrics.REJECTION_REASONS}
    assert await asyncio.to_thread(send, smtp.port) == code
    after = {known: rejected(known) for known in metrics.REJECTION_REASONS}
    assert {known: after[known] - before[known] for known in after
            if after[known] != before[known]} == {reason: 1}


async def test_accepted_mail_is_no_refusal(smtp):
    before = {known: rejected(known) for known in metrics.REJECTION_REASONS}
    assert await asyncio.to_thread(accepted, smtp.port) == 250
    assert {known: rejected(known) for known in metrics.REJECTION_REASONS} == before


def test_an_unknown_reason_is_a_mistake_and_a_relayed_one_is_dropped():
    with pytest.raises(ValueError):
        metrics.count_rejected("because")
    before = REGISTRY.get_sample_value("frontdesk_mail_rejected_total", {"reason": "because"})
    metrics.count_relayed_rejection("because")
    assert REGISTRY.get_sample_value("frontdesk_mail_rejected_total",
                                     {"reason": "because"}) == before is None
