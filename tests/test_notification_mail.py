"""Notification mail: those who asked get each notification by email through a real SMTP
relay on loopback (aiosmtpd); nobody else does."""

from __future__ import annotations

import pytest

from tests.connectors.email.test_smtp_out import RecordingRelay, free_port, running_relay
from tests.support import add_to_inbox, add_user, run_jobs, submit_form

RELAY_PORT = free_port()


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0},
            "http": {"public_url": "https://help.example.com"}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


async def test_mail_goes_to_those_who_asked_for_it(runtime, client, admin, relay):
    _, boss = admin
    ann_id, ann = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    bo_id, bo = await add_user(runtime, "bo@example.com", "agent", "Bo Builder")
    await add_to_inbox(runtime, "support", user_ids=(ann_id, bo_id))
    assert (await client.get("/api/me", headers=ann)).json()["notify_by_email"] is False
    turned = await client.patch("/api/me", headers=ann, json={"notify_by_email": True})
    assert turned.status_code == 200 and turned.json()["notify_by_email"] is True
    number = (await submit_form(client)).json()["ticket_number"]
    conversation = (await client.get(f"/api/tickets/{number}", headers=boss)).json()[
        "conversation_ids"][0]
    await client.post(f"/api/conversations/{conversation}/messages", headers=boss,
                      json={"kind": "comment", "text": "@ann and @bo, a look please"})
    await run_jobs(runtime)

    [received] = [r for r in relay.accepted if r.rcpt_tos != ["anna@example.org"]]
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.mail_from == "<>"  # a bounce must not come back as a conversation
    mail = received.parsed()
    assert mail["Subject"] == "Ada Admin mentioned you: Printer on fire"
    assert mail["From"].addresses[0].addr_spec == "help@example.com"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert f"https://help.example.com/conversations/{conversation}" in mail.get_content()
    for headers in (ann, bo):  # mailed or not, the notification is in the app
        assert (await client.get("/api/notifications", headers=headers)).json()["unread"] == 1


async def test_turning_it_off_and_bad_input(runtime, client, agent, relay):
    _, al = agent
    await client.patch("/api/me", headers=al, json={"notify_by_email": True})
    off = await client.patch("/api/me", headers=al, json={"notify_by_email": False})
    assert off.json()["notify_by_email"] is False
    for body, field in (({"notify_by_email": "yes"}, "notify_by_email"),
                        ({}, "notify_by_email"),
                        ({"notify_by_email": True, "name": "x"}, "name")):
        response = await client.patch("/api/me", headers=al, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
