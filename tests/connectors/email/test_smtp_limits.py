"""Per client limits of the SMTP receiver, with smtplib against the real server: in the
test's event loop (time driven by core.clock), and as two receiver processes sharing one
limit."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from datetime import timedelta
from ipaddress import ip_network

import pytest

from connectors.email.receiver import ReceiverRuntime, start_receiver, stop_receiver
from connectors.email.smtp_in import SmtpServer, start_smtp, stop_smtp
from core.runtime import Runtime
from tests.connectors.email.test_smtp_in import mail, raw_rows

SENDER, RECIPIENT = "anna@example.se", "help@example.com"


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_in": {"client_connections_per_minute": 3, "client_messages_per_minute": 2}}


@pytest.fixture
async def smtp(runtime: Runtime) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(runtime, port=0)
    yield server
    await stop_smtp(server)


def send_in_one_session(port: int, count: int) -> list[tuple[int, str]]:
    """Send `count` messages in one session (smtplib, blocking: run it in a thread);
    the reply to each MAIL FROM, or to its DATA when the MAIL was taken."""
    replies = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        for n in range(count):
            code, text = client.mail(SENDER)
            if code == 250:
                client.rcpt(RECIPIENT)
                code, text = client.data(mail(f"Question {n}"))
            else:
                client.rset()
            replies.append((code, text.decode()))
    return replies


def greeting(port: int) -> tuple[int, str]:
    """The server's first words to a new connection."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            return 220, client.noop()[1].decode()
    except smtplib.SMTPConnectError as refused:
        return refused.smtp_code, refused.smtp_error.decode()


async def test_a_client_over_its_message_limit_hears_450_and_nothing_is_stored(
        runtime, smtp, manual_clock):
    replies = await asyncio.to_thread(send_in_one_session, smtp.port, 3)
    assert [code for code, _ in replies] == [250, 250, 450]
    assert replies[2][1].startswith("4.7.1 Too many messages from your address, try again in")
    assert len(await raw_rows(runtime)) == 2
    wait = int(replies[2][1].split()[-2])  # "... try again in 70 s"
    manual_clock.advance(timedelta(seconds=wait))
    assert [code for code, _ in await asyncio.to_thread(send_in_one_session, smtp.port, 1)
            ] == [250]
    assert len(await raw_rows(runtime)) == 3


async def test_a_client_over_its_connection_limit_hears_421_instead_of_a_greeting(
        smtp, manual_clock):
    # Each greeting() is one connection; the first three go through.
    answers = [await asyncio.to_thread(greeting, smtp.port) for _ in range(4)]
    assert [code for code, _ in answers] == [220, 220, 220, 421]
    assert "4.7.0" in answers[3][1] and "Too many connections" in answers[3][1]
    manual_clock.advance(timedelta(minutes=2))
    assert (await asyncio.to_thread(greeting, smtp.port))[0] == 220


async def test_relays_in_front_are_spared(runtime, manual_clock):
    smtp_in = runtime.settings.smtp_in.model_copy(
        update={"unthrottled_clients": (ip_network("127.0.0.0/8"),)})
    settings = runtime.settings.model_copy(update={"smtp_in": smtp_in})
    server = await start_smtp(ReceiverRuntime(settings, runtime.raw_sessions, runtime.throttle),
                              port=0)
    try:
        replies = await asyncio.to_thread(send_in_one_session, server.port, 5)
    finally:
        await stop_smtp(server)
    assert [code for code, _ in replies] == [250] * 5


@pytest.mark.slow
async def test_two_receiver_processes_share_a_clients_limit(runtime):
    """Two `frontdesk serve` receivers (processes of their own, on the real clock) count
    one client's messages together: two go through, one on each, the third is refused."""
    first = await start_receiver(runtime, port=0)
    second = await start_receiver(runtime, port=0)
    try:
        replies = []
        for receiver in (first, second, first):
            replies += await asyncio.to_thread(send_in_one_session, receiver.port, 1)
    finally:
        await stop_receiver(first)
        await stop_receiver(second)
    assert [code for code, _ in replies] == [250, 250, 450]
    assert len(await raw_rows(runtime)) == 2
