"""Bad input is a 4xx naming the field on every route, and changes nothing: text UTF-8
cannot encode, JSON types that are not the documented ones, dates out of range, and bodies
over the cap (refused before they are read whole)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from accounts.models import Team, User
from core.db import transaction
from inbox.models import Conversation, Message
from sla.models import SlaPolicyVersion
from tests.support import PASSWORD, submit_form
from tickets.models import Ticket, TicketHistory
from web.middleware import unencodable_json_field, unsafe_multipart_charset

MODELS = (Conversation, Message, Ticket, TicketHistory, User, Team, SlaPolicyVersion)


async def stored(runtime) -> tuple[int, ...]:
    """How many rows each writable table holds."""
    async with transaction(runtime.sessions) as session:
        return tuple([await session.scalar(select(func.count()).select_from(model))
                      for model in MODELS])


@pytest.fixture
async def desk(client, runtime, admin) -> dict[str, Any]:
    """A ticket from the contact form, its conversation, and an admin's headers."""
    _, headers = admin
    number = (await submit_form(client)).json()["ticket_number"]
    second = (await submit_form(client, email="bo@example.org")).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    return {"headers": headers, "ticket": number, "other": second,
            "conversation": ticket["conversation_ids"][0]}


# ------------------------------------------------------------- lone surrogates

LONE = "a\ud800"  # json.dumps writes it as the escape a\ud800

# Every route that takes a JSON body, with a body that is valid but for one string.
SURROGATE_ROUTES = [
    ("POST", "/api/session", {"email": LONE, "password": PASSWORD}, "email", False),
    ("POST", "/api/session", {"email": "agent@example.com", "password": LONE}, "password",
     False),
    ("POST", "/forms/contact", {"name": "Anna", "email": "anna@example.org",
                                "subject": LONE, "message": "hello"}, "subject", False),
    ("PATCH", "/api/conversations/{conversation}", {"status": LONE}, "status", True),
    ("POST", "/api/conversations/{conversation}/messages", {"kind": "comment", "text": LONE},
     "text", True),
    ("PATCH", "/api/tickets/{ticket}", {"description": LONE}, "description", True),
    ("PATCH", "/api/tickets/{ticket}", {"category": "ok", "name": LONE}, "name", True),
    ("POST", "/api/tickets/{ticket}/merge", {"other_id": 2, "primary_id": 1, LONE: 1},
     "a\\ud800", True),
    ("POST", "/api/users", {"email": "x@example.com", "name": LONE, "password": "longenough"},
     "name", True),
    ("POST", "/api/teams", {"name": "Tier 2", "member_ids": [1], "extra": [1, {"x": LONE}]},
     "extra.1.x", True),
    ("PUT", "/api/sla/settings", {"paused_statuses": ["waiting_on_contact", LONE]},
     "paused_statuses.1", True),
]


@pytest.mark.parametrize("method, path, body, field, authenticated", SURROGATE_ROUTES)
async def test_lone_surrogates_are_422_naming_the_field_and_store_nothing(
        client, runtime, desk, method, path, body, field, authenticated):
    before = await stored(runtime)
    headers = (desk["headers"] if authenticated else {}) | {"Content-Type": "application/json"}
    response = await client.request(method, path.format(**desk), content=json.dumps(body),
                                    headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "code": "invalid", "field": field,
        "message": "text must be valid Unicode (it holds a lone surrogate)"}
    assert await stored(runtime) == before


@pytest.mark.parametrize("raw, content_type", [
    (b'{"subject": "\\udfff tail"}', "application/json"),                 # escaped low half
    (b'{"subject": "\xed\xa0\x80"}', "application/json"),                # raw CESU bytes
    ('{"subject": "a\\ud800"}'.encode("utf-16"), "application/json"),    # UTF-16 body
    (b'{"subject": "\\ud800\\ud800"}', "application/json; charset=utf-8"),  # two highs
    (b'{"subject": "\\ude00\\ud83d"}', "text/json"),                     # reversed pair
])
async def test_every_spelling_of_a_lone_surrogate_is_refused(client, runtime, raw,
                                                             content_type):
    response = await client.post("/forms/contact", content=raw,
                                 headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "subject"
    assert await stored(runtime) == (0, 0, 0, 0, 0, 0, 0)


async def test_real_astral_characters_and_escaped_backslashes_are_kept(client, desk):
    """A surrogate pair is one character (an emoji), and `\\\\ud800` is plain text."""
    text = "Printer on \U0001f525, path C:\\ud800\\x"
    body = b'{"kind": "comment", "text": "Printer on \\ud83d\\udd25, path C:\\\\ud800\\\\x"}'
    path = f"/api/conversations/{desk['conversation']}/messages"
    created = await client.post(path, content=body, headers=desk["headers"] | {
        "Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.json()["text"] == text


@pytest.mark.parametrize("body, path", [
    (b'"\\ud800"', ()),
    (b'{"a": ["ok", {"b": "\\ud800"}]}', ("a", "1", "b")),
    (b'{"\\ud800": 1}', ("\\ud800",)),
    (b'{"first": "\\ud800", "second": "\\udc00"}', ("first",)),
    (b'{"a": "\\ud83d\\ude00"}', None),
    (b'{"a": "\\\\ud800"}', None),
    (b'{"a": "\xf0\x9f\x98\x80"}', None),
    (b"{not json \\ud800", None),
    (b"", None),
    (b"[" * 100_000 + b'"\\ud800"', None),
])
def test_unencodable_json_field_table(body, path):
    assert unencodable_json_field(body) == path


@pytest.mark.parametrize("content_type, refused", [
    ("multipart/form-data; boundary=x", None),
    ("multipart/form-data; boundary=x; charset=utf-8", None),
    ("multipart/form-data; charset=UTF8; boundary=x", None),
    ("multipart/form-data; boundary=x; charset=latin-1", None),
    ("multipart/form-data; boundary=x; charset=utf-7", "utf-7"),
    ('multipart/form-data; boundary=x; charset="unicode_escape"', "unicode_escape"),
    ("multipart/form-data; boundary=x; charset=no-such-codec", "no-such-codec"),
    ("application/x-www-form-urlencoded; charset=utf-7", None),
])
def test_multipart_charset_table(content_type, refused):
    assert unsafe_multipart_charset(content_type) == refused


async def test_a_multipart_form_in_a_charset_that_decodes_to_surrogates_is_415(client, runtime):
    body = (b"--x\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n"
            b"\\ud800\r\n--x--\r\n")
    response = await client.post("/forms/contact", content=body, headers={
        "Content-Type": "multipart/form-data; boundary=x; charset=unicode_escape"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert await stored(runtime) == (0, 0, 0, 0, 0, 0, 0)


async def test_surrogate_bytes_in_forms_queries_and_paths_become_replacement_characters(
        client, runtime, desk):
    """The server and Starlette decode these with errors='replace': nothing to refuse."""
    form = await client.post("/forms/contact", content=(
        b"name=Anna&email=anna%40example.org&subject=%ED%A0%80&message=hi"),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200 and "Thank you" in form.text
    listed = await client.get("/api/conversations", headers=desk["headers"])
    assert listed.json()["items"][0]["subject"] == "\ufffd" * 3
    searched = await client.get("/api/conversations?q=%ED%A0%80", headers=desk["headers"])
    assert searched.status_code == 200 and searched.json()["items"] == []  # no word in it
    path = await client.get("/api/tickets/%ED%A0%80", headers=desk["headers"])
    assert path.status_code == 422 and path.json()["error"]["field"] == "ticket_id"


# ------------------------------------------------------------- strict JSON types

STRICT_CASES = [
    ("PATCH", "/api/conversations/{conversation}", {"owner_id": True}, "owner_id"),
    ("PATCH", "/api/conversations/{conversation}", {"owner_id": 1.0}, "owner_id"),
    ("PATCH", "/api/conversations/{conversation}", {"owner_id": "1"}, "owner_id"),
    ("PATCH", "/api/conversations/{conversation}", {"owner": 1}, "owner"),
    ("PATCH", "/api/tickets/{ticket}", {"owner_id": True}, "owner_id"),
    ("PATCH", "/api/tickets/{ticket}", {"team_id": False}, "team_id"),
    ("PATCH", "/api/tickets/{ticket}", {"name": 5}, "name"),
    ("POST", "/api/tickets/{ticket}/merge", {"other_id": True, "primary_id": 1}, "other_id"),
    ("POST", "/api/conversations/{conversation}/messages", {"kind": "comment", "text": 1},
     "text"),
    ("POST", "/api/teams", {"name": "Tier 2", "member_ids": [True]}, "member_ids.0"),
    ("POST", "/api/users", {"email": "x@example.com", "name": "X", "password": 12345678},
     "password"),
    ("PUT", "/api/sla/settings", {"goals": {"first_response": {"minutes": True}}},
     "goals.first_response.minutes"),
    ("PUT", "/api/sla/settings", {"calendars": [{"team_id": True, "timezone": "UTC",
                                                 "hours": {}}]}, "calendars.0.team_id"),
]


@pytest.mark.parametrize("method, path, body, field", STRICT_CASES)
async def test_a_boolean_is_not_an_id_nor_a_string_a_number(client, runtime, desk, method,
                                                            path, body, field):
    before = await stored(runtime)
    ticket_before = (await client.get(f"/api/tickets/{desk['ticket']}",
                                      headers=desk["headers"])).json()
    response = await client.request(method, path.format(**desk), json=body,
                                    headers=desk["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await stored(runtime) == before
    after = (await client.get(f"/api/tickets/{desk['ticket']}", headers=desk["headers"]))
    assert after.json() == ticket_before


async def test_numbers_in_query_and_path_text_still_work(client, desk):
    admin_id = (await client.get("/api/me", headers=desk["headers"])).json()["id"]
    assigned = await client.patch(f"/api/conversations/{desk['conversation']}",
                                  json={"owner_id": admin_id}, headers=desk["headers"])
    assert assigned.status_code == 200 and assigned.json()["owner_id"] == admin_id
    listed = await client.get("/api/conversations", params={"owner_id": str(admin_id),
                                                            "limit": "5"},
                              headers=desk["headers"])
    assert [c["id"] for c in listed.json()["items"]] == [desk["conversation"]]
    hours = {"mon": [["09:00", "17:00"]]}
    saved = await client.put("/api/sla/settings", headers=desk["headers"], json={
        "mode": "working_hours", "goals": {"first_response": {"minutes": 60}},
        "calendars": [{"timezone": "UTC", "hours": hours, "holidays": ["2026-12-24"]}]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["calendars"][0]["holidays"] == ["2026-12-24"]


# ------------------------------------------------------------- dates in range


@pytest.mark.parametrize("start, end, field", [
    ("0001-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "from"),
    ("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00Z", "from"),
    ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "to"),
    ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "to"),
    ("1899-12-31T23:59:59Z", "2026-01-01T00:00:00Z", "from"),
    ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00", "to"),
])
async def test_report_dates_out_of_range_are_422_naming_the_field(client, desk, start, end,
                                                                  field):
    response = await client.get("/api/sla/report", headers=desk["headers"],
                                params={"from": start, "to": end})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_report_takes_the_whole_range(client, desk):
    response = await client.get("/api/sla/report", headers=desk["headers"], params={
        "from": "1900-01-01T00:00:00+14:00", "to": "8999-12-31T23:59:59-12:00"})
    assert response.status_code == 200, response.text


# ------------------------------------------------------------- the body cap

CAP = 4096


@pytest.fixture
def settings_overrides() -> dict:
    return {"http": {"max_body_bytes": CAP}}


class Feed:
    """A request body sent in chunks, counting how many the server pulled."""

    def __init__(self, chunk: bytes, chunks: int):
        self.chunk, self.chunks, self.pulled = chunk, chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


def assert_too_large(response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {"error": {
        "code": "too_large", "message": f"request body larger than {CAP} bytes"}}


@pytest.mark.parametrize("content_type", ["application/json", "text/plain",
                                          "application/x-www-form-urlencoded"])
async def test_a_declared_body_over_the_cap_is_413_unread(client, runtime, content_type):
    """The observed 100 MB login: refused on its Content-Length, before a byte is read."""
    feed = Feed(b"x" * 1024 * 1024, 100)
    response = await client.post("/api/session", content=feed, headers={
        "Content-Type": content_type, "Content-Length": str(100 * 1024 * 1024)})
    assert_too_large(response)
    assert feed.pulled == 0


@pytest.mark.parametrize("path, content_type, authenticated", [
    ("/api/session", "application/json", False),
    ("/forms/contact", "application/json", False),
    ("/forms/contact", "application/x-www-form-urlencoded", False),
    ("/api/tickets/{ticket}", "application/json", True),
    ("/api/tickets/{ticket}", "application/merge-patch+json", True),
    ("/api/tickets/{ticket}", "text/plain", True),
])
async def test_a_chunked_body_over_the_cap_is_413_and_reading_stops_there(
        client, runtime, desk, path, content_type, authenticated):
    before = await stored(runtime)
    feed = Feed(b"x" * 1024, 1000)
    method = "PATCH" if path.startswith("/api/tickets") else "POST"
    response = await client.request(method, path.format(**desk), content=feed, headers={
        "Content-Type": content_type} | (desk["headers"] if authenticated else {}))
    assert "content-length" not in response.request.headers
    assert_too_large(response)
    assert feed.pulled <= CAP // 1024 + 1
    assert await stored(runtime) == before


async def test_bodies_under_the_cap_are_taken_chunked_or_not(client, desk):
    body = b'{"priority": "high", "description": "' + b"d" * 3000 + b'"}'
    whole = await client.patch(f"/api/tickets/{desk['ticket']}", content=body,
                               headers=desk["headers"] | {"Content-Type": "application/json"})
    assert whole.status_code == 200 and whole.json()["priority"] == "high"
    feed = Feed(b'{"priority": "low"}', 1)
    chunked = await client.patch(f"/api/tickets/{desk['ticket']}", content=feed,
                                 headers=desk["headers"] | {"Content-Type": "application/json"})
    assert chunked.status_code == 200 and chunked.json()["priority"] == "low"


@pytest.mark.parametrize("settings_overrides", [{"http": {"max_body_bytes": 1024 * 1024}}])
async def test_the_public_forms_keep_their_own_smaller_cap(client, runtime):
    """Forms stop at 256 KiB even when the server takes a MiB."""
    response = await submit_form(client, message="m" * 300_000)
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "submission larger than 256 KiB"
    assert await stored(runtime) == (0, 0, 0, 0, 0, 0, 0)
