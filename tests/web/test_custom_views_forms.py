"""The custom view forms without a script: plain posts answered by 303, a wrong form shown
again (422) saying what is wrong, and a view out of reach answered 404 or 403."""

from __future__ import annotations

import re

import pytest

import server
from accounts.models import User
from core.db import transaction
from tests.support import PASSWORD, add_to_inbox, add_user, client_for


@pytest.fixture
async def signed_in(runtime, client):
    """Ann (an agent of support, not allowed to share views) signed in by cookie; her CSRF
    token."""
    ann, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(ann,))
    answer = await client.post("/api/session", json={"email": "ann@example.com",
                                                     "password": PASSWORD})
    return answer.json()["csrf_token"]


def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "Urgent", "visibility": "private", "team_id": "",
            "owner": "", "team": "", "inbox": "", "channel": "", "status": "",
            "priority": "urgent", "category": "", "sla_status": ""} | fields


async def test_create_edit_and_delete_by_plain_posts(client, signed_in):
    created = await client.post("/views", data=_form(signed_in, owner="me", status="open"))
    assert created.status_code == 303
    target = created.headers["location"]
    view_id = int(re.fullmatch(r"/\?view=(\d+)", target).group(1))
    page = await client.get(target)
    assert page.status_code == 200 and "<h1>Urgent</h1>" in page.text
    edit = await client.get(f"/views/{view_id}/edit")
    assert '<option value="me" selected>' in edit.text
    assert '<option value="open" selected>' in edit.text
    changed = await client.post(f"/views/{view_id}", data=_form(signed_in, name="Mine",
                                                                 owner="unassigned"))
    assert (changed.status_code, changed.headers["location"]) == (303, target)
    view = (await client.get(f"/api/views/{view_id}")).json()
    assert view["name"] == "Mine"
    assert view["filters"]["unassigned"] is True and view["filters"]["owner_id"] is None
    deleted = await client.post(f"/views/{view_id}/delete", data={"csrf_token": signed_in})
    assert deleted.status_code == 303
    assert (await client.get(f"/api/views/{view_id}")).status_code == 404


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": " "}, "give the view a name"),
    ({"visibility": "shared"}, "you may only create private views"),
    ({"priority": "critical"}, "priority"),
    ({"owner": "someone"}, "choose one of the options"),
    ({"inbox": "999999"}, "no inbox with id 999999"),
])
async def test_a_wrong_form_comes_back_saying_why(client, signed_in, fields, message):
    answer = await client.post("/views", data=_form(signed_in, **fields))
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text and message in answer.text
    assert (await client.get("/api/views")).json()["items"] == []


async def test_a_form_without_its_token_changes_nothing(client, signed_in):
    answer = await client.post("/views", data=_form(""))
    assert answer.status_code == 403
    assert (await client.get("/api/views")).json()["items"] == []


async def test_someone_elses_view_is_out_of_reach(runtime, client, signed_in):
    _, admin = await add_user(runtime, "ada@example.com", "admin")
    private = (await client.post("/api/views", headers=admin, json={"name": "Ada's"})).json()
    shared = (await client.post("/api/views", headers=admin, json={
        "name": "Everyone's", "visibility": "shared"})).json()
    assert (await client.get(f"/?view={private['id']}")).status_code == 404
    assert (await client.get(f"/views/{private['id']}/edit")).status_code == 404
    assert (await client.get(f"/?view={shared['id']}")).status_code == 200
    assert (await client.get(f"/views/{shared['id']}/edit")).status_code == 403
    refused = await client.post(f"/views/{shared['id']}/delete", data={"csrf_token": signed_in})
    assert refused.status_code == 403


async def test_an_admins_rail_lists_views_made_for_them_only(runtime, client, signed_in):
    await client.post("/views", data=_form(signed_in, name="Ann's own"))
    [ann_view] = (await client.get("/api/views")).json()["items"]
    await add_user(runtime, "ada@example.com", "admin", "Ada Admin")
    async with client_for(server.create_app(runtime=runtime)) as admin:
        await admin.post("/api/session", json={"email": "ada@example.com",
                                               "password": PASSWORD})
        assert ann_view["id"] in [v["id"] for v in (await admin.get("/api/views")).json()[
            "items"]]
        assert "Ann&#39;s own" not in (await admin.get("/")).text
        opened = await admin.get(f"/?view={ann_view['id']}")
        assert opened.status_code == 200 and "<h1>Ann&#39;s own</h1>" in opened.text


async def test_editing_keeps_a_filter_on_someone_no_longer_active(runtime, client, signed_in):
    gone, _ = await add_user(runtime, "gone@example.com", "agent", "Gone Agent")
    created = await client.post("/views", data=_form(signed_in, owner=str(gone)))
    view_id = int(created.headers["location"].rsplit("=", 1)[1])
    async with transaction(runtime.sessions) as session:
        (await session.get(User, gone)).active = False
    edit = await client.get(f"/views/{view_id}/edit")
    assert f'<option value="{gone}" selected>User #{gone} (inactive)</option>' in edit.text
