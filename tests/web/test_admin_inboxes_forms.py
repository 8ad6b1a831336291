"""The forms of /admin/inboxes over HTTP, without a browser: who gets the pages, what a
full-page post does, and that a refused value stores nothing."""

from __future__ import annotations

from sqlalchemy import select

from core.db import transaction
from inbox.directory import current_directory
from inbox.models import Inbox
from tests.support import PASSWORD


async def sign_in(client, email: str) -> str:
    answer = await client.post("/api/session", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["csrf_token"]


def channel_form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "Sales", "addresses": "sales@example.com",
            "catch_all_domains": "", "from_name": "", "auto_ack_window_minutes": "1440",
            "auto_ack_text": "Thanks.", **fields}


async def slugs(runtime) -> list[str]:
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(Inbox.slug).order_by(Inbox.id))).all())


async def test_agents_get_no_admin_inbox_pages(client, agent):
    await sign_in(client, "agent@example.com")
    for path in ("/admin/inboxes", "/admin/inboxes/new", "/admin/inboxes/support"):
        assert (await client.get(path)).status_code == 404


async def test_a_full_page_post_makes_the_inbox_and_opens_it(runtime, client, admin):
    csrf = await sign_in(client, "admin@example.com")
    made = await client.post("/admin/inboxes", data=channel_form(
        csrf, slug="sales", addresses="Sales@example.com, deals@example.com",
        auto_ack="on"))
    assert made.status_code == 303 and made.headers["location"] == (
        "/admin/inboxes/sales?saved=created")
    sales = current_directory(runtime).inbox("sales")
    assert sales.addresses == ("sales@example.com", "deals@example.com") and sales.auto_ack
    page = await client.get("/admin/inboxes")
    assert "deals@example.com" in page.text and 'aria-current="page"' in page.text


async def test_without_the_csrf_token_nothing_changes(runtime, client, admin):
    await sign_in(client, "admin@example.com")
    refused = await client.post("/admin/inboxes", data=channel_form("", slug="sales"))
    assert refused.status_code == 403
    assert await slugs(runtime) == ["support"]


async def test_refused_values_come_back_in_the_form(runtime, client, admin):
    csrf = await sign_in(client, "admin@example.com")
    for fields, message in (
            ({"slug": "sales", "auto_ack_window_minutes": "soon"}, "whole number of minutes"),
            ({"slug": "Sales!"}, "lower-case letters"),
            ({"slug": "support"}, "exists already"),
            ({"slug": "sales", "catch_all_domains": "a b"}, "not a domain")):
        answer = await client.post("/admin/inboxes", data=channel_form(csrf, **fields))
        assert answer.status_code in (409, 422), answer.text
        assert message in answer.text
    assert await slugs(runtime) == ["support"]
    changed = await client.post("/admin/inboxes/support", data=channel_form(
        csrf, name="Support", addresses="help@example.com\nnot-an-address"))
    assert changed.status_code == 422 and "not an email address" in changed.text
    assert current_directory(runtime).inbox("support").addresses == ("help@example.com",)


async def test_members_of_unknown_teams_are_refused(runtime, client, admin):
    csrf = await sign_in(client, "admin@example.com")
    for team in ("999", "x"):
        answer = await client.post("/admin/inboxes/support/members",
                                   data={"csrf_token": csrf, "team_ids": team})
        assert answer.status_code == 422, answer.text


async def test_an_inbox_with_conversations_says_why_it_stays(runtime, client, admin):
    from tests.support import submit_form

    assert (await submit_form(client)).status_code < 400
    csrf = await sign_in(client, "admin@example.com")
    page = await client.get("/admin/inboxes/support")
    assert "cannot be deleted" in page.text
    refused = await client.post("/admin/inboxes/support/delete", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "holds 1 conversation" in refused.text
    assert await slugs(runtime) == ["support"]
