"""The chat widget's settings: the admin API, the page, the audit log, the script."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from connectors.webchat import service
from core.db import transaction
from tests.support import PASSWORD

GOOD = {"enabled": True, "allowed_origins": ["https://Shop.Example.org/", "http://localhost:8080"],
        "ask_details": "yes", "office_hours": True, "transcript": True,
        "greeting": "Hi! Ask us anything.", "email_after_minutes": 15}


async def test_admins_read_and_set_the_chat_with_its_snippet(client, admin) -> None:
    _, headers = admin
    before = (await client.get("/api/admin/chat/support", headers=headers)).json()
    assert before["enabled"] is False and before["allowed_origins"] == []
    assert before["snippet"] == ('<script src="http://testserver/widget.js" '
                                 'data-inbox="support" async></script>')
    saved = await client.put("/api/admin/chat/support", headers=headers, json=GOOD)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["allowed_origins"] == ["https://shop.example.org", "http://localhost:8080"]
    assert body["ask_details"] == "yes" and body["email_after_minutes"] == 15
    again = (await client.get("/api/admin/chat/support", headers=headers)).json()
    assert again == body


async def test_a_change_is_in_the_audit_log_and_saving_it_again_is_not(client, admin,
                                                                        runtime) -> None:
    _, headers = admin
    await client.put("/api/admin/chat/support", headers=headers, json=GOOD)
    await client.put("/api/admin/chat/support", headers=headers, json=GOOD)
    await client.put("/api/admin/chat/support", headers=headers,
                     json={**GOOD, "greeting": "Hello"})
    async with transaction(runtime.sessions) as session:
        entries = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "chat.updated").order_by(AuditEntry.id))).all()
    assert len(entries) == 2
    assert entries[1].before == {"greeting": "Hi! Ask us anything."}
    assert entries[1].after == {"greeting": "Hello"}
    assert entries[1].actor_name == "Ada Admin"


@pytest.mark.parametrize(("change", "field"), [
    ({"allowed_origins": ["shop.example.org"]}, "allowed_origins"),
    ({"allowed_origins": ["https://shop.example.org/path"]}, "allowed_origins"),
    ({"allowed_origins": ["ftp://shop.example.org"]}, "allowed_origins"),
    ({"allowed_origins": ["https://shop.example.org:99999"]}, "allowed_origins"),
    ({"allowed_origins": ["http://[::1"]}, "allowed_origins"),
    ({"allowed_origins": ["http://a shop.example.org"]}, "allowed_origins"),
    ({"allowed_origins": ["https://user@shop.example.org"]}, "allowed_origins"),
    ({"allowed_origins": []}, "allowed_origins"),  # chat on, nowhere to run
    ({"ask_details": "maybe"}, "ask_details"),
    ({"email_after_minutes": 0}, "email_after_minutes"),
    ({"greeting": "x" * 2001}, "greeting"),
])
async def test_bad_settings_answer_422_naming_the_field_and_store_nothing(
        client, admin, runtime, change, field) -> None:
    _, headers = admin
    response = await client.put("/api/admin/chat/support", headers=headers,
                                json={**GOOD, **change})
    assert response.status_code == 422, response.text
    assert field in response.text
    async with transaction(runtime.sessions) as session:
        assert (await service.get_settings(session, 1)) == service.ChatValues()


async def test_an_unknown_inbox_is_404(client, admin) -> None:
    _, headers = admin
    assert (await client.get("/api/admin/chat/nope", headers=headers)).status_code == 404
    response = await client.put("/api/admin/chat/nope", headers=headers, json=GOOD)
    assert response.status_code == 404


async def _login(client, email: str) -> str:
    response = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303
    page = await client.get("/admin/chat")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def test_the_page_saves_through_a_plain_form_and_shows_a_refusal(client, admin,
                                                                       runtime) -> None:
    csrf = await _login(client, "admin@example.com")
    page = await client.get("/admin/chat")
    assert "Chat widget" in page.text and "data-inbox=&#34;support&#34;" in page.text
    bad = await client.post("/admin/chat/support", data={
        "csrf_token": csrf, "enabled": "yes", "allowed_origins": "not a site",
        "ask_details": "optional", "email_after_minutes": "10"})
    assert bad.status_code == 422 and "not a site address" in bad.text
    assert "not a site" in bad.text  # the draft is kept
    good = await client.post("/admin/chat/support", data={
        "csrf_token": csrf, "enabled": "yes",
        "allowed_origins": "https://shop.example.org\r\nhttps://www.example.org\r\n",
        "ask_details": "no", "transcript": "yes", "greeting": "Hi",
        "email_after_minutes": "5"})
    assert good.status_code == 303
    async with transaction(runtime.sessions) as session:
        values = await service.get_settings(session, 1)
    assert values == service.ChatValues(
        enabled=True, allowed_origins=("https://shop.example.org", "https://www.example.org"),
        ask_details="no", transcript=True, greeting="Hi", email_after_minutes=5)


async def test_agents_do_not_see_the_page(client, agent) -> None:
    await client.post("/login", data={"email": "agent@example.com", "password": PASSWORD})
    assert (await client.get("/admin/chat")).status_code == 404


async def test_the_script_may_be_loaded_by_any_site(client) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "eval(" not in response.text and "innerHTML" not in response.text
    assert "/chat/socket" in response.text
