"""/api/views: who may create, see, change and delete custom views, and bad input named."""

from __future__ import annotations

import pytest

from tests.support import add_to_inbox, add_user


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "billing", "name": "Billing", "addresses": ["billing@example.com"]}]}


@pytest.fixture
async def people(runtime, client):
    """An admin; Ann and Tom (one team, both in support); Otto (alone, support only)."""
    found = {}
    for name, role in (("ada", "admin"), ("ann", "agent"), ("tom", "agent"), ("otto", "agent")):
        found[name] = await add_user(runtime, f"{name}@example.com", role, name.title())
    admin = found["ada"][1]
    team = (await client.post("/api/teams", headers=admin, json={
        "name": "Billing team", "member_ids": [found["ann"][0], found["tom"][0]]})).json()["id"]
    await add_to_inbox(runtime, "support", user_ids=tuple(found[n][0] for n in ("ann", "tom",
                                                                               "otto")))
    inboxes = {i["slug"]: i["id"] for i in
               (await client.get("/api/inboxes", headers=admin)).json()["items"]}
    return {"headers": {n: h for n, (_, h) in found.items()},
            "ids": {n: i for n, (i, _) in found.items()}, "team": team, "inboxes": inboxes}


async def _grant_sharing(client, people, name: str) -> None:
    response = await client.patch(f"/api/users/{people['ids'][name]}",
                                  headers=people["headers"]["ada"], json={"can_share_views": True})
    assert response.status_code == 200 and response.json()["can_share_views"] is True


async def test_anyone_creates_a_private_view_only_they_see(client, people):
    h = people["headers"]
    created = await client.post("/api/views", headers=h["otto"], json={
        "name": " Urgent ", "filters": {"priority": "urgent", "owner_id": "me"}})
    assert created.status_code == 201, created.text
    view = created.json()
    assert (view["name"], view["visibility"], view["owner_id"]) == (
        "Urgent", "private", people["ids"]["otto"])
    assert view["filters"]["priority"] == "urgent" and view["filters"]["owner_id"] == "me"
    url = f"/api/views/{view['id']}"
    assert (await client.get(url, headers=h["otto"])).status_code == 200
    assert (await client.get(url, headers=h["ann"])).status_code == 404
    assert (await client.patch(url, headers=h["ann"], json={"name": "Mine"})).status_code == 404
    assert (await client.get(url, headers=h["ada"])).status_code == 200
    listed = (await client.get("/api/views", headers=h["ann"])).json()["items"]
    assert view["id"] not in [item["id"] for item in listed]


@pytest.mark.parametrize("visibility", ["shared", "team"])
async def test_sharing_needs_the_permission(client, people, visibility):
    h = people["headers"]
    body = {"name": "Billing", "visibility": visibility}
    if visibility == "team":
        body["team_id"] = people["team"]
    refused = await client.post("/api/views", headers=h["ann"], json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "visibility"
    await _grant_sharing(client, people, "ann")
    created = await client.post("/api/views", headers=h["ann"], json=body)
    assert created.status_code == 201, created.text


async def test_team_and_shared_views_reach_their_audience(client, people):
    h = people["headers"]
    await _grant_sharing(client, people, "ann")
    team_view = (await client.post("/api/views", headers=h["ann"], json={
        "name": "Team", "visibility": "team", "team_id": people["team"]})).json()
    shared = (await client.post("/api/views", headers=h["ann"], json={
        "name": "Everyone", "visibility": "shared"})).json()
    private = (await client.post("/api/views", headers=h["ann"], json={"name": "Ann's"})).json()

    def ids(name: str):
        async def listed():
            answer = await client.get("/api/views", headers=h[name])
            return {item["id"] for item in answer.json()["items"]}
        return listed()

    assert await ids("ann") == {team_view["id"], shared["id"], private["id"]}
    assert await ids("tom") == {team_view["id"], shared["id"]}
    assert await ids("otto") == {shared["id"]}
    assert await ids("ada") == {team_view["id"], shared["id"], private["id"]}
    assert (await client.get(f"/api/views/{team_view['id']}",
                             headers=h["otto"])).status_code == 404
    # Tom sees the team view but did not make it and may not share: he cannot change it.
    for name in ("tom", "otto"):
        answer = await client.patch(f"/api/views/{shared['id']}", headers=h[name],
                                    json={"name": "Hijacked"})
        assert answer.status_code == 403
        answer = await client.delete(f"/api/views/{shared['id']}", headers=h[name])
        assert answer.status_code == 403
    renamed = await client.patch(f"/api/views/{shared['id']}", headers=h["ada"],
                                 json={"name": "For all"})
    assert renamed.json()["name"] == "For all"


async def test_the_owner_makes_a_team_view_private_and_back(client, people):
    h = people["headers"]
    await _grant_sharing(client, people, "ann")
    view = (await client.post("/api/views", headers=h["ann"], json={
        "name": "Team", "visibility": "team", "team_id": people["team"]})).json()
    url = f"/api/views/{view['id']}"
    private = await client.patch(url, headers=h["ann"], json={"visibility": "private"})
    assert private.json()["team_id"] is None
    assert (await client.get(url, headers=h["tom"])).status_code == 404
    wrong = await client.patch(url, headers=h["ann"], json={"visibility": "team"})
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "team_id")
    changed = await client.patch(url, headers=h["ann"], json={
        "filters": {"status": "open"}, "visibility": "team", "team_id": people["team"]})
    assert changed.json()["filters"]["status"] == "open"
    assert (await client.delete(url, headers=h["ann"])).status_code == 204
    assert (await client.get(url, headers=h["ann"])).status_code == 404


async def test_a_team_view_is_for_a_team_of_ones_own(client, people):
    await _grant_sharing(client, people, "otto")
    refused = await client.post("/api/views", headers=people["headers"]["otto"], json={
        "name": "Theirs", "visibility": "team", "team_id": people["team"]})
    assert (refused.status_code, refused.json()["error"]["field"]) == (422, "team_id")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({}, "name"),
    ({"name": "V", "visibility": "public"}, "visibility"),
    ({"name": "V", "filters": {"priority": "critical"}}, "filters.priority"),
    ({"name": "V", "filters": {"owner_id": "you"}}, "filters.owner_id"),
    ({"name": "V", "filters": {"inbox_id": "1"}}, "filters.inbox_id"),
    ({"name": "V", "filters": {"colour": "red"}}, "filters.colour"),
    ({"name": "V", "filters": {"owner_id": 999999}}, "filters.owner_id"),
    ({"name": "V", "filters": {"team_id": 999999}}, "filters.team_id"),
    ({"name": "V", "filters": {"inbox_id": 999999}}, "filters.inbox_id"),
    ({"name": "V", "filters": {"unassigned": True, "owner_id": "me"}}, "filters"),
    ({"name": "V", "filters": "urgent"}, "filters"),
])
async def test_bad_input_is_a_422_naming_the_field(client, people, body, field):
    answer = await client.post("/api/views", headers=people["headers"]["ann"], json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


async def test_an_inbox_out_of_scope_is_refused_as_unknown(client, people):
    billing = people["inboxes"]["billing"]
    answer = await client.post("/api/views", headers=people["headers"]["otto"], json={
        "name": "Billing", "filters": {"inbox_id": billing}})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "filters.inbox_id")
    assert answer.json()["error"]["message"] == f"no inbox with id {billing}"


@pytest.mark.parametrize(("body", "field"), [
    ({}, None), ({"name": None}, "name"), ({"visibility": None}, "visibility"),
    ({"filters": None}, "filters"), ({"filters": {"status": "gone"}}, "filters.status"),
])
async def test_a_wrong_change_is_refused_naming_the_field(client, people, body, field):
    h = people["headers"]
    view = (await client.post("/api/views", headers=h["ann"], json={"name": "V"})).json()
    answer = await client.patch(f"/api/views/{view['id']}", headers=h["ann"], json=body)
    assert answer.status_code == 422
    assert answer.json()["error"].get("field") == field
