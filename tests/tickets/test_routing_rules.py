"""Routing rule sets through the API: one active set, ordered rules, routing a case and a
selection, refusing closed cases, routing new tickets when the inbox says so."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import transaction
from tests.support import submit_form
from tests.test_query_counts import statements
from tickets import routing_rules
from tickets.models import QueueItem


async def new_ticket(client, headers, subject: str = "Printer on fire") -> int:
    number = (await submit_form(client, subject=subject)).json()["ticket_number"]
    return int((await client.get(f"/api/tickets/{number}", headers=headers)).json()["id"])


async def active_set_with_rules(client, headers, *rules: dict) -> int:
    made = (await client.post("/api/routing/rule-sets", headers=headers,
                              json={"name": "Main"})).json()
    for rule in rules:
        added = await client.post(f"/api/routing/rule-sets/{made['id']}/rules",
                                  headers=headers, json=rule)
        assert added.status_code == 201, added.text
    activated = await client.patch(f"/api/routing/rule-sets/{made['id']}", headers=headers,
                                   json={"active": True})
    assert activated.status_code == 200
    return int(made["id"])


async def queue(client, headers, name: str) -> int:
    return int((await client.post("/api/queues", headers=headers,
                                  json={"name": name})).json()["id"])


async def test_save_and_route_adds_the_case_to_the_first_matching_rules_queue(
        client, admin, agent):
    tier2, billing = await queue(client, admin[1], "Tier 2"), await queue(client, admin[1],
                                                                          "Billing")
    await active_set_with_rules(
        client, admin[1],
        {"name": "Invoices", "conditions": [{"field": "subject", "value": "invoice"}],
         "action": {"kind": "queue", "id": billing}},
        {"name": "Printers", "conditions": [{"field": "subject", "op": "contains",
                                             "value": "printer"},
                                            {"field": "channel", "value": "form"}],
         "action": {"kind": "queue", "id": tier2}})
    ticket_id = await new_ticket(client, agent[1], "My PRINTER smokes")
    routed = await client.post(f"/api/tickets/{ticket_id}/route", headers=agent[1])
    assert routed.status_code == 200, routed.text
    assert routed.json()["items"][0]["rule_name"] == "Printers"
    queues = (await client.get(f"/api/tickets/{ticket_id}/queues", headers=agent[1])).json()
    assert [q["queue_name"] for q in queues["items"]] == ["Tier 2"]
    history = (await client.get(f"/api/tickets/{ticket_id}", headers=agent[1])).json()
    assert ("routed", "Printers") in [(h["action"], h["new"]) for h in history["history"]]


async def test_no_matching_rule_changes_nothing(client, admin, agent):
    tier2 = await queue(client, admin[1], "Tier 2")
    await active_set_with_rules(client, admin[1], {
        "name": "Urgent", "conditions": [{"field": "priority", "value": "urgent"}],
        "action": {"kind": "queue", "id": tier2}})
    ticket_id = await new_ticket(client, agent[1])
    routed = (await client.post(f"/api/tickets/{ticket_id}/route", headers=agent[1])).json()
    assert routed["items"] == [{"ticket_id": ticket_id, "rule_id": None, "rule_name": None,
                                "action": None}]
    queues = (await client.get(f"/api/tickets/{ticket_id}/queues", headers=agent[1])).json()
    assert queues["items"] == []


async def test_assign_to_user_on_a_selection(client, admin, agent):
    agent_id, headers = agent
    await active_set_with_rules(client, admin[1], {
        "name": "All to Al", "conditions": [], "action": {"kind": "user", "id": agent_id}})
    first, second = await new_ticket(client, headers), await new_ticket(client, headers, "B")
    routed = await client.post("/api/tickets/route", headers=headers,
                               json={"ticket_ids": [first, second]})
    assert routed.status_code == 200, routed.text
    for ticket_id in (first, second):
        ticket = (await client.get(f"/api/tickets/{ticket_id}", headers=headers)).json()
        assert ticket["owner_id"] == agent_id


async def test_closed_cases_are_refused_and_nothing_is_routed(client, admin, agent):
    _, headers = agent
    tier2 = await queue(client, admin[1], "Tier 2")
    await active_set_with_rules(client, admin[1], {
        "name": "All", "conditions": [], "action": {"kind": "queue", "id": tier2}})
    open_id, closed_id = await new_ticket(client, headers), await new_ticket(client, headers)
    await client.patch(f"/api/tickets/{closed_id}", headers=headers, json={"status": "closed"})
    refused = await client.post("/api/tickets/route", headers=headers,
                                json={"ticket_ids": [open_id, closed_id]})
    assert refused.status_code == 409
    assert f"#{closed_id}" in refused.json()["error"]["message"]
    assert (await client.post(f"/api/tickets/{closed_id}/route",
                              headers=headers)).status_code == 409
    queues = (await client.get(f"/api/tickets/{open_id}/queues", headers=headers)).json()
    assert queues["items"] == []


async def test_exactly_one_set_is_active_and_rules_keep_their_order(client, admin):
    headers = admin[1]
    first = await active_set_with_rules(client, headers)
    second = (await client.post("/api/routing/rule-sets", headers=headers,
                                json={"name": "Other"})).json()["id"]
    await client.patch(f"/api/routing/rule-sets/{second}", headers=headers,
                       json={"active": True})
    sets = (await client.get("/api/routing/rule-sets", headers=headers)).json()["items"]
    assert [(s["id"], s["active"]) for s in sets] == [(second, True), (first, False)]
    tier2 = await queue(client, headers, "Tier 2")
    ids = []
    for name in ("a", "b", "c"):
        ids.append((await client.post(f"/api/routing/rule-sets/{second}/rules",
                                      headers=headers,
                                      json={"name": name, "action": {"kind": "queue",
                                                                     "id": tier2}})).json()["id"])
    moved = await client.post(f"/api/routing/rules/{ids[2]}/move", headers=headers,
                              json={"direction": "up"})
    assert [r["name"] for r in moved.json()["items"]] == ["a", "c", "b"]
    got = (await client.get(f"/api/routing/rule-sets/{second}", headers=headers)).json()
    assert [r["name"] for r in got["rules"]] == ["a", "c", "b"]


async def test_bad_rules_are_refused_with_the_field(client, admin, agent):
    set_id = (await client.post("/api/routing/rule-sets", headers=admin[1],
                                json={"name": "Main"})).json()["id"]
    path = f"/api/routing/rule-sets/{set_id}/rules"
    no_queue = await client.post(path, headers=admin[1], json={
        "name": "x", "action": {"kind": "queue", "id": 999}})
    assert no_queue.status_code == 422 and no_queue.json()["error"]["field"] == "action"
    bad_channel = await client.post(path, headers=admin[1], json={
        "name": "x", "conditions": [{"field": "channel", "value": "fax"}],
        "action": {"kind": "user", "id": admin[0]}})
    assert bad_channel.status_code == 422
    assert (await client.post(path, headers=agent[1], json={
        "name": "x", "action": {"kind": "user", "id": admin[0]}})).status_code == 403
    got = (await client.get(f"/api/routing/rule-sets/{set_id}", headers=admin[1])).json()
    assert got["rules"] == []


async def test_a_queue_a_rule_uses_cannot_be_deleted(client, admin):
    tier2 = await queue(client, admin[1], "Tier 2")
    await active_set_with_rules(client, admin[1], {
        "name": "All", "conditions": [], "action": {"kind": "queue", "id": tier2}})
    refused = await client.delete(f"/api/queues/{tier2}", headers=admin[1])
    assert refused.status_code == 409 and "All" in refused.json()["error"]["message"]


async def test_new_tickets_are_routed_when_the_inbox_says_so(client, runtime, admin, agent):
    tier2 = await queue(client, admin[1], "Tier 2")
    await active_set_with_rules(client, admin[1], {
        "name": "Printers", "conditions": [{"field": "subject", "value": "printer"}],
        "action": {"kind": "queue", "id": tier2}})
    before = await new_ticket(client, agent[1], "Printer jammed")
    switched = await client.put("/api/admin/inboxes/support/routing", headers=admin[1],
                                json={"route_new_tickets": True})
    assert switched.status_code == 200 and switched.json()["route_new_tickets"] is True
    after = await new_ticket(client, agent[1], "Printer jammed again")
    other = await new_ticket(client, agent[1], "Hello")
    items = (await client.get(f"/api/queues/{tier2}/items", headers=agent[1])).json()
    assert [i["ticket_id"] for i in items["items"]] == [after]
    assert before != after != other


async def test_facts_of_a_batch_are_gathered_in_one_query(client, runtime, agent):
    ids = [await new_ticket(client, agent[1], f"Case {n}") for n in range(5)]
    async with transaction(runtime.sessions) as session:
        with statements(runtime) as sent:
            facts = await routing_rules.gather_facts(session, ids)
    assert [s for s in sent if s.lstrip().upper().startswith("SELECT")] == sent[-1:]
    assert len([s for s in sent if not s.upper().startswith("BEGIN")]) == 1
    assert sorted(facts) == ids
    assert all(f.channel == "form" and len(f.inbox_ids) == 1 for f in facts.values())


async def test_routing_to_a_queue_twice_keeps_one_item(client, runtime, admin, agent):
    tier2 = await queue(client, admin[1], "Tier 2")
    await active_set_with_rules(client, admin[1], {
        "name": "All", "conditions": [], "action": {"kind": "queue", "id": tier2}})
    ticket_id = await new_ticket(client, agent[1])
    for _ in range(2):
        await client.post(f"/api/tickets/{ticket_id}/route", headers=agent[1])
    async with transaction(runtime.sessions) as session:
        count = await session.scalar(select(func.count()).select_from(QueueItem))
    assert count == 1
