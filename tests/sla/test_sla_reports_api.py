"""The weekly report through the API (JSON and CSV), dates as bounds, the settings schema in
the OpenAPI document, and goals by inbox."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from connectors.ingest import accept
from core import clock
from core.db import transaction
from inbox.messages import InboundMessage
from inbox.models import Inbox
from tests.support import add_user, submit_form

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SETTINGS = {"mode": "always",
            "calendars": [{"timezone": "Europe/Stockholm", "hours": {}}],
            "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15}}}


@pytest.fixture
def manual_clock():
    manual = clock.ManualClock(MONDAY)
    with clock.use(manual):
        yield manual


async def reply_to(client, headers, number: int, text: str = "On it") -> None:
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    response = await client.post(f"/api/conversations/{ticket['conversation_ids'][0]}/messages",
                                 headers=headers, json={"kind": "reply", "text": text})
    assert response.status_code == 201, response.text


async def seed_two_weeks(client, headers, manual_clock) -> None:
    """Week of 16 Nov: one met in 20 minutes, one breached. Week of 23 Nov: one met late
    (90 minutes), one met in 40 minutes."""
    assert (await client.put("/api/sla/settings", headers=headers,
                             json=SETTINGS)).status_code == 200
    met = (await submit_form(client, email="a@example.org")).json()["ticket_number"]
    await submit_form(client, email="b@example.org")
    manual_clock.advance(timedelta(minutes=20))
    await reply_to(client, headers, met)
    manual_clock.set(MONDAY + timedelta(days=7))
    late = (await submit_form(client, email="c@example.org")).json()["ticket_number"]
    quick = (await submit_form(client, email="d@example.org")).json()["ticket_number"]
    manual_clock.advance(timedelta(minutes=40))
    await reply_to(client, headers, quick)
    manual_clock.advance(timedelta(minutes=50))
    await reply_to(client, headers, late)


async def test_weekly_report_and_its_csv(client, admin, manual_clock):
    _, headers = admin
    await seed_two_weeks(client, headers, manual_clock)
    params = {"from": "2026-11-16", "to": "2026-11-29"}
    response = await client.get("/api/sla/report/weekly", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["time_zone"] == "Europe/Stockholm"
    assert body["weeks"] == ["2026-11-16", "2026-11-23"]
    first = [(line["week_starting"], line["met"], line["met_late"], line["breached"],
              line["percent_met"], line["median_working_minutes"])
             for line in body["items"] if line["goal"] == "first_response"]
    assert first == [("2026-11-16", 1, 0, 1, 50.0, 20.0), ("2026-11-23", 1, 1, 0, 50.0, 65.0)]
    assert body["breaches_by_team"] == [{"team": "No team", "breached": 1, "decided": 4}]

    download = await client.get("/api/sla/report.csv", headers=headers, params=params)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="sla-report-2026-11-16-2026-11-29.csv"' in download.headers[
        "content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    csv_first = [(row["week_starting"], int(row["met"]), int(row["met_late"]),
                  int(row["breached"]), float(row["percent_met"]),
                  float(row["median_working_minutes"]))
                 for row in rows if row["goal"] == "first_response" and row["team"] == "All teams"]
    assert csv_first == first


async def test_a_date_is_a_whole_day_in_the_calendar_zone(client, admin, manual_clock):
    _, headers = admin
    await seed_two_weeks(client, headers, manual_clock)

    async def decided(**params) -> int:
        response = await client.get("/api/sla/report", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return sum(line["met"] + line["met_late"] + line["breached"]
                   for line in response.json()["items"])

    assert await decided(**{"from": "2026-11-16", "to": "2026-11-16"}) == 2
    assert await decided(**{"from": "2026-11-17", "to": "2026-11-23"}) == 2
    assert await decided(**{"from": "2026-11-16", "to": "2026-11-23T00:00:00+01:00"}) == 2
    assert await decided(**{"from": "2026-11-16T09:00:01Z", "to": "2026-11-30"}) == 2


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-11-30", "to": "2026-11-29"}, "to"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2026-11-01", "to": "next week"}, "to"),
    ({"from": "2026-11-01"}, "to"),
])
@pytest.mark.parametrize("path", ["/api/sla/report", "/api/sla/report/weekly",
                                  "/api/sla/report.csv"])
async def test_bad_bounds_are_422(client, agent, path, params, field):
    _, headers = agent
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("path", ["/api/sla/report/weekly", "/api/sla/report.csv"])
async def test_weekly_reports_cover_at_most_two_years(client, agent, path):
    _, headers = agent
    wide = await client.get(path, headers=headers, params={"from": "1900-01-01",
                                                            "to": "8999-12-31"})
    assert wide.status_code == 422 and "at most 106 weeks" in wide.json()["error"]["message"]
    fits = await client.get(path, headers=headers, params={"from": "2025-01-01",
                                                            "to": "2026-12-31"})
    assert fits.status_code == 200


async def test_reports_count_only_what_the_caller_sees(client, runtime, admin, manual_clock):
    _, headers = admin
    await seed_two_weeks(client, headers, manual_clock)
    _, outsider = await add_user(runtime, "out@example.com", "agent", "Out Sider")
    response = await client.get("/api/sla/report/weekly", headers=outsider,
                                params={"from": "2026-11-16", "to": "2026-11-29"})
    assert response.status_code == 200
    assert all(line["met"] + line["met_late"] + line["breached"] == 0
               for line in response.json()["items"])
    assert response.json()["breaches_by_team"] == []


async def test_openapi_describes_the_settings_field_by_field(client):
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/sla/settings"]["put"]
    body = put["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/SlaPolicy"}
    assert body["examples"]["office hours"]["value"]["mode"] == "working_hours"
    policy = schemas["SlaPolicy"]["properties"]
    assert set(policy) == {"mode", "calendars", "paused_statuses", "property", "goals",
                           "values"}
    assert all(field.get("description") for field in policy.values())
    assert "inbox" in str(policy["property"])
    calendar = schemas["CalendarSpec"]["properties"]
    assert all(field.get("description") for field in calendar.values())
    assert schemas["Goal"]["properties"]["minutes"]["description"]
    get = document["paths"]["/api/sla/settings"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SlaSettings"}


async def test_goals_by_inbox_follow_the_conversation(client, runtime, admin, manual_clock):
    _, headers = admin
    async with transaction(runtime.sessions) as session:
        session.add(Inbox(slug="vip", name="VIP", addresses=["vip@example.com"]))
    settings = {"mode": "always", "property": "inbox",
                "goals": {"first_response": {"minutes": 60}},
                "values": {"vip": {"first_response": {"minutes": 10}}}}
    assert (await client.put("/api/sla/settings", headers=headers,
                             json=settings)).status_code == 200
    number = (await submit_form(client)).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    [first] = ticket["sla"]
    assert datetime.fromisoformat(first["due_at"]) == MONDAY + timedelta(minutes=60)
    conversation = ticket["conversation_ids"][0]
    moved = await client.patch(f"/api/conversations/{conversation}", headers=headers,
                               json={"inbox": "vip"})
    assert moved.status_code == 200, moved.text
    [first] = (await client.get(f"/api/tickets/{number}", headers=headers)).json()["sla"]
    assert datetime.fromisoformat(first["due_at"]) == MONDAY + timedelta(minutes=10)
    opened = await accept(runtime.sessions, InboundMessage(
        inbox="vip", channel="email", sender_email="c@example.org", sender_name="C",
        subject="Straight to VIP", text="hi", external_id="vip-1@example.org"))
    vip = (await client.get(f"/api/conversations/{opened.conversation_id}",
                            headers=headers)).json()["ticket_id"]
    [first] = (await client.get(f"/api/tickets/{vip}", headers=headers)).json()["sla"]
    assert datetime.fromisoformat(first["due_at"]) == MONDAY + timedelta(minutes=10)


async def test_every_save_is_in_the_audit_log_with_what_changed(client, admin, manual_clock):
    _, headers = admin
    first = (await client.put("/api/sla/settings", headers=headers, json=SETTINGS)).json()
    changed = {**SETTINGS, "paused_statuses": []}
    second = (await client.put("/api/sla/settings", headers=headers, json=changed)).json()
    refused = await client.put("/api/sla/settings", headers=headers, json={"mode": "never"})
    assert refused.status_code == 422
    entries = (await client.get("/api/admin/audit", headers=headers,
                                params={"subject_type": "sla_settings"})).json()["items"]
    assert [e["summary"] for e in entries] == [
        f"SLA settings version {second['version']} replaced version {first['version']}",
        f"SLA settings version {first['version']} replaced version 0"]
    assert entries[0]["action"] == "sla.settings_saved"
    assert entries[0]["before"] == {"paused_statuses": ["waiting_on_contact"]}
    assert entries[0]["after"] == {"paused_statuses": []}
    assert entries[0]["actor_name"] == "Ada Admin"
