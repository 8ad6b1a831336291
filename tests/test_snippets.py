"""Canned replies over the API: admins manage them, agents list them."""

from __future__ import annotations


async def test_admins_create_edit_and_delete_agents_list(client, admin, agent):
    _, boss = admin
    _, al = agent
    created = await client.post("/api/snippets", headers=boss, json={
        "name": "Refund sent", "body": "Hi {{contact.first_name}}, the refund is on its way."})
    assert created.status_code == 201, created.text
    snippet = created.json()
    listed = (await client.get("/api/snippets", headers=al)).json()
    assert [s["name"] for s in listed["items"]] == ["Refund sent"]
    assert "{{contact.first_name}}" in listed["placeholders"]

    renamed = await client.patch(f"/api/snippets/{snippet['id']}", headers=boss,
                                 json={"name": "Refund issued"})
    assert renamed.status_code == 200
    assert renamed.json()["body"] == snippet["body"]
    assert (await client.get("/api/snippets", headers=al)).json()["items"][0]["name"] == (
        "Refund issued")

    assert (await client.delete(f"/api/snippets/{snippet['id']}", headers=boss)
            ).status_code == 204
    assert (await client.get("/api/snippets", headers=al)).json()["items"] == []
    gone = await client.patch(f"/api/snippets/{snippet['id']}", headers=boss,
                              json={"body": "x"})
    assert gone.status_code == 404


async def test_agents_may_not_change_them(client, admin, agent):
    _, boss = admin
    _, al = agent
    made = (await client.post("/api/snippets", headers=boss,
                              json={"name": "Hello", "body": "Hello!"})).json()
    assert (await client.post("/api/snippets", headers=al,
                              json={"name": "Mine", "body": "x"})).status_code == 403
    assert (await client.patch(f"/api/snippets/{made['id']}", headers=al,
                               json={"body": "changed"})).status_code == 403
    assert (await client.delete(f"/api/snippets/{made['id']}", headers=al)).status_code == 403
    assert (await client.get("/api/snippets", headers=al)).json()["items"][0]["body"] == "Hello!"


async def test_bad_input_names_the_field(client, admin):
    _, boss = admin
    await client.post("/api/snippets", headers=boss, json={"name": "Taken", "body": "x"})
    for body, field, status in (
            ({"name": "Taken", "body": "y"}, "name", 409),
            ({"name": "   ", "body": "y"}, "name", 422),
            ({"name": "Blank body", "body": " \n "}, "body", 422),
            ({"name": "x" * 101, "body": "y"}, "name", 422),
            ({"name": "No body"}, "body", 422),
            ({"name": "Ctl\x01", "body": "y"}, "name", 422)):
        response = await client.post("/api/snippets", headers=boss, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"].get("field") == field, (body, response.text)
