"""What schemathesis found on the live server, and what probing beside its findings turned
up: each kept as a test of its own."""

from __future__ import annotations

import pytest


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
