"""A reply on a case opened by hand reaches the caller by mail, through a real SMTP relay
on loopback (aiosmtpd)."""

from __future__ import annotations

import pytest

from tests.connectors.email.test_smtp_out import RecordingRelay, free_port, running_relay
from tests.support import run_jobs

RELAY_PORT = free_port()


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


async def test_a_reply_on_a_phone_case_is_mailed_to_the_caller(runtime, client, agent, relay):
    _, headers = agent
    case = (await client.post("/api/cases", headers=headers, json={
        "inbox": "support", "origin": "phone", "caller_name": "Rita Ruiz",
        "caller_email": "rita@acme.example", "title": "Printer offline",
        "notes": "Called about the printer."})).json()
    sent = await client.post(f"/api/conversations/{case['conversation_id']}/messages",
                             headers=headers, json={"kind": "reply", "text": "Fixed it."})
    assert sent.status_code in (200, 201), sent.text
    await run_jobs(runtime)
    [received] = relay.accepted
    assert received.rcpt_tos == ["rita@acme.example"]
    mail = received.parsed()
    assert "Printer offline" in mail["Subject"]
    assert "Fixed it." in mail.get_body(preferencelist=("plain",)).get_content()
