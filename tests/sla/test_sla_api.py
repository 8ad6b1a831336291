"""SLA through the API: settings, clocks on tickets, pauses, re-plans, filters, report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from tests.support import run_jobs, submit_form

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
FRIDAY_1630_STOCKHOLM = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
MONDAY_0930_STOCKHOLM = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


def office_hours(**overrides) -> dict:
    settings = {
        "mode": "working_hours",
        "calendars": [{"team_id": None, "timezone": "Europe/Stockholm",
                       "hours": {d: [["09:00", "17:00"]] for d in WEEKDAYS},
                       "holidays": ["2026-12-24"]}],
        "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15},
                  "next_response": {"minutes": 120}, "close": {"minutes": 2400}},
    }
    return settings | overrides


@pytest.fixture
def manual_clock():
    manual = clock.ManualClock(FRIDAY_1630_STOCKHOLM)
    with clock.use(manual):
        yield manual


async def put_settings(client, headers, settings) -> dict:
    response = await client.put("/api/sla/settings", headers=headers, json=settings)
    assert response.status_code == 200, response.text
    return response.json()


async def clocks_of(client, headers, number) -> dict:
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    return {c["goal"]: c for c in ticket["sla"]}


async def test_friday_form_is_due_monday_morning_and_a_reply_meets_it(
    client, runtime, admin, manual_clock
):
    _, headers = admin
    await put_settings(client, headers, office_hours())
    number = (await submit_form(client)).json()["ticket_number"]
    first = (await clocks_of(client, headers, number))["first_response"]
    assert datetime.fromisoformat(first["due_at"]) == MONDAY_0930_STOCKHOLM
    assert first["status"] == "on_track" and first["remaining_seconds"] == 3600
    manual_clock.set(MONDAY_0930_STOCKHOLM - timedelta(minutes=10))
    assert (await clocks_of(client, headers, number))["first_response"]["status"] == "due_soon"
    conv = (await client.get(f"/api/tickets/{number}", headers=headers)).json()[
        "conversation_ids"][0]
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "comment", "text": "checking"})
    assert (await clocks_of(client, headers, number))["first_response"]["status"] == "due_soon"
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "reply", "text": "On it"})
    clocks = await clocks_of(client, headers, number)
    assert clocks["first_response"]["status"] == "met"
    assert clocks["close"]["status"] == "paused"  # waiting_on_contact pauses the clocks


async def test_holiday_on_monday_moves_the_deadline_to_tuesday(client, admin, manual_clock):
    _, headers = admin
    settings = office_hours()
    settings["calendars"][0]["holidays"] = ["2026-11-30"]
    await put_settings(client, headers, settings)
    number = (await submit_form(client)).json()["ticket_number"]
    due = (await clocks_of(client, headers, number))["first_response"]["due_at"]
    assert datetime.fromisoformat(due) == MONDAY_0930_STOCKHOLM + timedelta(days=1)


async def test_late_reply_is_met_late_and_customer_message_starts_next_response(
    client, runtime, admin, manual_clock
):
    from connectors.ingest import accept
    from inbox.messages import InboundMessage

    _, headers = admin
    await put_settings(client, headers, office_hours(mode="always", calendars=[]))
    first = await accept(runtime.sessions, InboundMessage(
        inbox="support", channel="chat", sender_email="c@example.org", sender_name="C",
        subject="Chat", text="hi", external_id="e1", thread_key="s"))
    conv = first.conversation_id
    number = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()[
        "ticket_id"]
    manual_clock.advance(timedelta(minutes=90))
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "reply", "text": "Sorry for the wait"})
    assert (await clocks_of(client, headers, number))["first_response"]["status"] == "met_late"
    assert "next_response" not in await clocks_of(client, headers, number)
    manual_clock.advance(timedelta(minutes=5))
    await accept(runtime.sessions, InboundMessage(
        inbox="support", channel="chat", sender_email="c@example.org", sender_name="C",
        subject="Chat", text="still there?", external_id="e2", thread_key="s"))
    nxt = (await clocks_of(client, headers, number))["next_response"]
    assert nxt["status"] == "on_track"
    assert datetime.fromisoformat(nxt["due_at"]) == manual_clock() + timedelta(minutes=120)
    manual_clock.advance(timedelta(minutes=10))
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "reply", "text": "Yes"})
    assert (await clocks_of(client, headers, number))["next_response"]["status"] == "met"


async def test_close_pauses_nothing_but_stops_close_and_reopen_resumes(
    client, admin, manual_clock
):
    _, headers = admin
    await put_settings(client, headers, office_hours(mode="always", calendars=[]))
    number = (await submit_form(client)).json()["ticket_number"]
    manual_clock.advance(timedelta(minutes=30))
    await client.patch(f"/api/tickets/{number}", headers=headers, json={"status": "closed"})
    clocks = await clocks_of(client, headers, number)
    assert clocks["close"]["status"] == "met" and clocks["first_response"]["status"] == "paused"
    manual_clock.advance(timedelta(days=3))
    await client.patch(f"/api/tickets/{number}", headers=headers,
                        json={"status": "waiting_on_us"})
    close = (await clocks_of(client, headers, number))["close"]
    assert close["status"] == "on_track"
    assert close["remaining_seconds"] == (2400 - 30) * 60


async def test_priority_change_replans_running_clocks(client, admin, manual_clock):
    _, headers = admin
    settings = office_hours(mode="always", calendars=[], property="priority",
                            values={"urgent": {"first_response": {"minutes": 10}},
                                    "low": None})
    await put_settings(client, headers, settings)
    number = (await submit_form(client)).json()["ticket_number"]
    assert (await clocks_of(client, headers, number))["first_response"]["remaining_seconds"] == (
        3600)
    manual_clock.advance(timedelta(minutes=4))
    await client.patch(f"/api/tickets/{number}", headers=headers, json={"priority": "urgent"})
    clocks = await clocks_of(client, headers, number)
    assert datetime.fromisoformat(clocks["first_response"]["due_at"]) == (
        FRIDAY_1630_STOCKHOLM + timedelta(minutes=10))
    assert "close" not in clocks  # urgent has no close goal
    await client.patch(f"/api/tickets/{number}", headers=headers, json={"priority": "low"})
    assert await clocks_of(client, headers, number) == {}
    await client.patch(f"/api/tickets/{number}", headers=headers, json={"priority": "high"})
    clocks = await clocks_of(client, headers, number)
    assert datetime.fromisoformat(clocks["first_response"]["due_at"]) == (
        FRIDAY_1630_STOCKHOLM + timedelta(minutes=60))


async def test_new_settings_replan_open_tickets_in_bulk(client, runtime, admin, manual_clock):
    _, headers = admin
    await put_settings(client, headers, office_hours(mode="always", calendars=[]))
    numbers = [(await submit_form(client, email=f"b{i}@example.org")).json()["ticket_number"]
               for i in range(3)]
    settings = office_hours(mode="always", calendars=[])
    settings["goals"]["first_response"] = {"minutes": 30, "due_soon_minutes": 5}
    await put_settings(client, headers, settings)
    await run_jobs(runtime)
    for number in numbers:
        due = (await clocks_of(client, headers, number))["first_response"]["due_at"]
        assert datetime.fromisoformat(due) == FRIDAY_1630_STOCKHOLM + timedelta(minutes=30)


async def test_filter_and_sort_by_sla(client, admin, manual_clock):
    _, headers = admin
    settings = office_hours(mode="always", calendars=[], property="priority",
                            values={"urgent": {"first_response": {"minutes": 10}},
                                    "low": None})
    await put_settings(client, headers, settings)
    slow = (await submit_form(client, email="s@example.org")).json()["ticket_number"]
    fast = (await submit_form(client, email="f@example.org")).json()["ticket_number"]
    none = (await submit_form(client, email="n@example.org")).json()["ticket_number"]
    await client.patch(f"/api/tickets/{fast}", headers=headers, json={"priority": "urgent"})
    await client.patch(f"/api/tickets/{none}", headers=headers, json={"priority": "low"})
    manual_clock.advance(timedelta(minutes=20))

    async def ids(path, **params):
        body = (await client.get(path, headers=headers, params=params)).json()
        return [item["id"] for item in body["items"]]

    assert await ids("/api/tickets", sla_status="overdue") == [fast]
    assert await ids("/api/tickets", sla_status="on_track") == [slow]
    assert await ids("/api/tickets", sort="sla_due_at") == [fast, slow, none]
    assert await ids("/api/tickets", sort="sla_due_at", limit=1) == [fast]
    page = (await client.get("/api/tickets", headers=headers,
                             params={"sort": "sla_due_at", "limit": 2})).json()
    rest = (await client.get("/api/tickets", headers=headers,
                             params={"sort": "sla_due_at", "cursor": page["next_cursor"]})).json()
    assert [t["id"] for t in page["items"] + rest["items"]] == [fast, slow, none]
    overdue_conversations = await ids("/api/conversations", sla_status="overdue")
    assert len(overdue_conversations) == 1
    by_due = (await client.get("/api/conversations", headers=headers,
                               params={"sort": "sla_due_at", "limit": 2})).json()
    rest = (await client.get("/api/conversations", headers=headers,
                             params={"sort": "sla_due_at", "cursor": by_due["next_cursor"]})
            ).json()
    tickets_in_order = [c["ticket_id"] for c in by_due["items"] + rest["items"]]
    assert tickets_in_order == [fast, slow, none]


async def test_report_counts_attainment(client, admin, manual_clock):
    _, headers = admin
    await put_settings(client, headers, office_hours(mode="always", calendars=[]))
    start = manual_clock()
    numbers = [(await submit_form(client, email=f"r{i}@example.org")).json()["ticket_number"]
               for i in range(3)]
    convs = [(await client.get(f"/api/tickets/{n}", headers=headers)).json()[
        "conversation_ids"][0] for n in numbers]
    manual_clock.advance(timedelta(minutes=30))
    await client.post(f"/api/conversations/{convs[0]}/messages", headers=headers,
                      json={"kind": "reply", "text": "fast"})
    manual_clock.advance(timedelta(minutes=60))
    await client.post(f"/api/conversations/{convs[1]}/messages", headers=headers,
                      json={"kind": "reply", "text": "slow"})
    response = await client.get("/api/sla/report", headers=headers, params={
        "from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(),
        "group_by": "priority"})
    assert response.status_code == 200
    lines = {(line["goal"], line["priority"]): line for line in response.json()["items"]}
    first = lines[("first_response", "medium")]
    assert (first["met"], first["met_late"], first["breached"]) == (1, 1, 1)
    assert first["percent_met"] == 33.3 and first["median_minutes"] == 60.0


BAD_SETTINGS = [
    ({"mode": "sometimes"}, "mode"),
    ({"mode": "working_hours"}, None),
    ({"goals": {"first_response": {"minutes": 0}}}, "goals.first_response.minutes"),
    ({"goals": {"first_response": {"minutes": 10, "due_soon_minutes": 10}}},
     "goals.first_response"),
    ({"goals": {"first_reply": {"minutes": 10}}}, "goals.first_reply"),
    ({"calendars": [{"timezone": "Mars/Olympus", "hours": {}}]}, "calendars.0"),
    ({"calendars": [{"timezone": "UTC", "hours": {"mon": [["17:00", "09:00"]]}}]},
     "calendars.0"),
    ({"calendars": [{"timezone": "UTC", "hours": {"funday": []}}]}, "calendars.0"),
    ({"calendars": [{"timezone": "UTC", "hours": {}, "holiday_country": "XX"}]},
     "calendars.0"),
    ({"values": {"urgent": None}}, None),
    ({"property": "colour"}, "property"),
]


@pytest.mark.parametrize("settings, field", BAD_SETTINGS)
async def test_invalid_settings_are_422_and_change_nothing(client, admin, settings, field):
    _, headers = admin
    before = (await client.get("/api/sla/settings", headers=headers)).json()
    response = await client.put("/api/sla/settings", headers=headers, json=settings)
    assert response.status_code == 422, response.text
    if field:
        assert response.json()["error"]["field"] == field
    assert (await client.get("/api/sla/settings", headers=headers)).json() == before


async def test_settings_are_admin_only_and_versioned(client, admin, agent):
    _, admin_headers = admin
    _, agent_headers = agent
    assert (await client.get("/api/sla/settings", headers=agent_headers)).status_code == 403
    assert (await client.put("/api/sla/settings", headers=agent_headers,
                             json={})).status_code == 403
    first = await put_settings(client, admin_headers, office_hours())
    second = await put_settings(client, admin_headers, office_hours(mode="always"))
    assert second["version"] > first["version"]
    current = (await client.get("/api/sla/settings", headers=admin_headers)).json()
    assert current["version"] == second["version"] and current["settings"]["mode"] == "always"


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-01-01T00:00:00Z"}, "to"),
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "from"),
    ({"from": "yesterday", "to": "2026-01-02T00:00:00Z"}, "from"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "group_by": "x"},
     "group_by"),
])
async def test_bad_report_parameters(client, agent, params, field):
    _, headers = agent
    response = await client.get("/api/sla/report", headers=headers, params=params)
    assert response.status_code == 422 and response.json()["error"]["field"] == field
