"""Access per inbox, people and tokens through the API (the route-by-route table is in
test_authorization.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import clock
from tests.support import PASSWORD, add_to_inbox, add_user, run_jobs, submit_form


@pytest.fixture
def settings_overrides() -> dict:
    return {
        "inboxes": [{"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
                    {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}],
        "forms": [{"slug": "contact", "inbox": "support", "title": "Contact support"},
                  {"slug": "quote", "inbox": "sales", "title": "Ask for a quote"}],
    }


@pytest.fixture
async def teams(runtime, client, admin):
    """Team A works the support inbox, team B the sales inbox; an agent in each."""
    _, admin_headers = admin
    a_id, a_headers = await add_user(runtime, "a@example.com", "agent", "Ann A")
    b_id, b_headers = await add_user(runtime, "b@example.com", "agent", "Bob B")
    team_ids = {}
    for name, member, slug in (("Team A", a_id, "support"), ("Team B", b_id, "sales")):
        response = await client.post("/api/teams", headers=admin_headers,
                                     json={"name": name, "member_ids": [member]})
        team_ids[name] = response.json()["id"]
        await add_to_inbox(runtime, slug, team_ids=(team_ids[name],))
    return {"a": (a_id, a_headers), "b": (b_id, b_headers), "team_ids": team_ids}


async def ids(client, headers, path: str) -> list[int]:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_an_agent_of_team_a_reaches_nothing_of_team_b(client, admin, teams):
    _, admin_headers = admin
    _, a = teams["a"]
    theirs = (await client.post("/forms/quote", json={
        "name": "Q", "email": "q@customer.example", "subject": "Price?",
        "message": "How much?"})).json()["ticket_number"]
    ours = (await submit_form(client, subject="Broken")).json()["ticket_number"]
    sales = await client.get(f"/api/tickets/{theirs}", headers=admin_headers)
    [conversation_b] = sales.json()["conversation_ids"]

    assert await ids(client, a, "/api/tickets") == [ours]
    everything = await ids(client, admin_headers, "/api/conversations")
    seen_by_a = await ids(client, a, "/api/conversations")
    assert conversation_b in everything and len(seen_by_a) == 1
    assert set(seen_by_a) < set(everything) and conversation_b not in seen_by_a
    assert await ids(client, a, "/api/conversations?q=Price") == []
    attempts = [
        client.get(f"/api/conversations/{conversation_b}", headers=a),
        client.patch(f"/api/conversations/{conversation_b}", headers=a, json={"status": "closed"}),
        client.post(f"/api/conversations/{conversation_b}/messages", headers=a,
                    json={"kind": "comment", "text": "mine now"}),
        client.patch(f"/api/tickets/{theirs}", headers=a, json={"priority": "urgent"}),
        client.post(f"/api/tickets/{ours}/merge", headers=a,
                    json={"other_id": theirs, "primary_id": ours}),
        client.delete(f"/api/tickets/{theirs}", headers=a),
        client.delete(f"/api/conversations/{conversation_b}", headers=a),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    untouched = (await client.get(f"/api/tickets/{theirs}", headers=admin_headers)).json()
    assert untouched["priority"] == "medium" and untouched["status"] == "new"
    detail = (await client.get(f"/api/conversations/{conversation_b}",
                               headers=admin_headers)).json()
    assert detail["status"] == "open" and len(detail["messages"]) == 1


async def test_out_of_scope_answers_exactly_like_missing(client, teams):
    _, a = teams["a"]
    theirs = (await client.post("/forms/quote", json={
        "name": "Q", "email": "q@customer.example", "subject": "Price?",
        "message": "How much?"})).json()["ticket_number"]
    hidden = await client.get(f"/api/tickets/{theirs}", headers=a)
    missing = await client.get("/api/tickets/999999", headers=a)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(str(theirs), "N") == \
        missing.json()["error"]["message"].replace("999999", "N")


async def test_merging_needs_both_sides_and_a_merged_ticket_shows_only_what_is_in_scope(
        client, admin, teams):
    _, admin_headers = admin
    _, a = teams["a"]
    _, b = teams["b"]
    ours = (await submit_form(client, subject="Broken")).json()["ticket_number"]
    theirs = (await client.post("/forms/quote", json={
        "name": "Q", "email": "q@customer.example", "subject": "Price?",
        "message": "How much?"})).json()["ticket_number"]
    refused = await client.post(f"/api/tickets/{ours}/merge", headers=a,
                                json={"other_id": theirs, "primary_id": ours})
    assert refused.status_code == 404
    merged = await client.post(f"/api/tickets/{ours}/merge", headers=admin_headers,
                               json={"other_id": theirs, "primary_id": ours})
    assert merged.status_code == 200 and len(merged.json()["conversation_ids"]) == 2
    seen_by_a = (await client.get(f"/api/tickets/{ours}", headers=a)).json()
    seen_by_b = (await client.get(f"/api/tickets/{ours}", headers=b)).json()
    assert len(seen_by_a["conversation_ids"]) == len(seen_by_b["conversation_ids"]) == 1
    assert seen_by_a["conversation_ids"] != seen_by_b["conversation_ids"]
    gone = await client.get(f"/api/tickets/{theirs}", headers=b)
    assert gone.status_code == 404 and f"merged into #{ours}" in gone.json()["error"]["message"]


async def test_work_goes_only_to_people_who_see_the_inbox(client, teams):
    a_id, a = teams["a"]
    b_id, _ = teams["b"]
    ticket = (await submit_form(client, subject="Broken")).json()["ticket_number"]
    [conversation] = (await client.get(f"/api/tickets/{ticket}", headers=a)).json()[
        "conversation_ids"]
    for path in (f"/api/conversations/{conversation}", f"/api/tickets/{ticket}"):
        refused = await client.patch(path, headers=a, json={"owner_id": b_id})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "owner_id"
        assert (await client.patch(path, headers=a, json={"owner_id": a_id})).status_code == 200


async def test_a_deactivated_team_gives_no_access_and_takes_no_tickets(client, admin, teams):
    _, admin_headers = admin
    _, a = teams["a"]
    team_a = teams["team_ids"]["Team A"]
    ticket = (await submit_form(client, subject="Broken")).json()["ticket_number"]
    assert (await client.get(f"/api/tickets/{ticket}", headers=a)).status_code == 200
    response = await client.patch(f"/api/teams/{team_a}", headers=admin_headers,
                                  json={"active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    assert (await client.get(f"/api/tickets/{ticket}", headers=a)).status_code == 404
    assert await ids(client, a, "/api/tickets") == []
    refused = await client.patch(f"/api/tickets/{ticket}", headers=admin_headers,
                                 json={"team_id": team_a})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "team_id"
    await client.patch(f"/api/teams/{team_a}", headers=admin_headers, json={"active": True})
    assert (await client.get(f"/api/tickets/{ticket}", headers=a)).status_code == 200


async def test_team_members_and_name_can_be_changed(client, admin, teams):
    _, admin_headers = admin
    a_id, a = teams["a"]
    b_id, b = teams["b"]
    team_a = teams["team_ids"]["Team A"]
    ticket = (await submit_form(client, subject="Broken")).json()["ticket_number"]
    changed = await client.patch(f"/api/teams/{team_a}", headers=admin_headers,
                                 json={"name": "Front line", "member_ids": [b_id]})
    assert changed.json() == {"id": team_a, "name": "Front line", "member_ids": [b_id],
                              "active": True}
    assert (await client.get(f"/api/tickets/{ticket}", headers=b)).status_code == 200
    assert (await client.get(f"/api/tickets/{ticket}", headers=a)).status_code == 404
    taken = await client.patch(f"/api/teams/{team_a}", headers=admin_headers,
                               json={"name": "team b"})
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "name"


async def test_deactivation_ends_sessions_and_tokens_at_once(client, admin, agent):
    _, admin_headers = admin
    agent_id, agent_headers = agent
    login = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    assert login.status_code == 200
    assert (await client.get("/api/me")).status_code == 200  # the cookie session
    response = await client.patch(f"/api/users/{agent_id}", headers=admin_headers,
                                  json={"active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/api/me", headers=agent_headers)).status_code == 401
    again = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    assert again.status_code == 401
    await client.patch(f"/api/users/{agent_id}", headers=admin_headers, json={"active": True})
    # Back, but what was ended stays ended: the old token and cookie do not come back.
    assert (await client.get("/api/me", headers=agent_headers)).status_code == 401
    client.cookies.clear()
    relogin = await client.post("/api/session", json={"email": "agent@example.com",
                                                      "password": PASSWORD})
    assert relogin.status_code == 200


async def test_admins_keep_their_service_running(client, admin, agent):
    admin_id, admin_headers = admin
    agent_id, agent_headers = agent
    self_off = await client.patch(f"/api/users/{admin_id}", headers=admin_headers,
                                  json={"active": False})
    assert self_off.status_code == 409 and self_off.json()["error"]["field"] == "active"
    demote = await client.patch(f"/api/users/{admin_id}", headers=admin_headers,
                                json={"role": "agent"})
    assert demote.status_code == 409 and demote.json()["error"]["field"] == "role"
    promoted = await client.patch(f"/api/users/{agent_id}", headers=admin_headers,
                                  json={"role": "admin", "name": "Al Boss"})
    assert promoted.json()["role"] == "admin" and promoted.json()["name"] == "Al Boss"
    demoted = await client.patch(f"/api/users/{admin_id}", headers=admin_headers,
                                 json={"role": "agent"})
    assert demoted.status_code == 200
    assert (await client.get("/api/sla/settings", headers=admin_headers)).status_code == 403
    assert (await client.get("/api/sla/settings", headers=agent_headers)).status_code == 200


@pytest.mark.parametrize("body, field, status", [
    ({"email": "admin@example.com"}, "email", 409),
    ({"email": "not an address"}, "email", 422),
    ({"role": "owner"}, "role", 422),
    ({"name": "   "}, "name", 422),
    ({"active": None}, "active", 422),
])
async def test_bad_user_changes_name_the_field(client, admin, agent, body, field, status):
    _, admin_headers = admin
    agent_id, _ = agent
    response = await client.patch(f"/api/users/{agent_id}", headers=admin_headers, json=body)
    assert response.status_code == status and response.json()["error"]["field"] == field


async def test_tokens_are_listed_expire_and_are_revoked_by_their_owner_or_an_admin(
        client, admin, agent, runtime):
    _, admin_headers = admin
    agent_id, agent_headers = agent
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    manual = clock.ManualClock(now)
    with clock.use(manual):
        created = await client.post("/api/tokens", headers=agent_headers, json={
            "name": "laptop", "expires_at": (now + timedelta(days=1)).isoformat()})
        assert created.status_code == 201
        laptop = created.json()
        laptop_headers = {"Authorization": f"Bearer {laptop['token']}"}
        assert (await client.get("/api/me", headers=laptop_headers)).json()["id"] == agent_id
        listed = (await client.get("/api/tokens", headers=agent_headers)).json()["items"]
        assert [t["name"] for t in listed] == ["laptop", "api"]
        assert all("token" not in t for t in listed)
        manual.advance(timedelta(days=1))
        expired = await client.get("/api/me", headers=laptop_headers)
        assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]

        other_id, other_headers = await add_user(runtime, "other@example.com")
        server_token = (await client.post("/api/tokens", headers=agent_headers,
                                          json={"name": "server"})).json()
        assert (await client.delete(f"/api/tokens/{server_token['id']}",
                                    headers=other_headers)).status_code == 404
        assert (await client.get(f"/api/tokens?user_id={agent_id}",
                                 headers=other_headers)).status_code == 403
        by_admin = await client.get(f"/api/tokens?user_id={agent_id}", headers=admin_headers)
        assert len(by_admin.json()["items"]) == 3
        revoked = await client.delete(f"/api/tokens/{server_token['id']}", headers=admin_headers)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        server_headers = {"Authorization": f"Bearer {server_token['token']}"}
        assert (await client.get("/api/me", headers=server_headers)).status_code == 401


@pytest.mark.parametrize("expires_at", ["2026-12-05T12:00:00", "2020-01-01T00:00:00Z"])
async def test_a_token_expiry_needs_a_time_zone_and_the_future(client, agent, expires_at):
    _, agent_headers = agent
    response = await client.post("/api/tokens", headers=agent_headers,
                                 json={"name": "x", "expires_at": expires_at})
    assert response.status_code == 422 and response.json()["error"]["field"] == "expires_at"


async def test_inbox_members_are_set_by_admins_and_shown_to_them_only(client, admin, teams):
    _, admin_headers = admin
    b_id, b = teams["b"]
    team_a = teams["team_ids"]["Team A"]
    listed = (await client.get("/api/inboxes", headers=admin_headers)).json()["items"]
    assert [(i["slug"], i["members"]["team_ids"]) for i in listed] == [
        ("sales", [teams["team_ids"]["Team B"]]), ("support", [team_a])]
    assert [i["slug"] for i in (await client.get("/api/inboxes", headers=b)).json()["items"]] \
        == ["sales"]
    assert "members" not in (await client.get("/api/inboxes/sales", headers=b)).json()
    response = await client.put("/api/inboxes/support/members", headers=admin_headers,
                                json={"team_ids": [team_a], "user_ids": [b_id]})
    assert response.json()["members"] == {"team_ids": [team_a], "user_ids": [b_id]}
    assert [i["slug"] for i in (await client.get("/api/inboxes", headers=b)).json()["items"]] \
        == ["sales", "support"]
    for body, field in (({"team_ids": [999]}, "team_ids"), ({"user_ids": [999]}, "user_ids")):
        bad = await client.put("/api/inboxes/support/members", headers=admin_headers, json=body)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field
    missing = await client.put("/api/inboxes/nowhere/members", headers=admin_headers, json={})
    assert missing.status_code == 404


async def test_moving_needs_both_inboxes_and_moves_who_sees_it(client, admin, teams, runtime):
    _, admin_headers = admin
    _, a = teams["a"]
    _, b = teams["b"]
    ticket = (await submit_form(client, subject="Wrong inbox")).json()["ticket_number"]
    [conversation] = (await client.get(f"/api/tickets/{ticket}", headers=a)).json()[
        "conversation_ids"]
    refused = await client.patch(f"/api/conversations/{conversation}", headers=a,
                                 json={"inbox": "sales"})
    assert refused.status_code == 404  # a sees no sales inbox
    moved = await client.patch(f"/api/conversations/{conversation}", headers=admin_headers,
                               json={"inbox": "sales"})
    assert moved.status_code == 200 and moved.json()["inbox"] == "sales"
    assert (await client.get(f"/api/conversations/{conversation}", headers=a)).status_code == 404
    assert (await client.get(f"/api/conversations/{conversation}", headers=b)).status_code == 200
    assert (await client.get(f"/api/tickets/{ticket}", headers=b)).status_code == 200
    null = await client.patch(f"/api/conversations/{conversation}", headers=admin_headers,
                              json={"inbox": None})
    assert null.status_code == 422 and null.json()["error"]["field"] == "inbox"


async def test_only_a_failed_reply_is_sent_again(client, agent, runtime):
    from core.db import transaction
    from inbox.service import record_delivery

    _, headers = agent
    ticket = (await submit_form(client)).json()["ticket_number"]
    [conversation] = (await client.get(f"/api/tickets/{ticket}", headers=headers)).json()[
        "conversation_ids"]
    reply = (await client.post(f"/api/conversations/{conversation}/messages", headers=headers,
                               json={"kind": "reply", "text": "On it"})).json()
    comment = (await client.post(f"/api/conversations/{conversation}/messages", headers=headers,
                                 json={"kind": "comment", "text": "note"})).json()
    await run_jobs(runtime)  # the first attempt (no relay listens: it will retry)
    async with transaction(runtime.sessions) as session:
        await record_delivery(session, reply["id"], "failed", "relay refused")
    again = await client.post(f"/api/messages/{reply['id']}/resend", headers=headers)
    assert again.status_code == 200 and again.json()["delivery_status"] == "queued"
    twice = await client.post(f"/api/messages/{reply['id']}/resend", headers=headers)
    assert twice.status_code == 409
    assert (await client.post(f"/api/messages/{comment['id']}/resend",
                              headers=headers)).status_code == 404
