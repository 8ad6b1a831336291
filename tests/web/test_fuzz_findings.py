"""What schemathesis found on the live server, and what probing beside its findings turned
up: each kept as a test of its own."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support import PASSWORD, submit_form
from web.middleware import nul_in_query


async def test_a_team_name_taken_in_another_case_of_non_ascii_letters_is_409(client, admin):
    """POST /api/teams twice with the same non-ASCII name was a 500 on SQLite (its lower()
    folds ASCII only, so the duplicate check missed and the unique index refused)."""
    _, headers = admin
    name = "Ãú\U0006bd63©¬"
    first = await client.post("/api/teams", headers=headers, json={"name": name})
    again = await client.post("/api/teams", headers=headers, json={"name": name})
    assert (first.status_code, again.status_code) == (201, 409)
    assert again.json()["error"]["field"] == "name"


@pytest.mark.parametrize("path, status", [("/forms/contact", 422), ("/api/session", 400),
                                          ("/api/teams", 400)])
async def test_json_nested_too_deep_is_a_4xx(client, runtime, admin, path, status):
    """A public form's JSON nested 100,000 deep was a 500 (RecursionError); the API routes
    answer FastAPI's 400 for a body it cannot read."""
    _, headers = admin
    response = await client.post(path, content=b"[" * 100_000, headers=headers | {
        "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]["code"] in ("invalid", "bad_request")


@pytest.mark.parametrize("path", ["/api/tickets", "/api/conversations"])
@pytest.mark.parametrize("q", ["³", "#²", "١٢", "#42"])
async def test_a_search_for_digits_that_are_not_ascii_is_text(client, agent, path, q):
    """GET /api/tickets?q=³ was a 500: "³".isdigit() holds but int("³") fails."""
    _, headers = agent
    response = await client.get(path, params={"q": q}, headers=headers)
    assert response.status_code == 200 and response.json()["items"] == []


@pytest.mark.parametrize("path", ["/api/session", "/forms/contact"])
async def test_a_content_length_of_superscript_digits_is_no_length(client, path):
    """Latin-1 header text may hold "³", which isdigit() takes for a digit."""
    response = await client.post(path, content=b"{}", headers={
        "Content-Type": "application/json", "Content-Length": b"\xb3"})
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/api/tickets", "/api/conversations"])
@pytest.mark.parametrize("parameter", ["q", "status", "cursor", "inbox", "sort"])
async def test_a_nul_in_a_query_parameter_is_422_naming_it(client, agent, path, parameter):
    """GET /api/tickets?status=%00 was a 500 on PostgreSQL, whose text cannot hold NUL."""
    _, headers = agent
    response = await client.get(f"{path}?limit=5&{parameter}=a%00b", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid", "field": parameter,
                                         "message": "text must not hold a NUL character"}


async def test_a_nul_in_the_path_is_422(client, agent):
    _, headers = agent
    response = await client.get("/forms/contact%00", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "the path: text must not hold a NUL character")


@pytest.mark.parametrize("query, name", [
    (b"", None), (b"q=a&status=open", None), (b"q=%00", "q"), (b"q=a&status=x%00y", "status"),
    (b"a%00b=1", "a\\x00b"), (b"q=%C0%80", None), (b"q=%ED%A0%80", None),
])
def test_nul_in_query_table(query, name):
    assert nul_in_query(query) == name


def made_up_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path, sort", [("/api/tickets", "-created_at"),
                                        ("/api/tickets", "priority"),
                                        ("/api/tickets", "sla_due_at"),
                                        ("/api/conversations", "-last_message_at")])
@pytest.mark.parametrize("cursor", [
    ["2026-01-01T00:00:00+00:00", 2**70], ["0001-01-01T00:00:00+14:00", 1],
    ["9999-12-31T23:59:59-14:00", 1], ["2026-01-01T00:00:00", 1], [2**80, 1], [True, 1],
])
async def test_a_made_up_cursor_is_422(client, agent, path, sort, cursor):
    """A cursor is base64 JSON anyone can write: ids past 32 bits could not be bound (500 on
    both databases), and times near year 1 or 9999 overflowed moving to UTC."""
    _, headers = agent
    await submit_form(client)
    response = await client.get(path, headers=headers, params={
        "sort": sort, "cursor": made_up_cursor(cursor)})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "cursor"


async def test_a_csrf_token_with_latin_1_letters_is_403(client, agent):
    """hmac.compare_digest raises TypeError on str with non-ASCII letters: such a header
    was a 500 for a cookie session's write."""
    login = await client.post("/api/session", json={"email": "agent@example.com",
                                                    "password": PASSWORD})
    assert login.status_code == 200
    response = await client.post("/api/teams", json={"name": "T"},
                                 headers={"X-CSRF-Token": b"\xe9t\xe9"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
