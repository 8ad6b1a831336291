"""The ticket <-> conversation contract: one test per rule, driven through the API."""

from __future__ import annotations

import uuid

import pytest

from connectors.ingest import accept
from inbox.messages import InboundMessage
from tests.support import submit_form


def inbound(text: str = "Hello", *, thread_key: str | None = None, automatic: bool = False,
            email: str = "anna@example.org", channel: str = "api") -> InboundMessage:
    return InboundMessage(inbox="support", channel=channel, sender_email=email,
                          sender_name="Anna", subject="Help", text=text,
                          external_id=uuid.uuid4().hex, thread_key=thread_key,
                          automatic=automatic)


async def open_ticket(client, headers, **fields) -> tuple[int, int]:
    """Submit the form; returns (conversation id, ticket id)."""
    number = (await submit_form(client, **fields)).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    return ticket["conversation_ids"][0], ticket["id"]


async def get(client, headers, path):
    response = await client.get(path, headers=headers)
    return response.status_code, response.json()


async def patch(client, headers, path, body):
    response = await client.patch(path, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def merged_ticket(client, headers) -> tuple[int, list[int]]:
    conv_a, ticket_a = await open_ticket(client, headers, email="a@example.org")
    conv_b, ticket_b = await open_ticket(client, headers, email="b@example.org")
    response = await client.post(f"/api/tickets/{ticket_a}/merge", headers=headers,
                                 json={"other_id": ticket_b, "primary_id": ticket_a})
    assert response.status_code == 200, response.text
    return ticket_a, [conv_a, conv_b]


async def test_every_new_conversation_gets_exactly_one_ticket(client, runtime, agent):
    _, headers = agent
    first = await accept(runtime.sessions, inbound(thread_key="t1"))
    again = await accept(runtime.sessions, inbound("more", thread_key="t1"))
    assert again.conversation_id == first.conversation_id and not again.opened
    tickets = (await client.get("/api/tickets", headers=headers)).json()["items"]
    assert len(tickets) == 1
    assert tickets[0]["conversation_ids"] == [first.conversation_id]


async def test_automatic_message_that_threads_nowhere_lands_in_spam_without_ticket(
    client, runtime, agent
):
    _, headers = agent
    result = await accept(runtime.sessions, inbound("Out of office", automatic=True))
    path = f"/api/conversations/{result.conversation_id}"
    status, conversation = await get(client, headers, path)
    assert conversation["status"] == "spam" and conversation["ticket_id"] is None
    assert (await client.get("/api/tickets", headers=headers)).json()["items"] == []


async def test_marking_not_spam_creates_the_ticket(client, runtime, agent):
    _, headers = agent
    result = await accept(runtime.sessions, inbound("Out of office", automatic=True))
    body = await patch(client, headers, f"/api/conversations/{result.conversation_id}",
                       {"status": "open"})
    assert body["ticket_id"] is not None
    status, ticket = await get(client, headers, f"/api/tickets/{body['ticket_id']}")
    assert status == 200 and ticket["conversation_ids"] == [result.conversation_id]


async def test_agent_marks_spam_ticket_goes_and_comes_back_on_not_spam(client, agent):
    _, headers = agent
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/conversations/{conv}", {"status": "spam"})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[0] == 404
    body = await patch(client, headers, f"/api/conversations/{conv}", {"status": "open"})
    assert body["ticket_id"] == ticket
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[0] == 200


async def test_conversation_owner_change_moves_the_ticket_owner(client, agent, admin):
    agent_id, headers = agent
    admin_id, _ = admin
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/conversations/{conv}", {"owner_id": agent_id})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["owner_id"] == agent_id
    await patch(client, headers, f"/api/conversations/{conv}", {"owner_id": admin_id})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["owner_id"] == admin_id
    await patch(client, headers, f"/api/conversations/{conv}", {"owner_id": None})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["owner_id"] is None


async def test_ticket_owner_change_leaves_the_conversation_owner(client, agent, admin):
    agent_id, headers = agent
    admin_id, _ = admin
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/conversations/{conv}", {"owner_id": agent_id})
    body = await patch(client, headers, f"/api/tickets/{ticket}", {"owner_id": admin_id})
    assert body["owner_id"] == admin_id
    assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["owner_id"] == agent_id


async def test_ticket_closed_closes_every_conversation(client, agent):
    _, headers = agent
    ticket, conversations = await merged_ticket(client, headers)
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    for conv in conversations:
        assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["status"] == "closed"


async def test_ticket_reopened_reopens_its_only_conversation(client, agent):
    _, headers = agent
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    body = await patch(client, headers, f"/api/tickets/{ticket}", {"status": "waiting_on_us"})
    assert body["closed_at"] is None
    assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["status"] == "open"


async def test_ticket_reopened_with_several_conversations_reopens_none(client, agent):
    _, headers = agent
    ticket, conversations = await merged_ticket(client, headers)
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "new"})
    for conv in conversations:
        assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["status"] == "closed"


async def test_conversation_closed_leaves_the_ticket_open(client, agent):
    _, headers = agent
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/conversations/{conv}", {"status": "closed"})
    ticket_body = (await get(client, headers, f"/api/tickets/{ticket}"))[1]
    assert ticket_body["status"] == "new" and ticket_body["closed_at"] is None


async def test_conversation_reopened_on_a_closed_ticket_reopens_the_ticket(client, agent):
    _, headers = agent
    conv, ticket = await open_ticket(client, headers)
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    await patch(client, headers, f"/api/conversations/{conv}", {"status": "open"})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "waiting_on_us"


async def test_conversation_deleted_deletes_its_ticket(client, agent):
    _, headers = agent
    conv, ticket = await open_ticket(client, headers)
    assert (await client.delete(f"/api/conversations/{conv}", headers=headers)).status_code == 204
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[0] == 404
    assert (await get(client, headers, f"/api/conversations/{conv}"))[0] == 404
    assert (await client.get("/api/tickets", headers=headers)).json()["items"] == []


async def test_ticket_deleted_deletes_its_conversations(client, agent):
    _, headers = agent
    ticket, conversations = await merged_ticket(client, headers)
    assert (await client.delete(f"/api/tickets/{ticket}", headers=headers)).status_code == 204
    for conv in conversations:
        assert (await get(client, headers, f"/api/conversations/{conv}"))[0] == 404
    listed = (await client.get("/api/conversations", headers=headers)).json()["items"]
    assert listed == []


async def test_merge_primary_wins_everything_moves_and_there_is_no_undo(client, agent, admin):
    agent_id, headers = agent
    admin_id, _ = admin
    conv_a, ticket_a = await open_ticket(client, headers, subject="Primary")
    conv_b, ticket_b = await open_ticket(client, headers, subject="Secondary")
    await patch(client, headers, f"/api/tickets/{ticket_a}", {"priority": "high",
                                                               "owner_id": agent_id})
    await patch(client, headers, f"/api/tickets/{ticket_b}", {"priority": "low",
                                                               "owner_id": admin_id,
                                                               "category": "billing"})
    response = await client.post(f"/api/tickets/{ticket_b}/merge", headers=headers,
                                 json={"other_id": ticket_a, "primary_id": ticket_a})
    merged = response.json()
    assert response.status_code == 200 and merged["id"] == ticket_a
    assert (merged["name"], merged["priority"], merged["owner_id"]) == ("Primary", "high",
                                                                        agent_id)
    assert merged["category"] is None
    assert sorted(merged["conversation_ids"]) == sorted([conv_a, conv_b])
    assert any(h["field"] == "category" and h["new"] == "billing" for h in merged["history"])
    assert any(h["action"] == "merged" for h in merged["history"])
    assert (await get(client, headers, f"/api/conversations/{conv_b}"))[1]["ticket_id"] == ticket_a
    status, gone = await get(client, headers, f"/api/tickets/{ticket_b}")
    assert status == 404 and f"merged into #{ticket_a}" in gone["error"]["message"]
    again = await client.post(f"/api/tickets/{ticket_a}/merge", headers=headers,
                              json={"other_id": ticket_b, "primary_id": ticket_b})
    assert again.status_code == 404


async def test_merge_into_a_closed_ticket_closes_the_moved_conversations(client, agent):
    _, headers = agent
    conv_a, ticket_a = await open_ticket(client, headers, email="a@example.org")
    conv_b, ticket_b = await open_ticket(client, headers, email="b@example.org")
    await patch(client, headers, f"/api/tickets/{ticket_a}", {"status": "closed"})
    await client.post(f"/api/tickets/{ticket_a}/merge", headers=headers,
                      json={"other_id": ticket_b, "primary_id": ticket_a})
    assert (await get(client, headers, f"/api/conversations/{conv_b}"))[1]["status"] == "closed"


async def test_customer_message_on_closed_conversation_reopens_it_waiting_on_us(
    client, runtime, agent
):
    _, headers = agent
    first = await accept(runtime.sessions, inbound(thread_key="chat-1"))
    ticket = (await get(client, headers, f"/api/conversations/{first.conversation_id}"))[1][
        "ticket_id"]
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    await accept(runtime.sessions, inbound("Still broken", thread_key="chat-1"))
    conversation = (await get(client, headers, f"/api/conversations/{first.conversation_id}"))[1]
    assert conversation["status"] == "open"
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "waiting_on_us"


async def test_agent_reply_moves_ticket_to_waiting_on_contact_and_customer_back(
    client, runtime, agent
):
    _, headers = agent
    first = await accept(runtime.sessions, inbound(thread_key="chat-2"))
    conv = first.conversation_id
    ticket = (await get(client, headers, f"/api/conversations/{conv}"))[1]["ticket_id"]
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "comment", "text": "internal note"})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "new"
    await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                      json={"kind": "reply", "text": "Try turning it off and on"})
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == (
        "waiting_on_contact")
    await accept(runtime.sessions, inbound("Did not help", thread_key="chat-2"))
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "waiting_on_us"


async def test_automatic_message_never_reopens_a_closed_conversation(client, runtime, agent):
    _, headers = agent
    first = await accept(runtime.sessions, inbound(thread_key="chat-3"))
    conv = first.conversation_id
    ticket = (await get(client, headers, f"/api/conversations/{conv}"))[1]["ticket_id"]
    await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
    await accept(runtime.sessions, inbound("Auto: I am away", thread_key="chat-3",
                                           automatic=True))
    assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["status"] == "closed"
    assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "closed"


class TestAutomationsSwitchedOff:
    @pytest.fixture
    def settings_overrides(self):
        return {"automation": {"reopen_on_inbound": False, "waiting_on_us_on_inbound": False,
                               "waiting_on_contact_on_reply": False}}

    async def test_nothing_moves(self, client, runtime, agent):
        _, headers = agent
        first = await accept(runtime.sessions, inbound(thread_key="chat-4"))
        conv = first.conversation_id
        ticket = (await get(client, headers, f"/api/conversations/{conv}"))[1]["ticket_id"]
        await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                          json={"kind": "reply", "text": "Hi"})
        assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "new"
        await patch(client, headers, f"/api/tickets/{ticket}", {"status": "closed"})
        await accept(runtime.sessions, inbound("again", thread_key="chat-4"))
        assert (await get(client, headers, f"/api/conversations/{conv}"))[1]["status"] == "closed"
        assert (await get(client, headers, f"/api/tickets/{ticket}"))[1]["status"] == "closed"
