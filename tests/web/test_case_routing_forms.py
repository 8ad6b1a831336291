"""Queue and routing pages without a script: plain posts, refusals shown on the page with
nothing stored, and the form's reading of conditions and actions by value."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from tests.support import PASSWORD, add_user, submit_form
from web.pages.admin.routing import action_from_form, conditions_from_form


@pytest.fixture
async def csrf(runtime, client):
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    answer = await client.post("/api/session", json={"email": "ada@example.com",
                                                     "password": PASSWORD})
    return answer.json()["csrf_token"]


@pytest.mark.parametrize(("form", "expected"), [
    ({}, []),
    ({"cond_channel": "phone", "cond_subject": "  printer "},
     [{"field": "channel", "value": "phone"}, {"field": "subject", "value": "printer"}]),
    ({"cond_inbox": "3", "cond_entitlement": "no"},
     [{"field": "inbox", "value": 3}, {"field": "entitlement", "value": False}]),
    ({"cond_product": "x1"}, [{"field": "product", "value": 0}]),
    ({"cond_entitlement": "yes", "cond_priority": ""},
     [{"field": "entitlement", "value": True}]),
])
def test_rule_form_conditions(form, expected):
    assert conditions_from_form(form) == expected


def test_rule_form_action():
    assert action_from_form("queue:4") == {"kind": "queue", "id": 4}
    for bad in ("", "queue:", "queue:x", "user:12345678901"):
        with pytest.raises(InvalidInput):
            action_from_form(bad)


async def test_a_rule_without_a_usable_action_is_shown_refused(client, csrf):
    made = await client.post("/admin/routing", data={"csrf_token": csrf, "name": "Main"})
    assert made.status_code == 303
    set_path = made.headers["location"].split("?")[0]
    refused = await client.post(f"{set_path}/rules", data={
        "csrf_token": csrf, "name": "Bad", "cond_product": "abc", "action": "queue:77"})
    assert refused.status_code == 422
    assert "role=\"alert\"" in refused.text
    page = await client.get(set_path)
    assert "No rules yet" in page.text


async def test_save_and_route_on_a_closed_case_says_why(client, runtime, csrf):
    number = (await submit_form(client)).json()["ticket_number"]
    headers = {"x-csrf-token": csrf}
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    conversation_id = ticket["conversation_ids"][0]
    answer = await client.post(f"/tickets/{ticket['id']}/save-and-route", data={
        "csrf_token": csrf, "conversation_id": str(conversation_id), "status": "closed"})
    assert answer.status_code == 303
    shown = await client.get(answer.headers["location"])
    assert "resolved or cancelled" in shown.text
    again = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    assert again["status"] == "new"


async def test_duplicate_queue_name_is_refused_on_the_page(client, csrf):
    first = await client.post("/admin/queues", data={"csrf_token": csrf, "name": "Tier 2"})
    assert first.status_code == 303
    again = await client.post("/admin/queues", data={"csrf_token": csrf, "name": "Tier 2",
                                                     "is_private": "on"})
    assert again.status_code == 422 and "already a queue" in again.text


async def test_a_rule_is_edited_from_its_filled_in_form(client, csrf):
    queue = (await client.post("/admin/queues", data={"csrf_token": csrf, "name": "Tier 2"}))
    assert queue.status_code == 303
    headers = {"x-csrf-token": csrf}
    queue_id = (await client.get("/api/queues", headers=headers)).json()["items"][0]["id"]
    set_path = (await client.post("/admin/routing", data={
        "csrf_token": csrf, "name": "Main"})).headers["location"].split("?")[0]
    set_id = int(set_path.rsplit("/", 1)[1])
    added = await client.post(f"{set_path}/rules", data={
        "csrf_token": csrf, "name": "Phones", "cond_channel": "phone",
        "cond_entitlement": "yes", "action": f"queue:{queue_id}"})
    assert added.status_code == 303
    rule = (await client.get(f"/api/routing/rule-sets/{set_id}",
                             headers=headers)).json()["rules"][0]
    form = await client.get(f"{set_path}?edit={rule['id']}")
    assert 'value="phone" selected' in form.text and 'value="yes" selected' in form.text
    assert f'value="queue:{queue_id}" selected' in form.text and "Save rule" in form.text
    saved = await client.post(f"{set_path}/rules/{rule['id']}", data={
        "csrf_token": csrf, "name": "Urgent phones", "cond_channel": "phone",
        "cond_priority": "urgent", "action": f"queue:{queue_id}"})
    assert saved.status_code == 303
    again = (await client.get(f"/api/routing/rule-sets/{set_id}",
                              headers=headers)).json()["rules"][0]
    assert again["name"] == "Urgent phones"
    assert again["conditions"] == [{"field": "channel", "op": "is", "value": "phone"},
                                   {"field": "priority", "op": "is", "value": "urgent"}]


async def test_a_rule_is_changed_only_through_its_own_set(client, csrf):
    headers = {"x-csrf-token": csrf}
    paths = [(await client.post("/admin/routing", data={"csrf_token": csrf, "name": name})
              ).headers["location"].split("?")[0] for name in ("Main", "Other")]
    set_id = int(paths[0].rsplit("/", 1)[1])
    queue = await client.post("/api/queues", headers=headers, json={"name": "Tier 2"})
    added = await client.post(f"/api/routing/rule-sets/{set_id}/rules", headers=headers, json={
        "name": "All", "action": {"kind": "queue", "id": queue.json()["id"]}})
    rule_id = added.json()["id"]
    wrong = await client.post(f"{paths[1]}/rules/{rule_id}/delete", data={"csrf_token": csrf})
    assert wrong.status_code == 404
    rules = (await client.get(f"/api/routing/rule-sets/{set_id}", headers=headers)).json()
    assert [r["id"] for r in rules["rules"]] == [rule_id]
