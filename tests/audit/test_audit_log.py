"""The audit log: recorded in the change's transaction, read newest first with filters, by
the API and the console's page; nobody but an admin sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from accounts.models import User
from audit import service as audit
from audit.models import AuditEntry
from core.db import transaction
from tests.support import PASSWORD


async def _record(runtime, user_id: int | None, action: str, subject_type: str, summary: str,
                  **values) -> None:
    async with transaction(runtime.sessions) as session:
        actor = await session.get(User, user_id) if user_id else None
        await audit.record_change(session, actor=actor, action=action,
                                  subject_type=subject_type, subject_id=7, summary=summary,
                                  **values)


async def test_an_entry_is_kept_only_with_its_change(runtime, admin):
    user_id, _ = admin

    class Refused(Exception):
        pass

    try:
        async with transaction(runtime.sessions) as session:
            actor = await session.get(User, user_id)
            await audit.record_change(session, actor=actor, action="inbox.updated",
                                      subject_type="inbox", subject_id=1, summary="renamed")
            raise Refused
    except Refused:
        pass
    await _record(runtime, user_id, "inbox.created", "inbox", "Inbox Sales created",
                  after={"name": "Sales", "since": datetime(2026, 1, 2, tzinfo=UTC),
                         "addresses": ("b@x.org", "a@x.org")})
    async with transaction(runtime.sessions) as session:
        rows = (await session.scalars(select(AuditEntry))).all()
    assert [(r.action, r.actor_name, r.subject_id) for r in rows] == [
        ("inbox.created", "Ada Admin", "7")]
    assert rows[0].before is None
    assert rows[0].after == {"name": "Sales", "since": "2026-01-02T00:00:00+00:00",
                             "addresses": ["b@x.org", "a@x.org"]}


def test_changed_only_keeps_what_differs():
    assert audit.changed_only({"name": "A", "role": "agent", "x": 1},
                              {"name": "B", "role": "agent", "y": 2}) == (
        {"name": "A", "x": 1, "y": None}, {"name": "B", "x": None, "y": 2})


async def test_the_api_lists_newest_first_with_filters_and_pages(runtime, client, admin, agent):
    user_id, boss = admin
    for n in range(5):
        await _record(runtime, user_id, "team.updated", "team", f"change {n}")
    await _record(runtime, None, "inbox.created", "inbox", "seeded from config.toml")
    everything = (await client.get("/api/admin/audit", headers=boss)).json()
    assert [e["summary"] for e in everything["items"]] == [
        "seeded from config.toml", "change 4", "change 3", "change 2", "change 1", "change 0"]
    assert everything["items"][0]["actor_name"] == audit.SYSTEM

    first = (await client.get("/api/admin/audit?subject_type=team&limit=2",
                              headers=boss)).json()
    assert [e["summary"] for e in first["items"]] == ["change 4", "change 3"]
    second = (await client.get(f"/api/admin/audit?subject_type=team&limit=2"
                               f"&cursor={first['next_cursor']}", headers=boss)).json()
    assert [e["summary"] for e in second["items"]] == ["change 2", "change 1"]
    by_actor = (await client.get(f"/api/admin/audit?actor_id={user_id}&action=team.",
                                 headers=boss)).json()
    assert len(by_actor["items"]) == 5
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (await client.get(f"/api/admin/audit?from={tomorrow}", headers=boss)).json()
    assert later["items"] == []

    _, al = agent
    assert (await client.get("/api/admin/audit", headers=al)).status_code == 403
    backwards = await client.get(
        f"/api/admin/audit?from={tomorrow}&to=2026-01-01T00:00:00Z", headers=boss)
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "to"


async def _sign_in(client, email: str) -> None:
    login = await client.post("/login", data={"email": email, "password": PASSWORD,
                                              "next": "/"})
    assert login.status_code == 303


async def test_the_page_shows_entries_and_filters(runtime, client, admin, agent):
    user_id, _ = admin
    await _record(runtime, user_id, "team.created", "team", "Team Billing created",
                  after={"name": "Billing"})
    await _record(runtime, None, "inbox.created", "inbox", "Inbox Sales seeded")
    await _sign_in(client, "admin@example.com")
    page = await client.get("/admin/audit", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Team Billing created" in page.text and "Inbox Sales seeded" in page.text
    filtered = await client.get("/admin/audit?subject=team&since=2000-01-01&until=9000-01-01")
    assert "Team Billing created" in filtered.text
    assert "Inbox Sales seeded" not in filtered.text
    overview = await client.get("/admin")
    assert 'href="/admin/audit"' in overview.text


async def test_an_agent_is_told_the_console_does_not_exist(runtime, client, agent):
    await _sign_in(client, "agent@example.com")
    for path in ("/admin", "/admin/audit"):
        page = await client.get(path, headers={"accept": "text/html"})
        assert page.status_code == 404
        assert "Not found" in page.text
        as_json = await client.get(path)
        assert as_json.status_code == 404
        assert as_json.json()["error"]["code"] == "not_found"
    inbox = await client.get("/")
    assert 'href="/admin"' not in inbox.text


async def test_webhook_and_inbox_member_changes_through_the_api_are_logged(runtime, client,
                                                                           admin, agent):
    _, boss = admin
    agent_id, _ = agent
    made = await client.post("/api/webhooks", headers=boss, json={
        "url": "https://hooks.example.org/in", "events": ["ticket.changed"], "active": False})
    assert made.status_code == 201, made.text
    hook = made.json()["id"]
    assert (await client.patch(f"/api/webhooks/{hook}", headers=boss,
                               json={"events": ["sla.breached"]})).status_code == 200
    assert (await client.post(f"/api/webhooks/{hook}/rotate-secret",
                              headers=boss)).status_code == 200
    assert (await client.delete(f"/api/webhooks/{hook}", headers=boss)).status_code == 204
    members = await client.put("/api/inboxes/support/members", headers=boss,
                               json={"team_ids": [], "user_ids": []})
    assert members.status_code == 200, members.text

    log = (await client.get("/api/admin/audit", headers=boss)).json()["items"]
    assert [e["action"] for e in log] == [
        "inbox.members", "webhook.deleted", "webhook.secret_rotated", "webhook.updated",
        "webhook.created"]
    assert log[3]["before"] == {"events": ["ticket.changed"]}
    assert log[3]["after"] == {"events": ["sla.breached"]}
    assert log[0]["before"]["user_ids"] == [agent_id] and log[0]["after"]["user_ids"] == []
    assert made.json()["secret"] not in str(log)
