"""Webhooks end to end: events reach a real receiver on loopback, signed as the README says,
retried on failure through the outbox, logged, and replayed on demand.

Runs on the in-process queue by default and on Redis with real arq workers when
FRONTDESK_TEST_REDIS_URL is set (and on PostgreSQL with FRONTDESK_TEST_DATABASE_URL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.email.inbound import store_raw
from core import clock, outbox
from core.db import transaction
from core.events import publish
from sla.events import SlaBreached
from tests.support import run_jobs, submit_form
from tests.webhooks.receiver import Received, Receiver, receiving
from webhooks import rules


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict:
    """The receiver listens on loopback: private targets allowed, unless a test says."""
    return getattr(request, "param", {"webhooks": {"allow_private_targets": True}})


def verify_as_a_receiver_does(received: Received, secret: str) -> dict:
    """The README's verification, written out: split the header, recompute the HMAC of
    `<t>.<body>`, compare in constant time, refuse an old timestamp; returns the event."""
    fields = dict(part.split("=", 1) for part in received.headers["Frontdesk-Signature"]
                  .split(","))
    signed = fields["t"].encode() + b"." + received.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])
    assert abs(time.time() - int(fields["t"])) < 300
    return json.loads(received.body)


def readme_verify() -> Callable[[str, bytes, str], bool]:
    """The `verify` function the README's "Webhooks" section gives receivers."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("## Webhooks", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)
    return namespace["verify"]


async def subscribe(client, headers, receiver: Receiver, *events: str) -> dict:
    response = await client.post("/api/webhooks", headers=headers,
                                 json={"url": receiver.url, "events": list(events)})
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(client, headers, webhook_id: int) -> list[dict]:
    response = await client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_new_conversation_reaches_the_receiver_signed(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        assert hook["secret"].startswith("whsec_")
        assert (await submit_form(client, subject="Printer on fire")).status_code in (200, 201)
        await run_jobs(runtime)
    [got] = receiver.received
    event = verify_as_a_receiver_does(got, hook["secret"])
    readme = readme_verify()
    assert readme(got.headers["Frontdesk-Signature"], got.body, hook["secret"])
    assert not readme(got.headers["Frontdesk-Signature"], got.body + b" ", hook["secret"])
    assert got.path == "/hooks/frontdesk"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Frontdesk-Event"] == "conversation.created"
    assert event["type"] == "conversation.created" and event["id"].startswith("evt_")
    conversation = event["data"]["conversation"]
    assert (conversation["subject"], conversation["inbox"], conversation["channel"]) == (
        "Printer on fire", "support", "form")
    assert conversation["contact"]["email"] == "anna@example.org"
    [logged] = await deliveries(client, headers, hook["id"])
    assert got.headers["Frontdesk-Delivery"] == str(logged["id"])
    assert (logged["status"], logged["attempts"], logged["status_code"], logged["error"]) == (
        "delivered", 1, 200, None)
    assert logged["response_ms"] >= 0 and logged["delivered_at"] is not None
    assert logged["event_id"] == event["id"] and logged["payload"] == event
    listed = (await client.get("/api/webhooks", headers=headers)).json()["items"]
    assert "secret" not in listed[0] and "secret" not in (
        await client.get(f"/api/webhooks/{hook['id']}", headers=headers)).json()


async def test_mail_accepted_over_email_reaches_the_receiver(client, runtime, admin):
    _, headers = admin
    raw = (b"From: Cleo <cleo@customer.example>\r\nTo: help@example.com\r\n"
           b"Subject: Invoice missing\r\nMessage-ID: <inv-1@customer.example>\r\n\r\n"
           b"Where is my invoice?\r\n")
    with receiving() as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created",
                               "message.received")
        await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp", raw=raw)
        await run_jobs(runtime)
    events = {r.headers["Frontdesk-Event"]: verify_as_a_receiver_does(r, hook["secret"])
              for r in receiver.received}
    assert sorted(events) == ["conversation.created", "message.received"]
    received = events["message.received"]["data"]
    assert received["message"]["text"].strip() == "Where is my invoice?"
    assert (received["conversation"]["channel"], received["conversation"]["subject"]) == (
        "email", "Invoice missing")
    assert received["conversation"]["id"] == events["conversation.created"]["data"][
        "conversation"]["id"]


async def test_a_host_name_is_sent_as_host_to_the_address_checked(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        receiver.url = receiver.url.replace("127.0.0.1", "localhost")
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
    [got] = receiver.received
    assert got.headers["Host"] == receiver.url.split("/")[2]
    verify_as_a_receiver_does(got, hook["secret"])
    [logged] = await deliveries(client, headers, hook["id"])
    assert logged["status"] == "delivered"


async def test_a_500_is_retried_after_a_minute_then_delivered(client, runtime, admin):
    _, headers = admin
    manual = clock.ManualClock(clock.now())
    with clock.use(manual), receiving(500) as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
        [waiting] = await deliveries(client, headers, hook["id"])
        assert (waiting["status"], waiting["attempts"], waiting["status_code"]) == (
            "pending", 1, 500)
        assert waiting["error"] == "HTTP 500: receiver says no"
        assert waiting["next_attempt_at"] == (manual() + timedelta(minutes=1)).isoformat()
        manual.advance(timedelta(seconds=59))
        assert await outbox.sweep({"runtime": runtime}) == 0
        manual.advance(timedelta(seconds=2))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)
    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["Frontdesk-Delivery"] == second.headers["Frontdesk-Delivery"]
    verify_as_a_receiver_does(second, hook["secret"])
    [done] = await deliveries(client, headers, hook["id"])
    assert (done["status"], done["attempts"], done["status_code"], done["error"]) == (
        "delivered", 2, 200, None)


@pytest.mark.parametrize("settings_overrides", [
    {"webhooks": {"allow_private_targets": True, "timeout_seconds": 0.2}}], indirect=True)
async def test_a_receiver_slower_than_the_timeout_is_tried_again(client, runtime, admin):
    _, headers = admin
    with receiving(hold_seconds=1.0) as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
    assert len(receiver.received) == 1
    [waiting] = await deliveries(client, headers, hook["id"])
    assert (waiting["status"], waiting["attempts"], waiting["status_code"]) == (
        "pending", 1, None)
    assert waiting["error"].startswith("ReadTimeout")
    assert waiting["next_attempt_at"] is not None


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_schedule(
        client, runtime, admin):
    _, headers = admin
    manual = clock.ManualClock(clock.now())
    with clock.use(manual), receiving(*[503] * 10) as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
        for delay in rules.RETRY_DELAYS:
            manual.advance(delay + timedelta(seconds=1))
            await outbox.sweep({"runtime": runtime})
            await run_jobs(runtime)
        manual.advance(timedelta(days=2))
        await outbox.sweep({"runtime": runtime})
        await run_jobs(runtime)
    assert len(receiver.received) == 1 + len(rules.RETRY_DELAYS)
    [failed] = await deliveries(client, headers, hook["id"])
    assert (failed["status"], failed["attempts"], failed["status_code"]) == (
        "failed", 6, 503)
    assert failed["next_attempt_at"] is None and failed["delivered_at"] is None


async def test_a_replay_sends_the_same_event_again(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
        [original] = await deliveries(client, headers, hook["id"])
        response = await client.post(f"/api/webhooks/deliveries/{original['id']}/replay",
                                     headers=headers)
        assert response.status_code == 202, response.text
        await run_jobs(runtime)
    first, again = receiver.received
    assert json.loads(first.body) == json.loads(again.body)
    assert again.headers["Frontdesk-Delivery"] == str(response.json()["id"])
    verify_as_a_receiver_does(again, hook["secret"])
    newest, oldest = await deliveries(client, headers, hook["id"])
    assert (newest["replay_of_id"], newest["status"], newest["event_id"]) == (
        original["id"], "delivered", original["event_id"])
    assert oldest["id"] == original["id"]


async def test_each_event_reaches_only_its_subscribers(client, runtime, admin, agent):
    _, boss = admin
    _, headers = agent
    with receiving() as everything, receiving() as tickets_only, receiving() as idle:
        await subscribe(client, boss, everything, *rules.EVENTS)
        await subscribe(client, boss, tickets_only, "ticket.changed")
        off = await subscribe(client, boss, idle, *rules.EVENTS)
        assert (await client.patch(f"/api/webhooks/{off['id']}", headers=boss,
                                   json={"active": False})).json()["active"] is False
        number = (await submit_form(client)).json()["ticket_number"]
        ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
        conversation_id = ticket["conversation_ids"][0]
        await client.post(f"/api/conversations/{conversation_id}/messages", headers=headers,
                          json={"kind": "reply", "text": "On our way"})
        await client.patch(f"/api/tickets/{number}", headers=headers, json={"priority": "high"})
        async with transaction(runtime.sessions) as session:
            now = datetime.now(UTC)
            await publish(session, SlaBreached(ticket["id"], 1, "first_response", now, now))
        await run_jobs(runtime)
    kinds = [r.headers["Frontdesk-Event"] for r in everything.received]
    assert sorted(set(kinds)) == sorted(["conversation.created", "message.received",
                                         "message.sent", "ticket.changed", "sla.breached"])
    sent = next(json.loads(r.body) for r in everything.received
                if r.headers["Frontdesk-Event"] == "message.sent")
    assert sent["data"]["message"]["text"] == "On our way"
    changed = [json.loads(r.body)["data"] for r in tickets_only.received]
    assert {"old": "medium", "new": "high"} in [c["changes"].get("priority") for c in changed]
    assert {r.headers["Frontdesk-Event"] for r in tickets_only.received} == {"ticket.changed"}
    assert idle.received == []


async def test_a_rotated_secret_signs_from_then_on(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        rotated = await client.post(f"/api/webhooks/{hook['id']}/rotate-secret",
                                    headers=headers)
        assert rotated.status_code == 200 and rotated.json()["secret"] != hook["secret"]
        await submit_form(client)
        await run_jobs(runtime)
    [got] = receiver.received
    verify_as_a_receiver_does(got, rotated.json()["secret"])
    assert not rules.verify(got.headers["Frontdesk-Signature"], got.body, hook["secret"],
                            now=int(time.time()))


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
async def test_private_targets_are_refused_by_default(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        literal = await client.post("/api/webhooks", headers=headers, json={
            "url": receiver.url, "events": ["conversation.created"]})
        assert literal.status_code == 422
        assert literal.json()["error"]["field"] == "url"
        by_name = receiver.url.replace("127.0.0.1", "localhost")
        hook = (await client.post("/api/webhooks", headers=headers, json={
            "url": by_name, "events": ["conversation.created"]})).json()
        await submit_form(client)
        await run_jobs(runtime)
    assert receiver.received == []
    [refused] = await deliveries(client, headers, hook["id"])
    assert (refused["status"], refused["attempts"], refused["status_code"]) == (
        "failed", 1, None)
    assert "private or loopback address" in refused["error"]


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://hooks.example.org/", "events": ["ticket.changed"]}, "url"),
    ({"url": "https://u:p@hooks.example.org/", "events": ["ticket.changed"]}, "url"),
    ({"url": "https://hooks.example.org/", "events": ["ticket.closed"]}, "events.0"),
    ({"url": "https://hooks.example.org/", "events": []}, "events"),
    ({"url": "https://hooks.example.org/"}, "events"),
    ({"events": ["ticket.changed"]}, "url"),
    ({"url": "https://hooks.example.org/", "events": ["ticket.changed"], "secret": "x"},
     "secret"),
    ({"url": "https://hooks.example.org/", "events": ["ticket.changed"], "active": "yes"},
     "active"),
])
async def test_bad_input_is_a_422_naming_the_field(client, admin, body, field):
    _, headers = admin
    response = await client.post("/api/webhooks", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"].get("field") == field, response.text


async def test_unknown_webhooks_and_deliveries_are_404(client, admin):
    _, headers = admin
    for method, url in (("GET", "/api/webhooks/999"), ("PATCH", "/api/webhooks/999"),
                        ("DELETE", "/api/webhooks/999"),
                        ("POST", "/api/webhooks/999/rotate-secret"),
                        ("GET", "/api/webhooks/999/deliveries"),
                        ("POST", "/api/webhooks/deliveries/999/replay")):
        json_body = {"active": False} if method == "PATCH" else None
        response = await client.request(method, url, headers=headers, json=json_body)
        assert response.status_code == 404, (method, url, response.text)


async def test_the_log_pages_newest_first_and_goes_with_its_webhook(client, runtime, admin):
    _, headers = admin
    manual = clock.ManualClock(clock.now())
    with clock.use(manual), receiving(200, 500, 500) as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
        [original] = await deliveries(client, headers, hook["id"])
        replays = [(await client.post(f"/api/webhooks/deliveries/{original['id']}/replay",
                                      headers=headers)).json()["id"] for _ in range(2)]
        await run_jobs(runtime)
        url = f"/api/webhooks/{hook['id']}/deliveries?limit=2"
        first = (await client.get(url, headers=headers)).json()
        second = (await client.get(f"{url}&cursor={first['next_cursor']}",
                                   headers=headers)).json()
        assert [d["id"] for d in first["items"]] == replays[::-1]
        assert [d["status"] for d in first["items"]] == ["pending", "pending"]
        assert [d["id"] for d in second["items"]] == [original["id"]]
        assert second["next_cursor"] is None
        assert (await client.delete(f"/api/webhooks/{hook['id']}",
                                    headers=headers)).status_code == 204
        manual.advance(timedelta(minutes=2))
        await outbox.sweep({"runtime": runtime})
        await run_jobs(runtime)
    assert len(receiver.received) == 3
    gone = await client.post(f"/api/webhooks/deliveries/{original['id']}/replay",
                             headers=headers)
    assert gone.status_code == 404


async def test_an_inactive_webhook_is_not_replayed(client, runtime, admin):
    _, headers = admin
    with receiving() as receiver:
        hook = await subscribe(client, headers, receiver, "conversation.created")
        await submit_form(client)
        await run_jobs(runtime)
        [original] = await deliveries(client, headers, hook["id"])
        await client.patch(f"/api/webhooks/{hook['id']}", headers=headers,
                           json={"active": False})
        refused = await client.post(f"/api/webhooks/deliveries/{original['id']}/replay",
                                    headers=headers)
        await submit_form(client, subject="Another")
        await run_jobs(runtime)
    assert refused.status_code == 409
    assert len(receiver.received) == 1
