"""The forms and webhooks admin pages without a script: plain posts answered by 303, a
refused change shown again (4xx) saying what is wrong and storing nothing, anyone but an
admin answered 404, a post without the CSRF token 403. Never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.forms import service as forms
from core.db import transaction
from tests.support import PASSWORD, add_to_inbox, add_user
from webhooks.models import Subscription

PAGE = {"Accept": "text/html"}


@pytest.fixture
def settings_overrides() -> dict:
    return {"webhooks": {"allow_private_targets": False}}


async def sign_in(client, runtime, email: str, role: str) -> str:
    user_id, _ = await add_user(runtime, email, role, email.split("@")[0].title())
    if role == "agent":
        await add_to_inbox(runtime, "support", user_ids=(user_id,))
    answer = await client.post("/api/session", json={"email": email, "password": PASSWORD})
    return answer.json()["csrf_token"]


@pytest.fixture
async def csrf(client, runtime) -> str:
    return await sign_in(client, runtime, "ada@example.com", "admin")


def settings_form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "title": "Repairs", "inbox": "support", "intro": "",
            "thanks": "Thanks", "rate_limit_per_minute": "10"} | fields


def field_form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "label": "Department", "name": "department", "type": "select",
            "options": "Billing\nRepairs", "max_length": "200", "required": "yes"} | fields


async def slugs(runtime) -> list[str]:
    async with transaction(runtime.sessions) as session:
        return [f.spec.slug for f in await forms.list_forms(session)]


async def field_names(runtime, slug: str = "contact") -> list[str]:
    async with transaction(runtime.sessions) as session:
        return [f.name for f in (await forms.get_form(session, slug)).spec.fields]


async def test_make_and_edit_a_form_by_plain_posts(client, runtime, csrf):
    made = await client.post("/admin/forms/new", data=settings_form(csrf, slug="repairs"))
    assert (made.status_code, made.headers["location"]) == (
        303, "/admin/forms/repairs?done=created")
    page = await client.get("/admin/forms/repairs?done=created")
    assert page.status_code == 200 and "Form created" in page.text
    assert '&lt;iframe src=&#34;http://testserver/forms/repairs&#34;' in page.text
    added = await client.post("/admin/forms/repairs/fields", data=field_form(csrf))
    assert added.status_code == 303
    assert (await client.post("/admin/forms/repairs/fields/department/up",
                              data={"csrf_token": csrf})).status_code == 303
    assert (await client.post("/admin/forms/repairs/fields/subject/remove",
                              data={"csrf_token": csrf})).status_code == 303
    assert await field_names(runtime, "repairs") == ["name", "email", "department", "message"]
    saved = await client.post("/admin/forms/repairs", data=settings_form(
        csrf, title="Repairs desk", rate_limit_per_minute="3"))
    assert saved.status_code == 303
    listing = await client.get("/admin/forms?done=saved")
    assert "Repairs desk" in listing.text
    gone = await client.post("/admin/forms/repairs/delete", data={"csrf_token": csrf})
    assert (gone.status_code, gone.headers["location"]) == (303, "/admin/forms?done=deleted")
    assert await slugs(runtime) == ["contact"]


@pytest.mark.parametrize("fields, status, message", [
    ({"slug": "contact"}, 409, "a form &#39;contact&#39; exists already"),
    ({"slug": "No Good"}, 422, "slug must be lower-case letters"),
    ({"slug": "fine", "rate_limit_per_minute": "many"}, 422, "rate limit must be a whole number"),
    ({"slug": "fine", "rate_limit_per_minute": "0"}, 422, "rate limit must be 1 to 10000"),
    ({"slug": "fine", "inbox": "nowhere"}, 422, "no inbox &#39;nowhere&#39;"),
    ({"slug": "fine", "title": ""}, 422, "title must be 1 to 200 characters"),
    ({"slug": "fine", "intro": "x" * 2001}, 422, "intro must be at most 2000 characters"),
])
async def test_a_refused_new_form_is_shown_again(client, runtime, csrf, fields, status, message):
    answer = await client.post("/admin/forms/new", data=settings_form(csrf, **fields))
    assert answer.status_code == status and message in answer.text
    assert 'role="alert"' in answer.text
    assert await slugs(runtime) == ["contact"]


@pytest.mark.parametrize("fields, message", [
    ({"options": ""}, "a select field needs at least one option"),
    ({"name": "Bad Name"}, "name must start with a letter"),
    ({"name": "email", "type": "text"}, "field names must differ"),
    ({"name": "message", "type": "checkbox", "options": ""}, "always of type textarea"),
    ({"type": "radio"}, "type must be one of"),
    ({"max_length": "lots"}, "max length must be a whole number"),
    ({"label": ""}, "label must be 1 to 200 characters"),
])
async def test_a_refused_field_is_shown_again_with_what_was_typed(client, runtime, csrf,
                                                                 fields, message):
    answer = await client.post("/admin/forms/contact/fields", data=field_form(csrf, **fields))
    assert answer.status_code == 422 and message in answer.text
    assert await field_names(runtime) == ["name", "email", "subject", "message"]


async def test_the_email_field_cannot_be_removed(client, runtime, csrf):
    answer = await client.post("/admin/forms/contact/fields/email/remove",
                               data={"csrf_token": csrf})
    assert answer.status_code == 422 and "a form needs its email field" in answer.text
    assert await field_names(runtime) == ["name", "email", "subject", "message"]


@pytest.mark.parametrize("path", ["/admin/forms/nope", "/admin/forms/nope/fields",
                                  "/admin/forms/nope/delete",
                                  "/admin/forms/nope/fields/name/up"])
async def test_an_unknown_form_is_404(client, csrf, path):
    answer = await client.post(path, data=field_form(csrf), headers=PAGE)
    assert answer.status_code == 404


async def test_agents_and_strangers_do_not_see_the_pages(client, runtime):
    for path in ("/admin/forms", "/admin/forms/contact", "/admin/webhooks"):
        assert (await client.get(path)).status_code == 303  # to the login page
    await sign_in(client, runtime, "al@example.com", "agent")
    for path in ("/admin/forms", "/admin/forms/new", "/admin/forms/contact",
                 "/admin/webhooks"):
        assert (await client.get(path, headers=PAGE)).status_code == 404


async def test_a_post_without_the_csrf_token_is_refused(client, runtime, csrf):
    answer = await client.post("/admin/forms/contact/fields/subject/remove", data={})
    assert answer.status_code == 403
    assert await field_names(runtime) == ["name", "email", "subject", "message"]
    refused = await client.post("/admin/webhooks", data={"url": "https://h.example.org/x",
                                                         "events": "ticket.changed"})
    assert refused.status_code == 403


async def webhook_count(runtime) -> int:
    async with transaction(runtime.sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(Subscription)) or 0)


@pytest.mark.parametrize("data, message", [
    ({"url": "https://hooks.example.org/x"}, "name at least one event"),
    ({"url": "ftp://hooks.example.org/x", "events": "ticket.changed"}, "url "),
    ({"url": "http://127.0.0.1:9/x", "events": "ticket.changed"}, "url "),
    ({"url": "https://hooks.example.org/x", "events": "ticket.eaten"}, "unknown events"),
    ({"url": "", "events": "ticket.changed"}, "url "),
])
async def test_a_refused_webhook_is_shown_again(client, runtime, csrf, data, message):
    answer = await client.post("/admin/webhooks", data={"csrf_token": csrf} | data)
    assert answer.status_code == 422 and message in answer.text
    assert await webhook_count(runtime) == 0


async def test_webhook_actions_by_plain_posts(client, runtime, csrf):
    added = await client.post("/admin/webhooks", data={
        "csrf_token": csrf, "url": "https://hooks.example.org/x", "events": "ticket.changed"})
    assert added.status_code == 201 and "whsec_" in added.text
    listing = await client.get("/admin/webhooks")
    assert "whsec_" not in listing.text and "hooks.example.org" in listing.text
    async with transaction(runtime.sessions) as session:
        hook_id = int(await session.scalar(select(Subscription.id)) or 0)
    rotated = await client.post(f"/admin/webhooks/{hook_id}/rotate-secret",
                                data={"csrf_token": csrf})
    assert rotated.status_code == 200 and "whsec_" in rotated.text
    assert "whsec_" not in (await client.get(f"/admin/webhooks/{hook_id}")).text
    off = await client.post(f"/admin/webhooks/{hook_id}/active", data={"csrf_token": csrf})
    assert off.headers["location"] == f"/admin/webhooks/{hook_id}?done=deactivated"
    on = await client.post(f"/admin/webhooks/{hook_id}/active",
                           data={"csrf_token": csrf, "active": "yes"})
    assert on.headers["location"] == f"/admin/webhooks/{hook_id}?done=activated"
    missing = await client.post(f"/admin/webhooks/{hook_id}/deliveries/999/replay",
                                data={"csrf_token": csrf}, headers=PAGE)
    assert missing.status_code == 404
    gone = await client.post(f"/admin/webhooks/{hook_id}/delete", data={"csrf_token": csrf})
    assert gone.headers["location"] == "/admin/webhooks?done=deleted"
    assert (await client.get(f"/admin/webhooks/{hook_id}", headers=PAGE)).status_code == 404
    assert await webhook_count(runtime) == 0
