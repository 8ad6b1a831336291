"""Activities, resolve / cancel / reactivate, parent and child cases, similar cases and
merge, through the API on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import clock
from core.db import transaction
from inbox.models import Company, Conversation, Message
from tests.support import submit_form
from tickets import entitlements, service
from tickets.models import Ticket


async def new_case(client, headers, **fields) -> int:
    number = (await submit_form(client, **fields)).json()["ticket_number"]
    return int(number)


async def post(client, headers, path, body=None, expect=200):
    response = await client.post(path, headers=headers, json=body or {})
    assert response.status_code == expect, response.text
    return response.json()


async def ticket(client, headers, ticket_id):
    response = await client.get(f"/api/tickets/{ticket_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_resolve_is_refused_while_an_activity_is_open_and_allowed_when_done(
        client, agent):
    _, headers = agent
    case = await new_case(client, headers)
    task = await post(client, headers, f"/api/tickets/{case}/activities",
                      {"kind": "task", "subject": "Order the part", "duration_minutes": 30},
                      expect=201)
    refused = await post(client, headers, f"/api/tickets/{case}/resolve",
                         {"billable_minutes": 90}, expect=409)
    assert refused["error"]["field"] == "cancel_open_activities"
    assert "1 open activity" in refused["error"]["message"]
    assert (await ticket(client, headers, case))["status"] != "closed"
    await post(client, headers, f"/api/tickets/{case}/activities/{task['id']}/complete",
               {"duration_minutes": 45})
    call = await post(client, headers, f"/api/tickets/{case}/activities",
                      {"kind": "phone_call", "subject": "Call", "duration_minutes": 15},
                      expect=201)
    await post(client, headers, f"/api/tickets/{case}/activities/{call['id']}/complete")
    shown = (await client.get(f"/api/tickets/{case}/resolution", headers=headers)).json()
    assert shown["total_minutes"] == 60
    made = await post(client, headers, f"/api/tickets/{case}/resolve",
                      {"resolution_type": "problem_solved", "text": "Replaced",
                       "billable_minutes": 90})
    assert (made["total_minutes"], made["billable_minutes"]) == (60, 90)
    body = await ticket(client, headers, case)
    assert body["status"] == "closed"
    actions = [h["action"] for h in body["history"]]
    assert "resolved" in actions and actions.count("activity_completed") == 2
    assert any(h["field"] == "status_reason" and h["new"] == "problem_solved"
               for h in body["history"])


async def test_resolve_with_cancel_cancels_the_open_activities(client, agent):
    _, headers = agent
    case = await new_case(client, headers)
    await post(client, headers, f"/api/tickets/{case}/activities",
               {"kind": "appointment", "subject": "Visit", "duration_minutes": 120},
               expect=201)
    made = await post(client, headers, f"/api/tickets/{case}/resolve",
                      {"cancel_open_activities": True})
    assert made["total_minutes"] == 0
    items = (await client.get(f"/api/tickets/{case}/activities", headers=headers)).json()
    assert [a["state"] for a in items["items"]] == ["canceled"]


async def test_bad_resolution_input_is_a_422_and_changes_nothing(client, agent):
    _, headers = agent
    case = await new_case(client, headers)
    wrong = await post(client, headers, f"/api/tickets/{case}/resolve",
                       {"resolution_type": "because"}, expect=422)
    assert wrong["error"]["field"] == "resolution_type"
    assert (await ticket(client, headers, case))["status"] != "closed"


async def test_reactivate_reopens_and_marks_the_resolution(client, agent):
    _, headers = agent
    case = await new_case(client, headers)
    await post(client, headers, f"/api/tickets/{case}/reactivate", expect=409)
    await post(client, headers, f"/api/tickets/{case}/resolve")
    again = await post(client, headers, f"/api/tickets/{case}/reactivate")
    assert again["status"] == "waiting_on_us" and again["status_reason"] is None
    shown = (await client.get(f"/api/tickets/{case}/resolution", headers=headers)).json()
    assert shown["latest"]["reactivated_at"] is not None


async def test_cancel_closes_with_reason_canceled(client, agent):
    _, headers = agent
    case = await new_case(client, headers)
    canceled = await post(client, headers, f"/api/tickets/{case}/cancel")
    assert canceled["status"] == "closed" and canceled["status_reason"] == "canceled"
    await post(client, headers, f"/api/tickets/{case}/cancel", expect=409)


async def settings(client, headers, **changes):
    body = {"inherited_fields": ["customer", "priority"], "close_children_with_parent": False,
            "entitlement_decrement_on": "creation", **changes}
    response = await client.put("/api/admin/case-settings", headers=headers, json=body)
    assert response.status_code == 200, response.text


async def test_parent_resolve_is_refused_while_a_child_is_open(client, agent, admin):
    _, headers = agent
    await settings(client, admin[1])
    parent = await new_case(client, headers)
    await client.patch(f"/api/tickets/{parent}", headers=headers, json={"priority": "high"})
    child = await post(client, headers, f"/api/tickets/{parent}/children",
                       {"title": "Replace the part"}, expect=201)
    assert child["parent_id"] == parent
    assert (await ticket(client, headers, child["id"]))["priority"] == "high"
    refused = await post(client, headers, f"/api/tickets/{parent}/resolve", expect=409)
    assert refused["error"]["field"] == "children"
    await post(client, headers, f"/api/tickets/{child['id']}/children", {"title": "x"},
               expect=409)
    await post(client, headers, f"/api/tickets/{child['id']}/resolve")
    await post(client, headers, f"/api/tickets/{parent}/resolve")


async def test_a_child_opens_by_hand_on_the_phone_channel(client, agent, runtime):
    _, headers = agent
    parent = await new_case(client, headers)
    child = await post(client, headers, f"/api/tickets/{parent}/children",
                       {"title": "Send a technician"}, expect=201)
    body = await ticket(client, headers, child["id"])
    assert body["source_channel"] == "phone"
    async with transaction(runtime.sessions) as session:
        row = await session.get(Ticket, child["id"])
        assert row is not None and row.origin == "phone"
        [conversation_id] = body["conversation_ids"]
        notes = (await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id))).all()
    assert [(m.direction, m.text) for m in notes] == [("comment", f"Child of #{parent}")]


async def test_a_child_title_too_long_is_refused_and_nothing_stored(client, agent, runtime):
    _, headers = agent
    parent = await new_case(client, headers)
    refused = await post(client, headers, f"/api/tickets/{parent}/children",
                         {"title": "x" * 999}, expect=422)
    assert refused["error"]["field"] == "title"
    async with transaction(runtime.sessions) as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1


async def parent_under_entitlement(runtime, parent: int, channels: list[str]) -> int:
    """The case `parent` for a new company, under a new 5-case entitlement of it."""
    today = clock.now().date()
    async with transaction(runtime.sessions) as session:
        company = Company(name="Acme", created_at=clock.now())
        session.add(company)
        await session.flush()
        row = await session.get(Ticket, parent)
        assert row is not None
        row.customer_company_id = company.id  # arranged: the customers part sets it
        gold = await entitlements.create_entitlement(session, {
            "name": "Gold", "terms_kind": "cases", "terms_total": 5, "channels": channels,
            "customer_company_id": company.id, "starts_on": today - timedelta(days=1),
            "ends_on": today + timedelta(days=30)}, actor=None)
        await service.update_ticket(session, parent, {"entitlement_id": gold.id},
                                    actor_id=None, cause="agent")
        return gold.id


@pytest.mark.parametrize(("channels", "inherited", "left"), [
    ([], True, 3),           # fits the child: on its timeline, one more case used
    (["form"], False, 4),    # the child is a phone case the entitlement does not cover
])
async def test_a_child_inherits_the_entitlement_only_when_it_fits(
        client, agent, admin, runtime, channels, inherited, left):
    _, headers = agent
    await settings(client, admin[1], inherited_fields=["customer", "entitlement"])
    parent = await new_case(client, headers)
    gold = await parent_under_entitlement(runtime, parent, channels)
    child = await post(client, headers, f"/api/tickets/{parent}/children",
                       {"title": "Replace the part"}, expect=201)
    body = await ticket(client, headers, child["id"])
    changed = [h for h in body["history"] if h["field"] == "entitlement_id"]
    async with transaction(runtime.sessions) as session:
        row = await session.get(Ticket, child["id"])
        assert row is not None and row.entitlement_id == (gold if inherited else None)
        assert (await entitlements.get_entitlement(session, gold)).terms_remaining == left
    assert bool(changed) == inherited


async def test_parent_resolve_closes_children_with_the_setting(client, agent, admin):
    _, headers = agent
    await settings(client, admin[1], close_children_with_parent=True)
    parent = await new_case(client, headers)
    other = await new_case(client, headers, email="bo@example.org")
    await post(client, headers, f"/api/tickets/{parent}/children/attach",
               {"child_id": other})
    await post(client, headers, f"/api/tickets/{parent}/resolve")
    child = await ticket(client, headers, other)
    assert child["status"] == "closed"
    assert any(h["action"] == "resolved" for h in child["history"])


async def test_attach_keeps_one_level(client, agent):
    _, headers = agent
    top, middle, low = [await new_case(client, headers, email=f"{n}@example.org")
                        for n in ("a", "b", "c")]
    await post(client, headers, f"/api/tickets/{top}/children/attach", {"child_id": middle})
    await post(client, headers, f"/api/tickets/{middle}/children/attach", {"child_id": low},
               expect=409)
    await post(client, headers, f"/api/tickets/{low}/children/attach", {"child_id": top},
               expect=409)
    await post(client, headers, f"/api/tickets/{top}/children/attach", {"child_id": top},
               expect=422)


async def test_similar_search_finds_a_resolved_case_by_keyword(client, agent):
    _, headers = agent
    old = await new_case(client, headers, subject="Toner smears on every page",
                         email="old@example.org")
    await post(client, headers, f"/api/tickets/{old}/resolve", {"text": "New drum"})
    still_open = await new_case(client, headers, subject="Toner smears again",
                                email="open@example.org")
    case = await new_case(client, headers, subject="Smears from the printer")
    found = (await client.get(f"/api/tickets/{case}/similar", params={"q": "toner smears"},
                              headers=headers)).json()
    assert [f["id"] for f in found["items"]] == [old]
    assert still_open not in [f["id"] for f in found["items"]]
    assert found["items"][0]["resolution"]["text"] == "New drum"
    linked = await post(client, headers, f"/api/tickets/{case}/similar",
                        {"similar_id": old}, expect=201)
    assert [f["id"] for f in linked["linked"]] == [old]
    await post(client, headers, f"/api/tickets/{case}/similar", {"similar_id": old},
               expect=409)


async def test_merge_moves_activities_and_sets_reason_merged(client, runtime, agent):
    _, headers = agent
    primary = await new_case(client, headers, email="p@example.org")
    merged = await new_case(client, headers, email="m@example.org")
    await post(client, headers, f"/api/tickets/{merged}/activities",
               {"kind": "task", "subject": "Carry me"}, expect=201)
    await post(client, headers, f"/api/tickets/{primary}/merge",
               {"other_id": merged, "primary_id": primary})
    items = (await client.get(f"/api/tickets/{primary}/activities", headers=headers)).json()
    assert [a["subject"] for a in items["items"]] == ["Carry me"]
    from tickets.models import Ticket
    async with runtime.sessions() as session:
        gone = await session.get(Ticket, merged)
        assert gone is not None and gone.status_reason == "merged"


async def test_case_routes_hide_tickets_out_of_scope(client, runtime, agent):
    from tests.support import add_user
    _, headers = agent
    case = await new_case(client, headers)
    _, outsider = await add_user(runtime, "out@example.com", "agent", "Out Sider")
    for path in ("activities", "resolution", "children", "similar"):
        response = await client.get(f"/api/tickets/{case}/{path}", headers=outsider)
        assert response.status_code == 404, path
    response = await client.post(f"/api/tickets/{case}/resolve", headers=outsider, json={})
    assert response.status_code == 404


@pytest.mark.parametrize("body", [
    {"kind": "meeting", "subject": "x"}, {"kind": "task", "subject": ""},
    {"kind": "task", "subject": "x", "duration_minutes": -1},
    {"kind": "task", "subject": "x", "due_at": "2026-01-01T00:00:00"}])
async def test_bad_activities_are_refused(client, agent, body):
    _, headers = agent
    case = await new_case(client, headers)
    await post(client, headers, f"/api/tickets/{case}/activities", body, expect=422)
    items = (await client.get(f"/api/tickets/{case}/activities", headers=headers)).json()
    assert items["items"] == []


async def test_case_settings_are_for_admins_and_checked(client, agent, admin):
    _, headers = agent
    defaults = (await client.get("/api/admin/case-settings", headers=admin[1])).json()
    assert defaults == {"inherited_fields": ["customer", "product", "subject"],
                        "close_children_with_parent": False,
                        "entitlement_decrement_on": "creation"}
    body = {"inherited_fields": ["colour"], "close_children_with_parent": True,
            "entitlement_decrement_on": "creation"}
    response = await client.put("/api/admin/case-settings", headers=admin[1], json=body)
    assert response.status_code == 422
    body["inherited_fields"] = ["product"]
    response = await client.put("/api/admin/case-settings", headers=headers, json=body)
    assert response.status_code in (403, 404)
    after = (await client.get("/api/admin/case-settings", headers=admin[1])).json()
    assert after == defaults
    audit = (await client.get("/api/admin/audit", headers=admin[1])).json()
    assert not [e for e in audit.get("items", []) if e["action"] == "case_settings.updated"]
    response = await client.put("/api/admin/case-settings", headers=admin[1], json=body)
    assert response.status_code == 200
    audit = (await client.get("/api/admin/audit", headers=admin[1])).json()
    assert [e["action"] for e in audit["items"]].count("case_settings.updated") == 1


async def test_an_open_activity_is_edited_and_an_ended_one_is_not(client, agent):
    user_id, headers = agent
    case = await new_case(client, headers)
    made = await post(client, headers, f"/api/tickets/{case}/activities",
                      {"kind": "task", "subject": "Draft"}, expect=201)
    path = f"/api/tickets/{case}/activities/{made['id']}"
    changed = await client.put(path, headers=headers, json={
        "kind": "appointment", "subject": "Visit", "owner_id": user_id,
        "due_at": "2026-04-01T10:00:00+02:00", "duration_minutes": 60})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["due_at"]) == (
        "appointment", "2026-04-01T08:00:00+00:00")
    await post(client, headers, f"{path}/cancel")
    again = await client.put(path, headers=headers, json={"kind": "task", "subject": "x"})
    assert again.status_code == 409
    await post(client, headers, f"{path}/complete", expect=409)
    shown = (await client.get(f"/api/tickets/{case}/resolution", headers=headers)).json()
    assert shown["total_minutes"] == 0
