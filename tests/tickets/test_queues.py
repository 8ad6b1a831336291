"""Queues through the API: admins make them, agents add, pick, release and move cases; the
rail's counts; private queues; every step on the ticket's history."""

from __future__ import annotations

from tests.support import add_user, submit_form


async def new_ticket(client, headers, subject: str = "Printer on fire") -> int:
    number = (await submit_form(client, subject=subject)).json()["ticket_number"]
    return int((await client.get(f"/api/tickets/{number}", headers=headers)).json()["id"])


async def make_queue(client, headers, name: str, **fields) -> dict:
    response = await client.post("/api/queues", headers=headers, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def counts(client, headers) -> dict[str, int]:
    body = (await client.get("/api/queues", headers=headers)).json()
    return {q["name"]: q["unclaimed"] for q in body["items"]}


async def history(client, headers, ticket_id) -> list[tuple[str, str | None, str | None]]:
    body = (await client.get(f"/api/tickets/{ticket_id}", headers=headers)).json()
    return [(h["action"], h["old"], h["new"]) for h in body["history"]
            if h["field"] in ("queue", "rule")]


async def test_pick_makes_the_case_mine_and_leaves_the_unclaimed_list(client, admin, agent):
    agent_id, headers = agent
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, headers)
    added = await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                              json={"queue_id": tier2["id"]})
    assert added.status_code == 201, added.text
    assert await counts(client, headers) == {"Tier 2": 1}
    picked = await client.post(f"/api/queue-items/{added.json()['id']}/pick", headers=headers)
    assert picked.status_code == 200 and picked.json()["worked_by_id"] == agent_id
    ticket = (await client.get(f"/api/tickets/{ticket_id}", headers=headers)).json()
    assert ticket["owner_id"] == agent_id
    assert await counts(client, headers) == {"Tier 2": 0}
    items = (await client.get(f"/api/queues/{tier2['id']}/items", headers=headers)).json()
    assert [i["worked_by_id"] for i in items["items"]] == [agent_id]
    assert await history(client, headers, ticket_id) == [
        ("queued", None, "Tier 2"), ("picked", None, "Tier 2")]


async def test_someone_else_cannot_pick_a_case_being_worked_on(client, runtime, admin, agent):
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, agent[1])
    item = (await client.post(f"/api/tickets/{ticket_id}/queues", headers=admin[1],
                              json={"queue_id": tier2["id"]})).json()
    assert (await client.post(f"/api/queue-items/{item['id']}/pick",
                              headers=agent[1])).status_code == 200
    refused = await client.post(f"/api/queue-items/{item['id']}/pick", headers=admin[1])
    assert refused.status_code == 409
    assert "Al Agent" in refused.json()["error"]["message"]


async def test_release_puts_it_back_and_clears_the_owner_who_picked_it(client, admin, agent):
    _, headers = agent
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, headers)
    item = (await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                              json={"queue_id": tier2["id"]})).json()
    await client.post(f"/api/queue-items/{item['id']}/pick", headers=headers)
    released = await client.post(f"/api/queue-items/{item['id']}/release", headers=headers)
    assert released.status_code == 200 and released.json()["worked_by_id"] is None
    ticket = (await client.get(f"/api/tickets/{ticket_id}", headers=headers)).json()
    assert ticket["owner_id"] is None
    assert await counts(client, headers) == {"Tier 2": 1}


async def test_move_to_another_queue_unclaimed_there(client, admin, agent):
    _, headers = agent
    tier1 = await make_queue(client, admin[1], "Tier 1")
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, headers)
    item = (await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                              json={"queue_id": tier1["id"]})).json()
    await client.post(f"/api/queue-items/{item['id']}/pick", headers=headers)
    moved = await client.post(f"/api/queue-items/{item['id']}/move", headers=headers,
                              json={"queue_id": tier2["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["queue_id"] == tier2["id"] and moved.json()["worked_by_id"] is None
    assert await counts(client, headers) == {"Tier 1": 0, "Tier 2": 1}
    assert ("moved", "Tier 1", "Tier 2") in await history(client, headers, ticket_id)
    back = await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                             json={"queue_id": tier1["id"]})
    again = await client.post(f"/api/queue-items/{back.json()['id']}/move", headers=headers,
                              json={"queue_id": tier2["id"]})
    assert again.status_code == 409


async def test_private_queue_only_for_members_and_admins(client, runtime, admin, agent):
    member_id, member_headers = await add_user(runtime, "bo@example.com", "agent", "Bo")
    private = await make_queue(client, admin[1], "VIP", is_private=True,
                               member_ids=[member_id])
    assert await counts(client, agent[1]) == {}
    assert await counts(client, member_headers) == {"VIP": 0}
    assert await counts(client, admin[1]) == {"VIP": 0}
    hidden = await client.get(f"/api/queues/{private['id']}/items", headers=agent[1])
    assert hidden.status_code == 404
    ticket_id = await new_ticket(client, agent[1])
    refused = await client.post(f"/api/tickets/{ticket_id}/queues", headers=agent[1],
                                json={"queue_id": private["id"]})
    assert refused.status_code == 404


async def test_closed_cases_leave_the_counts(client, admin, agent):
    _, headers = agent
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, headers)
    await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                      json={"queue_id": tier2["id"]})
    await client.patch(f"/api/tickets/{ticket_id}", headers=headers, json={"status": "closed"})
    assert await counts(client, headers) == {"Tier 2": 0}


async def test_only_admins_make_queues_and_bad_input_is_a_422(client, admin, agent):
    assert (await client.post("/api/queues", headers=agent[1],
                              json={"name": "Mine"})).status_code == 403
    await make_queue(client, admin[1], "Tier 2")
    taken = await client.post("/api/queues", headers=admin[1], json={"name": "Tier 2"})
    assert taken.status_code == 422 and taken.json()["error"]["field"] == "name"
    nobody = await client.post("/api/queues", headers=admin[1],
                               json={"name": "Ghosts", "member_ids": [999]})
    assert nobody.status_code == 422 and nobody.json()["error"]["field"] == "member_ids"
    assert await counts(client, admin[1]) == {"Tier 2": 0}
    audit = (await client.get("/api/admin/audit", headers=admin[1])).json()
    assert any(e["action"] == "queue.created" for e in audit["items"])


async def test_a_ticket_out_of_scope_is_not_found(client, runtime, admin, agent):
    outsider = await add_user(runtime, "cy@example.com", "agent", "Cy")
    tier2 = await make_queue(client, admin[1], "Tier 2")
    ticket_id = await new_ticket(client, agent[1])
    item = (await client.post(f"/api/tickets/{ticket_id}/queues", headers=agent[1],
                              json={"queue_id": tier2["id"]})).json()
    assert (await client.post(f"/api/queue-items/{item['id']}/pick",
                              headers=outsider[1])).status_code == 404
    assert (await client.get(f"/api/tickets/{ticket_id}/queues",
                             headers=outsider[1])).status_code == 404


async def test_a_merged_case_brings_its_queue_items_to_the_surviving_one(client, admin, agent):
    _, headers = agent
    tier1 = await make_queue(client, admin[1], "Tier 1")
    tier2 = await make_queue(client, admin[1], "Tier 2")
    primary, merged = await new_ticket(client, headers), await new_ticket(client, headers, "B")
    for ticket_id, queue_ids in ((primary, [tier1["id"]]), (merged, [tier1["id"], tier2["id"]])):
        for queue_id in queue_ids:
            await client.post(f"/api/tickets/{ticket_id}/queues", headers=headers,
                              json={"queue_id": queue_id})
    response = await client.post(f"/api/tickets/{primary}/merge", headers=headers,
                                 json={"other_id": merged, "primary_id": primary})
    assert response.status_code == 200, response.text
    queues = (await client.get(f"/api/tickets/{primary}/queues", headers=headers)).json()
    assert [q["queue_name"] for q in queues["items"]] == ["Tier 1", "Tier 2"]
    assert await counts(client, headers) == {"Tier 1": 1, "Tier 2": 1}
