from tests.support import submit_form


async def test_form_to_ticket_roundtrip(client, agent):
    _, headers = agent
    response = await submit_form(client)
    assert response.status_code == 201, response.text
    number = response.json()["ticket_number"]
    conversations = (await client.get("/api/conversations", headers=headers)).json()["items"]
    assert [c["ticket_id"] for c in conversations] == [number]
