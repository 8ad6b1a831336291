"""Notifications: who is told of what (assigned, mentioned, SLA due soon and breached),
never someone out of scope, and reading and marking them over the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core import clock
from sla import jobs
from tests.support import add_to_inbox, add_user, run_jobs, submit_form

T0 = (datetime.now(UTC) + timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)


async def new_conversation(client, headers) -> tuple[int, int]:
    """(conversation id, ticket id) of a new contact-form submission (inbox `support`)."""
    number = (await submit_form(client)).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    return ticket["conversation_ids"][0], ticket["id"]


async def kinds_of(client, headers) -> list[tuple[str, int]]:
    body = (await client.get("/api/notifications", headers=headers)).json()
    return [(item["kind"], item["conversation_id"]) for item in body["items"]]


async def test_assigned_tells_the_new_owner_once_unless_they_did_it(client, admin, agent):
    _, boss = admin
    al_id, al = agent
    conversation, ticket = await new_conversation(client, boss)
    response = await client.patch(f"/api/conversations/{conversation}", headers=boss,
                                  json={"owner_id": al_id})
    assert response.status_code == 200
    assert await kinds_of(client, al) == [("assigned", conversation)]
    body = (await client.get("/api/notifications", headers=al)).json()
    assert body["unread"] == 1
    assert body["items"][0]["text"] == "Ada Admin assigned you"
    assert body["items"][0]["subject"] == "Printer on fire"

    other, other_ticket = await new_conversation(client, boss)
    await client.patch(f"/api/conversations/{other}", headers=al, json={"owner_id": al_id})
    assert await kinds_of(client, al) == [("assigned", conversation)]  # they did it

    await client.patch(f"/api/tickets/{other_ticket}", headers=boss, json={"owner_id": None})
    await client.patch(f"/api/tickets/{other_ticket}", headers=boss, json={"owner_id": al_id})
    assert await kinds_of(client, al) == [("assigned", other), ("assigned", conversation)]


async def test_a_mention_in_a_comment_tells_who_it_names_and_sees_it(runtime, client, admin,
                                                                     agent):
    _, boss = admin
    al_id, al = agent  # agent@example.com: handle "agent", sees `support`
    outsider_id, outsider = await add_user(runtime, "otto@example.com", "agent", "Otto")
    conversation, _ = await new_conversation(client, boss)
    for kind, text in (("comment", "@Agent can you look? cc @otto and @nobody, ask @admin"),
                       ("reply", "Our @agent will look")):
        response = await client.post(f"/api/conversations/{conversation}/messages",
                                     headers=boss, json={"kind": kind, "text": text})
        assert response.status_code == 201
    assert await kinds_of(client, al) == [("mentioned", conversation)]
    assert await kinds_of(client, outsider) == []  # out of scope: never told
    assert await kinds_of(client, boss) == []  # mentioned themselves
    body = (await client.get("/api/notifications", headers=al)).json()
    assert body["items"][0]["text"] == "Ada Admin mentioned you"

    await add_to_inbox(runtime, "support", user_ids=(outsider_id,))
    await client.post(f"/api/conversations/{conversation}/messages", headers=al,
                      json={"kind": "comment", "text": "@otto now you see it"})
    assert await kinds_of(client, outsider) == [("mentioned", conversation)]


async def test_what_falls_out_of_scope_is_no_longer_listed(runtime, client, admin):
    _, boss = admin
    bo_id, bo = await add_user(runtime, "bo@example.com", "agent", "Bo")
    await add_to_inbox(runtime, "support", user_ids=(bo_id,))
    conversation, _ = await new_conversation(client, boss)
    await client.post(f"/api/conversations/{conversation}/messages", headers=boss,
                      json={"kind": "comment", "text": "@bo look"})
    assert (await client.get("/api/notifications", headers=bo)).json()["unread"] == 1
    await client.put("/api/inboxes/support/members", headers=boss,
                     json={"team_ids": [], "user_ids": []})
    body = (await client.get("/api/notifications", headers=bo)).json()
    assert (body["items"], body["unread"]) == ([], 0)


async def test_marking_read_some_others_ids_or_all(runtime, client, admin, agent):
    _, boss = admin
    al_id, al = agent
    for _ in range(3):
        conversation, _ = await new_conversation(client, boss)
        await client.post(f"/api/conversations/{conversation}/messages", headers=boss,
                          json={"kind": "comment", "text": "@agent and @admin"})
    ids = [item["id"] for item in (await client.get("/api/notifications", headers=al)).json()[
        "items"]]
    assert len(ids) == 3
    first = await client.post("/api/notifications/mark-read", headers=al, json={"ids": ids[:1]})
    assert first.json() == {"marked": 1, "unread": 2}
    _, cy = await add_user(runtime, "cy@example.com", "admin", "Cy")
    theirs = await client.post("/api/notifications/mark-read", headers=cy, json={"ids": ids})
    assert theirs.json() == {"marked": 0, "unread": 0}
    every = await client.post("/api/notifications/mark-read", headers=al, json={})
    assert every.json() == {"marked": 2, "unread": 0}
    body = (await client.get("/api/notifications", headers=al)).json()
    assert all(item["read_at"] for item in body["items"])
    bad = await client.post("/api/notifications/mark-read", headers=al, json={"ids": ["x"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("ids")


async def test_pages_of_notifications(client, admin, agent):
    _, boss = admin
    _, al = agent
    conversation, _ = await new_conversation(client, boss)
    for n in range(3):
        await client.post(f"/api/conversations/{conversation}/messages", headers=boss,
                          json={"kind": "comment", "text": f"@agent {n}"})
    first = (await client.get("/api/notifications?limit=2", headers=al)).json()
    second = (await client.get(f"/api/notifications?limit=2&cursor={first['next_cursor']}",
                               headers=al)).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert second["next_cursor"] is None
    assert first["items"][0]["id"] > first["items"][1]["id"] > second["items"][0]["id"]


async def test_sla_due_soon_and_breached_tell_the_ticket_owner(runtime, client, admin, agent):
    _, boss = admin
    al_id, al = agent
    manual = clock.ManualClock(T0)
    with clock.use(manual):
        response = await client.put("/api/sla/settings", headers=boss, json={
            "mode": "always",
            "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15}}})
        assert response.status_code == 200
        await run_jobs(runtime)
        owned, ticket = await new_conversation(client, boss)
        await client.patch(f"/api/tickets/{ticket}", headers=boss, json={"owner_id": al_id})
        await new_conversation(client, boss)  # nobody's: nobody is told
        for instant in (T0 + timedelta(minutes=45), T0 + timedelta(minutes=60)):
            manual.set(instant)
            await run_jobs(runtime)
            await jobs.sweep({"runtime": runtime})
    body = (await client.get("/api/notifications", headers=al)).json()
    assert [(i["kind"], i["ticket_id"], i["text"]) for i in body["items"]] == [
        ("sla_breached", ticket, "SLA first response was breached"),
        ("sla_due_soon", ticket, "SLA first response is due soon"),
        ("assigned", ticket, "Ada Admin assigned you")]
    assert {i["conversation_id"] for i in body["items"]} == {owned}
    assert (await client.get("/api/notifications", headers=boss)).json()["items"] == []


async def test_nobody_out_of_scope_is_told_of_anything(runtime, client, admin, agent):
    """Whatever the kind, the rules hand the user to `notify`, which tells only someone
    active who sees the conversation's inbox; the SLA owner who lost access hears nothing."""
    from core.db import transaction
    from notifications.service import notify

    _, boss = admin
    al_id, al = agent
    otto_id, otto = await add_user(runtime, "otto@example.com", "agent", "Otto")
    conversation, _ = await new_conversation(client, boss)
    async with transaction(runtime.sessions) as session:
        for kind in ("assigned", "mentioned", "sla_due_soon", "sla_breached"):
            assert await notify(session, [otto_id, al_id], kind,
                                conversation_id=conversation) == [al_id]
    assert await kinds_of(client, otto) == []

    manual = clock.ManualClock(T0)
    with clock.use(manual):
        await client.put("/api/sla/settings", headers=boss, json={
            "mode": "always",
            "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15}}})
        await run_jobs(runtime)
        owned, ticket = await new_conversation(client, boss)
        await client.patch(f"/api/tickets/{ticket}", headers=boss, json={"owner_id": al_id})
        await client.put("/api/inboxes/support/members", headers=boss,
                         json={"team_ids": [], "user_ids": []})  # Al no longer sees it
        manual.set(T0 + timedelta(minutes=60))
        await run_jobs(runtime)
        await jobs.sweep({"runtime": runtime})
    await add_to_inbox(runtime, "support", user_ids=(al_id,))  # to read what was kept
    kinds = {kind for kind, conversation_id in await kinds_of(client, al)
             if conversation_id == owned}
    assert kinds == {"assigned"}
