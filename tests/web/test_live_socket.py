"""The live socket against a real uvicorn: what each browser hears, and what it may not."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import PASSWORD, add_to_inbox, add_user, run_jobs
from tests.web.site import serving
from web.live import socket as live_socket


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}]}


@pytest.fixture
async def base(runtime) -> AsyncIterator[str]:
    """A real HTTP and websocket server on loopback; its host and port."""
    async with serving(runtime) as address:
        yield address


@pytest.fixture
async def people(runtime) -> dict[str, int]:
    """An agent of support, another of support, one of sales only."""
    found = {}
    for name, inbox in (("ann", "support"), ("ben", "support"), ("sal", "sales")):
        found[name], _ = await add_user(runtime, f"{name}@example.com", "agent", name.title())
        await add_to_inbox(runtime, inbox, user_ids=(found[name],))
    return found


async def cookie_of(base: str, who: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post("/api/session", json={"email": f"{who}@example.com",
                                                           "password": PASSWORD})
        assert response.status_code == 200
        return f"frontdesk_session={client.cookies['frontdesk_session']}"


async def open_socket(base: str, who: str, origin: str | None = None) -> ClientConnection:
    headers = {"Cookie": await cookie_of(base, who), "Origin": origin or f"http://{base}"}
    socket = await connect(f"ws://{base}/live", additional_headers=headers)
    hello = json.loads(await socket.recv())
    assert hello["type"] == "hello"
    return socket


async def next_frame(socket: ClientConnection) -> dict:
    async with asyncio.timeout(10):
        return json.loads(await socket.recv())


async def receive(runtime, inbox: str, subject: str) -> int:
    message = InboundMessage(inbox=inbox, channel="email", sender_email="cy@example.org",
                             sender_name="Cy", subject=subject, text="Hello",
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        conversation_id = (await ingest(session, message)).conversation_id
    # The jobs the mail kicks (ticket clocks, acknowledgement) change the ticket later; let
    # them finish so that a socket opened after this hears only what the test does next.
    await run_jobs(runtime)
    return conversation_id


async def test_a_new_conversation_reaches_those_who_see_its_inbox_only(base, runtime, people):
    ann, sal = await open_socket(base, "ann"), await open_socket(base, "sal")
    ours = await receive(runtime, "support", "Broken printer")
    theirs = await receive(runtime, "sales", "Price list")
    assert await next_frame(ann) == {"type": "conversation", "conversation_id": ours,
                                     "change": "opened", "direction": "inbound"}
    # Sal's first frame is the sales conversation: the support one never reached her.
    assert (await next_frame(sal))["conversation_id"] == theirs
    await ann.close()
    await sal.close()


async def test_changes_by_agents_are_heard_after_they_commit(base, runtime, people):
    ours = await receive(runtime, "support", "Broken printer")
    ann = await open_socket(base, "ann")
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        login = await client.post("/api/session", json={"email": "ben@example.com",
                                                        "password": PASSWORD})
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        response = await client.patch(f"/api/conversations/{ours}", headers=csrf,
                                      json={"status": "closed"})
        assert response.status_code == 200
        assert await next_frame(ann) == {"type": "conversation", "conversation_id": ours,
                                         "change": "status", "status": "closed"}
        ticket = response.json()["ticket_id"]
        response = await client.patch(f"/api/tickets/{ticket}", headers=csrf,
                                      json={"priority": "urgent"})
        assert response.status_code == 200
        assert await next_frame(ann) == {"type": "conversation", "conversation_id": ours,
                                         "change": "ticket", "ticket_id": ticket}
    await ann.close()


async def test_presence_is_told_to_colleagues_of_the_inbox(base, runtime, people):
    ours = await receive(runtime, "support", "Broken printer")
    theirs = await receive(runtime, "sales", "Price list")
    ann, ben, sal = (await open_socket(base, "ann"), await open_socket(base, "ben"),
                     await open_socket(base, "sal"))
    await ann.send(json.dumps({"type": "replying", "conversation_id": ours}))
    assert await next_frame(ben) == {"type": "presence", "conversation_id": ours,
                                     "user_id": people["ann"], "name": "Ann",
                                     "state": "replying"}
    await ann.send(json.dumps({"type": "viewing", "conversation_id": theirs}))  # not hers
    await ann.close()
    left = await next_frame(ben)
    assert left["state"] == "left" and left["conversation_id"] == ours
    await sal.send(json.dumps({"type": "ping"}))
    assert await next_frame(sal) == {"type": "pong"}  # nothing of Ann's came before it
    await ben.close()
    await sal.close()


async def test_a_page_of_another_site_cannot_open_the_socket(base, people):
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(base, "ann", origin="https://evil.example")
    assert refused.value.response.status_code == 403


async def test_without_a_login_the_socket_closes_asking_for_one(base, people):
    async with connect(f"ws://{base}/live") as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd.code == 4401


@pytest.mark.parametrize("frame, code", [("not json", 1007), (b"\x00", 1003),
                                         ('{"type": "shout"}', 1008)])
async def test_a_bad_frame_closes_with_its_code(base, people, frame, code):
    socket = await open_socket(base, "ann")
    await socket.send(frame)
    with pytest.raises(ConnectionClosed) as closed:
        await next_frame(socket)
    assert closed.value.rcvd.code == code


async def test_a_deactivated_user_is_cut_off(base, runtime, people, monkeypatch):
    monkeypatch.setattr(live_socket, "LOGIN_CHECK_SECONDS", 0.05)
    socket = await open_socket(base, "ann")
    admin_id, admin_headers = await add_user(runtime, "boss@example.com", "admin")
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.patch(f"/api/users/{people['ann']}", headers=admin_headers,
                                      json={"active": False})
        assert response.status_code == 200
    with pytest.raises(ConnectionClosed) as closed:
        await next_frame(socket)
    assert closed.value.rcvd.code == 4401


async def test_who_is_already_there_is_told_to_a_newcomer(base, runtime, people):
    ours = await receive(runtime, "support", "Broken printer")
    ann, ben, sal = (await open_socket(base, "ann"), await open_socket(base, "ben"),
                     await open_socket(base, "sal"))
    await ann.send(json.dumps({"type": "replying", "conversation_id": ours}))
    await next_frame(ben)  # Ann's claim, heard by Ben's server
    await ben.send(json.dumps({"type": "viewing", "conversation_id": ours}))
    assert await next_frame(ben) == {"type": "presence", "conversation_id": ours,
                                     "user_id": people["ann"], "name": "Ann",
                                     "state": "replying"}
    # Sal cannot see the conversation: asking for it tells her nothing of who is there.
    await sal.send(json.dumps({"type": "viewing", "conversation_id": ours}))
    await sal.send(json.dumps({"type": "ping"}))
    assert await next_frame(sal) == {"type": "pong"}
    for socket in (ann, ben, sal):
        await socket.close()
