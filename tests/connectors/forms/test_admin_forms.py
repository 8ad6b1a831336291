"""Forms kept in the database: seeding from config.toml, the admin API, the public page
reading the database at each request, custom values reaching the conversation, the audit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import server
from audit.models import AuditEntry
from connectors.forms import service
from connectors.forms.models import WebForm
from core.db import transaction
from core.runtime import Runtime
from inbox.models import Message
from tests.support import client_for, make_queue

DEPARTMENT = {"name": "department", "label": "Department", "type": "select",
              "required": True, "options": ["Billing", "Repairs"]}
NEWS = {"name": "news", "label": "Send me news", "type": "checkbox"}
BUILT_IN = [{"name": "name", "label": "Your name", "required": True},
            {"name": "email", "label": "Email", "type": "email", "required": True,
             "max_length": 254},
            {"name": "message", "label": "Message", "type": "textarea", "required": True,
             "max_length": 5000}]
NEW_FORM = {"slug": "repairs", "title": "Repairs", "inbox": "support", "intro": "Tell us.",
            "thanks": "Thanks, we are on it.", "rate_limit_per_minute": 100,
            "fields": [*BUILT_IN, DEPARTMENT, NEWS]}
SUBMISSION = {"name": "Anna", "email": "anna@example.org", "message": "It broke.",
              "department": "Repairs", "news": "yes"}


async def audit_actions(runtime: Runtime) -> list[tuple[str, str | None]]:
    async with transaction(runtime.sessions) as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(row.action, row.subject_id) for row in rows if row.subject_type == "form"]


async def test_config_forms_seed_the_database_once(runtime):
    async with transaction(runtime.sessions) as session:
        [form] = await service.list_forms(session)
    assert (form.spec.slug, form.spec.inbox, form.spec.title) == (
        "contact", "support", "Contact support")
    assert [f.name for f in form.spec.fields] == ["name", "email", "subject", "message"]
    assert await audit_actions(runtime) == []  # the file's doing, not an admin's
    await server.prepare_database(runtime)  # a restart: nothing new, nothing twice
    async with transaction(runtime.sessions) as session:
        assert [f.spec.slug for f in await service.list_forms(session)] == ["contact"]


async def test_the_database_wins_over_the_file_after_the_first_start(runtime, client, admin):
    _, headers = admin
    changed = await client.patch("/api/admin/forms/contact", headers=headers,
                                 json={"title": "Write to us"})
    assert changed.status_code == 200, changed.text
    await server.prepare_database(runtime)
    assert "Write to us" in (await client.get("/forms/contact")).text
    assert (await client.delete("/api/admin/forms/contact", headers=headers)).status_code == 204
    await server.prepare_database(runtime)  # a deleted form does not come back from the file
    assert (await client.get("/forms/contact")).status_code == 404


async def test_create_read_update_delete(client, runtime, admin):
    _, headers = admin
    created = await client.post("/api/admin/forms", headers=headers, json=NEW_FORM)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["url"] == "/forms/repairs" and body["submissions"] == 0
    assert body["fields"][3] == DEPARTMENT | {"max_length": 200}
    listed = await client.get("/api/admin/forms", headers=headers)
    assert [f["slug"] for f in listed.json()["items"]] == ["contact", "repairs"]
    page = await client.get("/forms/repairs")
    assert page.status_code == 200 and "Tell us." in page.text
    assert '<select id="field-department" name="department" required' in page.text
    assert 'type="checkbox" value="yes"' in page.text

    patched = await client.patch("/api/admin/forms/repairs", headers=headers,
                                 json={"intro": "Tell us more.", "fields": BUILT_IN})
    assert patched.status_code == 200, patched.text
    assert [f["name"] for f in patched.json()["fields"]] == ["name", "email", "message"]
    page = await client.get("/forms/repairs")  # the next request sees the change
    assert "Tell us more." in page.text and "department" not in page.text

    assert (await client.delete("/api/admin/forms/repairs", headers=headers)).status_code == 204
    assert (await client.get("/forms/repairs")).status_code == 404
    assert (await client.get("/api/admin/forms/repairs", headers=headers)).status_code == 404
    again = await client.post("/api/admin/forms", headers=headers, json=NEW_FORM)
    assert again.status_code == 201  # the slug of a deleted form can be used again
    assert await audit_actions(runtime) == [
        ("form.created", "repairs"), ("form.updated", "repairs"),
        ("form.deleted", "repairs"), ("form.created", "repairs")]


async def test_an_update_is_audited_with_what_changed(client, runtime, admin):
    _, headers = admin
    await client.patch("/api/admin/forms/contact", headers=headers,
                       json={"rate_limit_per_minute": 5})
    async with transaction(runtime.sessions) as session:
        entry = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                                       )).first()
    assert entry is not None and entry.actor_name == "Ada Admin"
    assert (entry.action, entry.before, entry.after) == (
        "form.updated", {"rate_limit_per_minute": 10}, {"rate_limit_per_minute": 5})


@pytest.mark.parametrize("change, status, field", [
    ({"slug": "contact"}, 409, "slug"),
    ({"inbox": "nowhere"}, 422, "inbox"),
    ({"slug": "Not A Slug"}, 422, None),
    ({"fields": [DEPARTMENT]}, 422, "fields"),
    ({"fields": [*BUILT_IN, DEPARTMENT | {"options": []}]}, 422, "fields.department.options"),
    ({"fields": [*BUILT_IN, NEWS, NEWS]}, 422, "fields"),
    ({"fields": [*BUILT_IN, NEWS | {"type": "radio"}]}, 422, None),
    ({"fields": [*BUILT_IN, NEWS | {"options": ["a"]}]}, 422, "fields.news.options"),
    ({"rate_limit_per_minute": 0}, 422, None),
    ({"title": ""}, 422, None),
    ({"extra": 1}, 422, None),
])
async def test_bad_forms_are_refused_and_store_nothing(client, runtime, admin, change,
                                                        status, field):
    _, headers = admin
    response = await client.post("/api/admin/forms", headers=headers, json=NEW_FORM | change)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["field"] == field
    async with transaction(runtime.sessions) as session:
        assert [f.spec.slug for f in await service.list_forms(session)] == ["contact"]
    assert await audit_actions(runtime) == []


async def test_a_rule_broken_by_a_patch_lists_every_problem(client, admin):
    _, headers = admin
    response = await client.patch("/api/admin/forms/contact", headers=headers, json={
        "fields": [{"name": "name", "label": "Name", "type": "textarea"},
                   DEPARTMENT | {"options": []}]})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {
        "fields", "fields.name.type", "fields.department.options"}


async def test_agents_may_not_see_or_change_forms(client, agent):
    _, headers = agent
    assert (await client.get("/api/admin/forms", headers=headers)).status_code == 403
    assert (await client.post("/api/admin/forms", headers=headers,
                              json=NEW_FORM)).status_code == 403


async def test_custom_values_arrive_in_the_conversation(client, runtime, admin):
    _, headers = admin
    await client.post("/api/admin/forms", headers=headers, json=NEW_FORM)
    sent = await client.post("/forms/repairs", data=SUBMISSION)
    assert sent.status_code == 200 and "Thanks, we are on it." in sent.text
    async with transaction(runtime.sessions) as session:
        [message] = (await session.scalars(select(Message))).all()
        form = await service.get_form(session, "repairs")
    assert message.text == "It broke.\n\nForm fields\nDepartment: Repairs\nSend me news: yes"
    assert message.meta["form_fields"] == [
        {"name": "department", "label": "Department", "value": "Repairs"},
        {"name": "news", "label": "Send me news", "value": "yes"}]
    assert form.submissions == 1
    conversation = await client.get("/api/conversations", headers=headers)
    assert conversation.json()["items"][0]["subject"] == "Repairs from Anna"


async def test_a_replayed_submission_counts_once(client, runtime):
    key = {"Idempotency-Key": "k-1"}
    data: dict[str, Any] = {"name": "A", "email": "a@example.org", "subject": "S",
                            "message": "M"}
    for _ in range(2):
        assert (await client.post("/forms/contact", json=data, headers=key)).status_code == 201
    async with transaction(runtime.sessions) as session:
        assert (await service.get_form(session, "contact")).submissions == 1


async def test_a_bad_choice_is_refused_on_the_page(client, runtime, admin):
    _, headers = admin
    await client.post("/api/admin/forms", headers=headers, json=NEW_FORM)
    sent = await client.post("/forms/repairs", data=SUBMISSION | {"department": "Sales"})
    assert sent.status_code == 422
    assert "Department must be one of the choices offered" in sent.text
    assert "<option selected>Repairs</option>" not in sent.text
    async with transaction(runtime.sessions) as session:
        assert (await session.scalars(select(Message))).all() == []


async def test_a_change_shows_on_another_server_process_at_its_next_request(client, runtime,
                                                                          admin):
    other = await Runtime.start(runtime.settings, install=server.install,
                                queue=make_queue(runtime.settings))
    try:
        async with client_for(server.create_app(runtime=other)) as elsewhere:
            assert "Contact support" in (await elsewhere.get("/forms/contact")).text
            await client.patch("/api/admin/forms/contact", headers=admin[1],
                               json={"title": "Talk to us"})
            assert "Talk to us" in (await elsewhere.get("/forms/contact")).text
    finally:
        await other.close()


async def test_the_public_page_may_be_framed_by_other_sites(client):
    page = await client.get("/forms/contact")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors *" in policy and "script-src" not in policy


async def test_a_form_whose_inbox_is_gone_takes_nothing(client, runtime):
    async with transaction(runtime.sessions) as session:
        row = await session.scalar(select(WebForm).where(WebForm.slug == "contact"))
        assert row is not None
        row.inbox_id = None
    assert (await client.get("/forms/contact")).status_code == 404
