"""A ticket's clock running into due-soon and then breach reaches people both ways: its
owner's notifications and a webhook subscribed to `sla.due_soon` and `sla.breached`, as the
clock passes each instant (no event published by hand)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core import clock
from sla import jobs
from tests.sla.test_notices import SETTINGS, T0
from tests.support import run_jobs, submit_form
from tests.webhooks.receiver import receiving


@pytest.fixture
def settings_overrides() -> dict:
    return {"webhooks": {"allow_private_targets": True}}


async def test_due_soon_and_breach_notify_the_owner_and_fire_webhooks(
        runtime, client, admin, agent):
    _, boss = admin
    al_id, al = agent
    manual = clock.ManualClock(T0)
    with clock.use(manual), receiving() as receiver:
        assert (await client.put("/api/sla/settings", headers=boss,
                                 json=SETTINGS)).status_code == 200
        hook = await client.post("/api/webhooks", headers=boss, json={
            "url": receiver.url, "events": ["sla.due_soon", "sla.breached"]})
        assert hook.status_code == 201, hook.text
        await run_jobs(runtime)
        number = (await submit_form(client)).json()["ticket_number"]
        await client.patch(f"/api/tickets/{number}", headers=boss, json={"owner_id": al_id})
        for minutes in (45, 60):
            manual.set(T0 + timedelta(minutes=minutes))
            await run_jobs(runtime)
            await jobs.sweep({"runtime": runtime})
            await run_jobs(runtime)  # the deliveries the notices queued
    events = [(r.headers["Frontdesk-Event"], json.loads(r.body)["data"])
              for r in receiver.received]
    assert [kind for kind, _ in events] == ["sla.due_soon", "sla.breached"]
    assert all(data["ticket_id"] == number and data["goal"] == "first_response"
               for _, data in events), events
    notices = (await client.get("/api/notifications", headers=al)).json()["items"]
    assert [(n["kind"], n["text"]) for n in notices[:2]] == [
        ("sla_breached", "SLA first response was breached"),
        ("sla_due_soon", "SLA first response is due soon")]
