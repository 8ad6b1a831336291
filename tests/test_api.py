"""The REST API: authentication, CSRF, pagination, filters and bad input (login throttling:
tests/test_login.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from core.db import transaction
from inbox.models import Conversation, Message
from tests.support import PASSWORD, submit_form
from tickets.models import Ticket, TicketHistory


async def counts(runtime) -> tuple[int, int, int, int]:
    async with transaction(runtime.sessions) as session:
        return tuple([await session.scalar(select(func.count()).select_from(model))
                      for model in (Conversation, Message, Ticket, TicketHistory)])


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}


async def test_not_ready_without_a_raw_store_to_accept_mail_into(client, runtime):
    """Inbound mail is accepted into the raw store: the server is not ready without it."""
    async with runtime.raw_engine.begin() as connection:
        await connection.execute(text("ALTER TABLE raw_emails RENAME TO raw_emails_away"))
    try:
        answer = await client.get("/readyz")
    finally:
        async with runtime.raw_engine.begin() as connection:
            await connection.execute(text("ALTER TABLE raw_emails_away RENAME TO raw_emails"))
    assert (answer.status_code, answer.json()) == (503, {"status": "unavailable"})
    assert (await client.get("/readyz")).status_code == 200


async def test_openapi_and_docs_are_served(client):
    spec = (await client.get("/openapi.json")).json()
    assert "/api/tickets/{ticket_id}/merge" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/me"), ("GET", "/api/conversations"), ("GET", "/api/conversations/1"),
    ("PATCH", "/api/conversations/1"), ("DELETE", "/api/conversations/1"),
    ("POST", "/api/conversations/1/messages"), ("GET", "/api/tickets"),
    ("GET", "/api/tickets/1"), ("PATCH", "/api/tickets/1"), ("DELETE", "/api/tickets/1"),
    ("POST", "/api/tickets/1/merge"), ("GET", "/api/users"), ("POST", "/api/users"),
    ("GET", "/api/teams"), ("POST", "/api/teams"),
])
async def test_every_api_route_needs_authentication(client, method, path):
    response = await client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_bad_bearer_token_is_401(client):
    for header in ("Bearer nope", "Basic abc", "Bearer "):
        response = await client.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401, header


@pytest.mark.parametrize("path, body", [
    ("/api/users", {"email": "x@example.com", "name": "X", "password": "longenough"}),
    ("/api/teams", {"name": "Tier 2"}),
])
async def test_agents_cannot_use_admin_routes(client, runtime, agent, path, body):
    _, headers = agent
    response = await client.post(path, headers=headers, json=body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_admin_adds_users_and_teams(client, admin):
    _, headers = admin
    user = await client.post("/api/users", headers=headers, json={
        "email": "New@Example.com", "name": "New", "role": "agent", "password": "longenough"})
    assert user.status_code == 201 and user.json()["email"] == "new@example.com"
    team = await client.post("/api/teams", headers=headers,
                             json={"name": "Tier 2", "member_ids": [user.json()["id"]]})
    assert team.status_code == 201 and team.json()["member_ids"] == [user.json()["id"]]
    dup = await client.post("/api/teams", headers=headers, json={"name": "tier 2"})
    assert dup.status_code == 409
    teams = (await client.get("/api/teams", headers=headers)).json()
    assert [t["name"] for t in teams["items"]] == ["Tier 2"]


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email", "name": "X", "password": "longenough"}, "email"),
    ({"email": "x@example.com", "name": "", "password": "longenough"}, "name"),
    ({"email": "x@example.com", "name": "X", "password": "short"}, "password"),
    ({"email": "x@example.com", "name": "X", "password": "longenough", "role": "boss"}, "role"),
    ({"email": "x@example.com", "name": "X\x00", "password": "longenough"}, "name"),
    ({"email": "admin@example.com", "name": "X", "password": "longenough"}, "email"),
])
async def test_bad_new_user_is_refused_and_nothing_stored(client, admin, body, field):
    _, headers = admin
    response = await client.post("/api/users", headers=headers, json=body)
    assert response.status_code in (409, 422)
    assert response.json()["error"]["field"] == field
    users = (await client.get("/api/users", headers=headers)).json()["items"]
    assert [u["email"] for u in users] == ["admin@example.com"]


async def test_cookie_login_needs_csrf_for_writes(client, agent):
    agent_id, _ = agent
    login = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    assert login.status_code == 200
    cookie_header = login.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie_header if c.startswith("frontdesk_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    csrf = login.json()["csrf_token"]
    assert (await client.get("/api/me")).json()["id"] == agent_id
    number = (await submit_form(client)).json()["ticket_number"]
    refused = await client.patch(f"/api/tickets/{number}", json={"priority": "high"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = await client.patch(f"/api/tickets/{number}", json={"priority": "high"},
                               headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    accepted = await client.patch(f"/api/tickets/{number}", json={"priority": "high"},
                                  headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and accepted.json()["priority"] == "high"
    out = await client.delete("/api/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (await client.get("/api/me")).status_code == 401


async def test_unknown_user_and_wrong_password_look_the_same(client, agent):
    unknown = await client.post("/api/session", json={"email": "nobody@example.com",
                                                      "password": PASSWORD})
    wrong = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": "not it at all"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


async def test_conversation_pages_follow_the_cursor_without_gaps(client, agent):
    _, headers = agent
    for i in range(7):
        await submit_form(client, email=f"c{i}@example.org", subject=f"Question {i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/api/conversations", headers=headers, params=params)).json()
        seen += [c["subject"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Question {i}" for i in reversed(range(7))]


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "priority", "-priority",
                                  "updated_at", "-updated_at"])
async def test_ticket_pages_follow_the_cursor_in_every_sort(client, agent, sort):
    _, headers = agent
    numbers = []
    for i, priority in enumerate(["low", "urgent", "medium", "urgent", "high"]):
        number = (await submit_form(client, email=f"t{i}@example.org")).json()["ticket_number"]
        await client.patch(f"/api/tickets/{number}", headers=headers, json={"priority": priority})
        numbers.append(number)
    whole = (await client.get("/api/tickets", headers=headers, params={"sort": sort})).json()
    paged, cursor = [], None
    while True:
        params = {"limit": 2, "sort": sort} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/api/tickets", headers=headers, params=params)).json()
        paged += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == [t["id"] for t in whole["items"]]
    assert sorted(paged) == sorted(numbers)
    if sort == "-priority":
        ranks = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
        assert [ranks[t["priority"]] for t in whole["items"]] == [3, 3, 2, 1, 0]


async def test_filters(client, agent):
    agent_id, headers = agent
    a = (await submit_form(client, subject="Invoice wrong", email="x@example.org")).json()
    b = (await submit_form(client, subject="Login fails", email="y@example.org")).json()
    await client.patch(f"/api/tickets/{a['ticket_number']}", headers=headers,
                       json={"owner_id": agent_id, "priority": "urgent", "status": "closed"})

    async def ids(path, **params):
        items = (await client.get(path, headers=headers, params=params)).json()["items"]
        return [i["id"] for i in items]

    assert await ids("/api/tickets", priority="urgent") == [a["ticket_number"]]
    assert await ids("/api/tickets", owner_id=agent_id) == [a["ticket_number"]]
    assert await ids("/api/tickets", status="new") == [b["ticket_number"]]
    assert await ids("/api/tickets", q="invoice") == [a["ticket_number"]]
    assert await ids("/api/tickets", q=f"#{b['ticket_number']}") == [b["ticket_number"]]
    assert len(await ids("/api/conversations", status="closed")) == 1
    assert len(await ids("/api/conversations", status="all")) == 2
    assert len(await ids("/api/conversations", channel="form", inbox="support")) == 2
    assert len(await ids("/api/conversations", q="y@example")) == 1
    assert len(await ids("/api/conversations", q="%")) == 0


@pytest.mark.parametrize("path, params, field", [
    ("/api/conversations", {"status": "pending"}, "status"),
    ("/api/conversations", {"limit": "0"}, "limit"),
    ("/api/conversations", {"limit": "100000"}, "limit"),
    ("/api/conversations", {"cursor": "garbage!!"}, "cursor"),
    ("/api/conversations", {"owner_id": "abc"}, "owner_id"),
    ("/api/conversations", {"channel": "fax"}, "channel"),
    ("/api/tickets", {"sort": "name"}, "sort"),
    ("/api/tickets", {"priority": "meh"}, "priority"),
    ("/api/tickets", {"cursor": "WzEsMl0"}, "cursor"),
    ("/api/tickets", {"owner_id": str(2**40)}, "owner_id"),
    ("/api/users", {"cursor": "x"}, "cursor"),
])
async def test_bad_query_parameters_are_422_naming_the_field(client, agent, path, params, field):
    _, headers = agent
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/conversations/999"), ("PATCH", "/api/conversations/999"),
    ("DELETE", "/api/conversations/999"), ("POST", "/api/conversations/999/messages"),
    ("GET", "/api/tickets/999"), ("PATCH", "/api/tickets/999"), ("DELETE", "/api/tickets/999"),
])
async def test_unknown_ids_are_404(client, agent, method, path):
    _, headers = agent
    body = ({"kind": "comment", "text": "x"} if path.endswith("/messages")
            else {"status": "closed"} if method == "PATCH" else None)
    response = await client.request(method, path, headers=headers, json=body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/tickets/0", "/api/tickets/-1",
                                  f"/api/tickets/{2**63}", "/api/tickets/abc",
                                  "/api/conversations/99999999999999999999"])
async def test_out_of_range_ids_are_422(client, agent, path):
    _, headers = agent
    response = await client.get(path, headers=headers)
    assert response.status_code == 422


async def test_unknown_route_and_method_answer_json(client, agent):
    _, headers = agent
    missing = await client.get("/api/nothing", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await client.put("/api/tickets", headers=headers)
    assert wrong.status_code == 405


PATCH_CASES = [
    ("conversation", {}, None),
    ("conversation", {"status": "pending"}, "status"),
    ("conversation", {"status": None}, "status"),
    ("conversation", {"owner_id": 424242}, "owner_id"),
    ("conversation", {"owner_id": "me"}, "owner_id"),
    ("ticket", {}, None),
    ("ticket", {"status": "bogus"}, "status"),
    ("ticket", {"priority": "huge"}, "priority"),
    ("ticket", {"name": ""}, "name"),
    ("ticket", {"name": None}, "name"),
    ("ticket", {"owner_id": 424242}, "owner_id"),
    ("ticket", {"team_id": 424242}, "team_id"),
    ("ticket", {"description": "bad\x00byte"}, "description"),
    ("ticket", {"category": "c" * 201}, "category"),
    ("ticket", {"number": 5}, None),
]


@pytest.mark.parametrize("target, body, field", PATCH_CASES)
async def test_bad_patches_change_nothing(client, runtime, agent, target, body, field):
    _, headers = agent
    number = (await submit_form(client)).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    conv = ticket["conversation_ids"][0]
    path = f"/api/tickets/{number}" if target == "ticket" else f"/api/conversations/{conv}"
    before_ticket = ticket | {"history": None}
    before_conv = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()
    before_counts = await counts(runtime)
    response = await client.patch(path, headers=headers, json=body)
    assert response.status_code == 422, response.text
    if field:
        assert response.json()["error"]["field"] == field
    after = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    assert after | {"history": None} == before_ticket
    assert (await client.get(f"/api/conversations/{conv}", headers=headers)).json() == before_conv
    assert await counts(runtime) == before_counts


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"text"', b'{"kind": "shout", "text": "x"}',
                                 b'{"kind": "reply", "text": ""}', b'{"kind": "reply"}',
                                 b'{"kind": "reply", "text": "a\\u0000b"}'])
async def test_bad_message_bodies_store_nothing(client, runtime, agent, raw):
    _, headers = agent
    number = (await submit_form(client)).json()["ticket_number"]
    conv = (await client.get(f"/api/tickets/{number}", headers=headers)).json()[
        "conversation_ids"][0]
    before = await counts(runtime)
    response = await client.post(f"/api/conversations/{conv}/messages", content=raw,
                                 headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "error" in response.json()
    assert await counts(runtime) == before


@pytest.mark.parametrize("body, field", [
    ({"other_id": 2, "primary_id": 999}, "primary_id"),
    ({"primary_id": 1}, "other_id"),
    ({"other_id": 0, "primary_id": 1}, "other_id"),
    ({"other_id": 777, "primary_id": 1}, None),
])
async def test_bad_merges_change_nothing(client, runtime, agent, body, field):
    _, headers = agent
    first = (await submit_form(client, email="m1@example.org")).json()["ticket_number"]
    await submit_form(client, email="m2@example.org")
    before = await counts(runtime)
    response = await client.post(f"/api/tickets/{first}/merge", headers=headers, json=body)
    assert response.status_code == (422 if field else 404)
    assert response.json()["error"].get("field") == field
    assert await counts(runtime) == before


async def test_merge_with_itself_is_refused(client, agent):
    _, headers = agent
    number = (await submit_form(client)).json()["ticket_number"]
    response = await client.post(f"/api/tickets/{number}/merge", headers=headers,
                                 json={"other_id": number, "primary_id": number})
    assert response.status_code == 422 and response.json()["error"]["field"] == "other_id"


async def test_reply_to_spam_is_a_conflict(client, agent):
    _, headers = agent
    number = (await submit_form(client)).json()["ticket_number"]
    conv = (await client.get(f"/api/tickets/{number}", headers=headers)).json()[
        "conversation_ids"][0]
    await client.patch(f"/api/conversations/{conv}", headers=headers, json={"status": "spam"})
    response = await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                                 json={"kind": "reply", "text": "hello"})
    assert response.status_code == 409


async def test_conversation_detail_carries_messages_and_ticket(client, agent):
    agent_id, headers = agent
    number = (await submit_form(client, message="First words")).json()["ticket_number"]
    conv = (await client.get(f"/api/tickets/{number}", headers=headers)).json()[
        "conversation_ids"][0]
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "comment", "text": "Looking into it"})
    body = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()
    assert body["ticket_id"] == number and body["channel"] == "form"
    assert body["contact"]["email"] == "anna@example.org"
    first, note = body["messages"]
    assert (first["direction"], first["text"], first["author"]["type"]) == (
        "inbound", "First words", "contact")
    assert first["external_id"].startswith("form:contact:")
    assert (note["direction"], note["author"]) == ("comment", {"type": "agent", "id": agent_id})


def test_the_api_offers_every_sort_the_listing_knows():
    from typing import get_args

    from web.api.conversations import ListSort
    from web.listing import SORT_NAMES

    assert set(get_args(ListSort)) == {f"{o}{n}" for n in SORT_NAMES for o in ("", "-")}


@pytest.mark.parametrize("sort", ["subject", "-subject", "contact", "-contact", "priority",
                                  "-priority", "channel", "-last_message_at", "created_at",
                                  "owner", "-owner", "sla_due_at"])
async def test_every_sort_pages_through_everything_once_in_order(client, agent, sort):
    agent_id, headers = agent
    subjects = ["beta", "Alpha", "delta", "alpha", "Gamma"]
    for number, subject in enumerate(subjects):
        ticket = (await submit_form(client, subject=subject, name=f"N{number % 2}",
                                    email=f"c{number}@example.org")).json()["ticket_number"]
        await client.patch(f"/api/tickets/{ticket}", headers=headers,
                           json={"priority": ["low", "urgent", "high"][number % 3]})
        if number % 2:
            conversation = (await client.get(f"/api/tickets/{ticket}",
                                             headers=headers)).json()["conversation_ids"][0]
            await client.patch(f"/api/conversations/{conversation}", headers=headers,
                               json={"owner_id": agent_id})
    everything = (await client.get("/api/conversations", headers=headers,
                                   params={"sort": sort, "limit": 50})).json()["items"]
    paged, cursor = [], None
    while True:
        params = {"sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/api/conversations", headers=headers, params=params)).json()
        paged += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [i["id"] for i in paged] == [i["id"] for i in everything]
    assert len(paged) == len(subjects)
    key = {"subject": lambda i: i["subject"], "contact": lambda i: i["contact"]["name"],
           "priority": lambda i: ["low", "medium", "high", "urgent"].index(i["priority"]),
           "owner": lambda i: i["owner_name"] or ""}.get(sort.lstrip("-"))
    if key is not None:
        values = [key(i) for i in paged]
        assert values == sorted(values, reverse=sort.startswith("-"))
