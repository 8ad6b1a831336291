"""The chat widget's socket against a real uvicorn, spoken to by the `websockets` client as a
widget would: hello and resume, order, duplicates, bad frames, limits, origins."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from connectors.webchat import service
from connectors.webchat.models import ChatVisitor
from core import outbox
from core.db import transaction
from inbox import service as inbox
from inbox.models import Contact, Conversation, Message
from tests.support import run_jobs
from tests.web.site import serving
from tests.web.test_live_socket import open_socket
from tickets.service import ticket_for_conversation
from web.widget import socket as widget_socket

SITE = "http://shop.example.test"


@pytest.fixture
async def base(runtime) -> AsyncIterator[str]:
    """A real HTTP and websocket server on loopback, chat on for `support` from SITE."""
    async with transaction(runtime.sessions) as session:
        support = await inbox.inbox_id_by_slug(session, "support")
        await service.save_settings(session, None, support, "support", service.ChatValues(
            enabled=True, allowed_origins=(SITE,), greeting="Hello there"))
    async with serving(runtime) as address:
        yield address


class Widget:
    """One widget's socket: the frames it got, in order."""

    def __init__(self, socket: ClientConnection):
        self.socket = socket
        self.welcome: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame))

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(10):
            frame = json.loads(await self.socket.recv())
        if frame["type"] == "message":
            self.messages.append(frame)
        if frame["type"] == "welcome":
            self.welcome = frame
        return frame

    async def until(self, kind: str, **fields: Any) -> dict[str, Any]:
        while True:
            frame = await self.next()
            if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                return frame

    async def say(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        """Send a message; its ack."""
        client_id = client_id or uuid.uuid4().hex
        await self.send(type="message", client_id=client_id, text=text)
        return await self.until("ack", client_id=client_id)

    async def closed_with(self) -> int:
        async with asyncio.timeout(10):
            try:
                while True:
                    await self.socket.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code


async def widget(base: str, token: str | None = None, last_seq: int = 0,
                 origin: str = SITE, inbox_slug: str = "support") -> Widget:
    socket = await connect(f"ws://{base}/chat/socket?inbox={inbox_slug}",
                           additional_headers={"Origin": origin})
    opened = Widget(socket)
    await opened.send(type="hello", token=token, last_seq=last_seq)
    await opened.until("welcome")
    return opened


async def reply(runtime, conversation_id: int, text: str, author_id: int) -> None:
    async with transaction(runtime.sessions) as session:
        await inbox.add_agent_message(session, conversation_id, author_id=author_id,
                                      kind="reply", text=text)
    await run_jobs(runtime)


async def count(runtime, model: Any, *where: Any) -> int:
    async with transaction(runtime.sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def test_a_first_message_opens_a_chat_conversation_with_its_ticket(base, runtime) -> None:
    chat = await widget(base)
    assert chat.welcome["conversation"] is None and chat.welcome["seq"] == 0
    assert chat.welcome["greeting"] == "Hello there" and chat.welcome["open"] is True
    ack = await chat.say("Where is my order?", client_id="c-1")
    assert ack == {"type": "ack", "client_id": "c-1", "seq": 1}
    # The message frame came before its ack, and a new token names the conversation.
    assert [m["seq"] for m in chat.messages] == [1]
    assert chat.messages[0]["author"] == "visitor" and chat.messages[0]["client_id"] == "c-1"
    conversation_id = chat.welcome["conversation"]
    async with transaction(runtime.sessions) as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.channel == "chat"
        assert await ticket_for_conversation(session, conversation_id) is not None
    await chat.socket.close()


async def test_a_resent_client_id_is_acked_with_the_same_seq_and_stored_once(base,
                                                                              runtime) -> None:
    chat = await widget(base)
    first = await chat.say("Hello", client_id="same")
    token = chat.welcome["token"]
    await chat.socket.close()
    # The ack was lost: a new socket of the same visitor sends the message again.
    again = await widget(base, token=token, last_seq=1)
    assert await again.say("Hello", client_id="same") == first
    assert await count(runtime, Message, Message.conversation_id
                       == again.welcome["conversation"]) == 1
    await again.socket.close()


async def test_resume_sends_what_was_missed_in_order_without_repeats(base, runtime,
                                                                     agent) -> None:
    chat = await widget(base)
    for n in range(3):
        await chat.say(f"visitor {n}")
    token, conversation_id = chat.welcome["token"], chat.welcome["conversation"]
    await chat.socket.close()
    for n in range(3):  # the visitor is away
        await reply(runtime, conversation_id, f"agent {n}", agent[0])
    back = await widget(base, token=token, last_seq=2)
    assert back.welcome["conversation"] == conversation_id and back.welcome["seq"] == 6
    while len(back.messages) < 4:
        await back.next()
    assert [(m["seq"], m["text"]) for m in back.messages] == [
        (3, "visitor 2"), (4, "agent 0"), (5, "agent 1"), (6, "agent 2")]
    assert back.messages[1]["author"] == "agent" and back.messages[1]["name"] == "Al Agent"
    await back.socket.close()
    # A fresh page (nothing shown) asks from 0 and gets the whole conversation once.
    fresh = await widget(base, token=token, last_seq=0)
    while len(fresh.messages) < 6:
        await fresh.next()
    assert [m["seq"] for m in fresh.messages] == [1, 2, 3, 4, 5, 6]
    await fresh.socket.close()


async def test_two_tabs_and_an_agent_see_one_order_without_gaps(base, runtime, agent) -> None:
    one = await widget(base)
    await one.say("first")
    token = one.welcome["token"]
    two = await widget(base, token=token, last_seq=0)
    conversation_id = one.welcome["conversation"]

    async def tab(chat: Widget, name: str) -> None:
        for n in range(5):
            await chat.say(f"{name} {n}")

    async def agent_side() -> None:
        for n in range(5):
            await reply(runtime, conversation_id, f"agent {n}", agent[0])

    await asyncio.gather(tab(one, "one"), tab(two, "two"), agent_side())
    total = 1 + 5 + 5 + 5
    for chat in (one, two):
        while len(chat.messages) < total:
            await chat.next()
        assert [m["seq"] for m in chat.messages] == list(range(1, total + 1))
    assert [m["text"] for m in one.messages] == [m["text"] for m in two.messages]
    for chat in (one, two):
        await chat.socket.close()


async def test_a_reply_reaches_a_connected_visitor(base, runtime, agent) -> None:
    chat = await widget(base)
    await chat.say("Hi")
    await reply(runtime, chat.welcome["conversation"], "Hello, how can I help?", agent[0])
    frame = await chat.until("message", author="agent")
    assert frame["text"] == "Hello, how can I help?" and frame["seq"] == 2
    async with transaction(runtime.sessions) as session:
        sent = await session.scalar(select(Message).where(Message.direction == "outbound"))
        assert sent is not None and sent.delivery_status == "sent"
    await chat.socket.close()


class HeldDelivery:
    """The outbox's reply handler, held at a gate: delivery waits until the test opens it."""

    def __init__(self, inner: Any):
        self.inner, self.gate, self.started = inner, asyncio.Event(), asyncio.Event()

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Any:
        self.started.set()
        await self.gate.wait()
        return await self.inner.deliver(ctx, payload)

    async def record(self, session: Any, payload: dict[str, Any], outcome: Any) -> None:
        await self.inner.record(session, payload, outcome)


async def test_a_reply_reaches_the_visitor_at_commit_and_the_outbox_repeats_nothing(
        base, runtime, agent, monkeypatch) -> None:
    held = HeldDelivery(outbox.handlers["reply"])
    monkeypatch.setitem(outbox.handlers, "reply", held)
    chat = await widget(base)
    await chat.say("Hi")
    conversation_id = chat.welcome["conversation"]
    async with transaction(runtime.sessions) as session:
        await inbox.add_agent_message(session, conversation_id, author_id=agent[0],
                                      kind="reply", text="Right here.")
    # Delivered while the outbox's delivery has not happened (it waits at the gate).
    frame = await chat.until("message", author="agent")
    assert frame["text"] == "Right here." and frame["seq"] == 2
    async with transaction(runtime.sessions) as session:
        queued = await session.scalar(select(Message).where(Message.direction == "outbound"))
        assert queued is not None and queued.delivery_status == "queued"
    # The fallback delivery then tells the socket again: nothing is sent twice.
    held.gate.set()
    await run_jobs(runtime)
    assert held.started.is_set()
    await chat.say("Thanks")
    assert [(m["seq"], m["text"]) for m in chat.messages] == [
        (1, "Hi"), (2, "Right here."), (3, "Thanks")]
    async with transaction(runtime.sessions) as session:
        sent = await session.scalar(select(Message).where(Message.direction == "outbound"))
        assert sent is not None and sent.delivery_status == "sent"
    await chat.socket.close()


async def test_typing_both_ways_agent_joined_and_closed(base, runtime, agent) -> None:
    chat = await widget(base)
    await chat.send(type="details", name="Vera Visitor", email=None)
    await chat.until("welcome")
    await chat.say("Hi")
    conversation_id = chat.welcome["conversation"]
    live = await open_socket(base, "agent")
    await chat.send(type="typing")
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await live.recv())
            if frame["type"] == "typing":
                break
    assert frame == {"type": "typing", "conversation_id": conversation_id,
                     "name": "Vera Visitor"}
    await live.send(json.dumps({"type": "replying", "conversation_id": conversation_id}))
    assert await chat.until("agent_joined") == {"type": "agent_joined", "name": "Al Agent"}
    assert await chat.until("typing") == {"type": "typing", "name": "Al Agent"}
    async with transaction(runtime.sessions) as session:
        await inbox.set_status(session, conversation_id, "closed", actor_id=agent[0],
                               cause="agent")
    assert await chat.until("closed") == {"type": "closed"}
    await live.close()
    await chat.socket.close()


async def test_a_visitor_whose_chat_was_trashed_starts_a_new_one(base, runtime,
                                                                  agent) -> None:
    chat = await widget(base)
    await chat.send(type="details", name="Vi", email="vi@example.org")
    await chat.until("welcome")
    await chat.say("first chat")
    token, old = chat.welcome["token"], chat.welcome["conversation"]
    await chat.socket.close()
    async with transaction(runtime.sessions) as session:
        await inbox.delete_conversation(session, old, actor_id=agent[0], cause="agent")
    back = await widget(base, token=token, last_seq=1)
    assert back.welcome["conversation"] is None and back.welcome["email"] == "vi@example.org"
    assert (await back.say("second chat"))["seq"] == 1
    assert back.welcome["conversation"] not in (None, old)
    await back.socket.close()


@pytest.mark.parametrize(("frame", "code"), [
    (b"\x01\x02", 1003),
    ("{not json", 1007),
    ('{"type": "shout"}', 1008),
    ('{"type": "read", "seq": 99}', 1008),
    ("x" * 20_000, 1009),
    (json.dumps({"type": "message", "client_id": "a", "text": "y" * 4001}), 1009),
])
async def test_bad_frames_close_with_their_code_and_store_nothing(base, runtime, frame,
                                                                  code) -> None:
    chat = await widget(base)
    await chat.socket.send(frame)
    assert await chat.closed_with() == code
    assert await count(runtime, Message) == 0


async def test_a_frame_before_hello_closes_1008(base) -> None:
    socket = await connect(f"ws://{base}/chat/socket?inbox=support",
                           additional_headers={"Origin": SITE})
    await socket.send(json.dumps({"type": "message", "client_id": "a", "text": "hi"}))
    assert await Widget(socket).closed_with() == 1008


@pytest.mark.parametrize("token", ["forged.token", "djE6MTp4eHh4.AAAA"])
async def test_a_bad_token_closes_4401(base, token) -> None:
    socket = await connect(f"ws://{base}/chat/socket?inbox=support",
                           additional_headers={"Origin": SITE})
    await socket.send(json.dumps({"type": "hello", "token": token, "last_seq": 0}))
    assert await Widget(socket).closed_with() == 4401


@pytest.mark.parametrize(("origin", "inbox_slug"), [
    ("http://evil.example.test", "support"),
    (SITE + ":8080", "support"),
    ("", "support"),
    (SITE, "nope"),
])
async def test_a_page_of_another_site_is_refused_4403_before_anything(base, runtime, origin,
                                                                      inbox_slug) -> None:
    headers = {"Origin": origin} if origin else {}
    socket = await connect(f"ws://{base}/chat/socket?inbox={inbox_slug}",
                           additional_headers=headers)
    assert await Widget(socket).closed_with() == 4403
    assert await count(runtime, ChatVisitor) == 0


async def test_chat_switched_off_refuses_4403(base, runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await service.save_settings(session, None, 1, "support", service.ChatValues(
            enabled=False, allowed_origins=(SITE,)))
    socket = await connect(f"ws://{base}/chat/socket?inbox=support",
                           additional_headers={"Origin": SITE})
    assert await Widget(socket).closed_with() == 4403


async def test_too_many_messages_close_4429_and_store_no_more(base, runtime,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(widget_socket, "LIMITS",
                        widget_socket.Limits(messages_per_minute_per_visitor=2))
    chat = await widget(base)
    await chat.say("one")
    await chat.say("two")
    await chat.send(type="message", client_id="three", text="three")
    assert await chat.closed_with() == 4429
    assert await count(runtime, Message) == 2


async def test_too_many_new_chats_from_one_address_close_4429(base, runtime,
                                                              monkeypatch) -> None:
    monkeypatch.setattr(widget_socket, "LIMITS",
                        widget_socket.Limits(new_chats_per_hour_per_address=1))
    await (await widget(base)).say("first chat")
    other = await widget(base)
    await other.send(type="message", client_id="x", text="second chat")
    assert await other.closed_with() == 4429
    assert await count(runtime, Conversation) == 1


async def test_details_required_before_the_first_message(base, runtime) -> None:
    async with transaction(runtime.sessions) as session:
        await service.save_settings(session, None, 1, "support", service.ChatValues(
            enabled=True, allowed_origins=(SITE,), ask_details="yes"))
    chat = await widget(base)
    assert chat.welcome["ask"] == "yes"
    await chat.send(type="message", client_id="a", text="hi")
    assert (await chat.until("error"))["code"] == "details_required"
    await chat.send(type="details", name="Ann", email="ANN@example.org")
    assert (await chat.until("welcome"))["email"] == "ann@example.org"
    await chat.say("hi again")
    async with transaction(runtime.sessions) as session:
        visitor = await session.scalar(select(ChatVisitor))
        assert visitor is not None and visitor.email == "ann@example.org"
    await chat.socket.close()


async def test_a_visitor_who_gives_details_mid_chat_is_the_same_contact(base, runtime) -> None:
    chat = await widget(base)
    await chat.say("Is the blue one in stock?", client_id="c-1")
    await chat.send(type="details", name="Vi Lund", email="Vi@Example.org")
    await chat.until("welcome")
    async with transaction(runtime.sessions) as session:
        conversation = await session.get(Conversation, chat.welcome["conversation"])
        assert conversation is not None
        contact = await session.get(Contact, conversation.contact_id)
        assert contact is not None and (contact.name, contact.email) == ("Vi Lund",
                                                                         "vi@example.org")
    await chat.say("And in size 42?", client_id="c-2")
    assert await count(runtime, Contact) == 1
    assert await count(runtime, Message, Message.contact_id == contact.id) == 2
    await chat.socket.close()


@pytest.mark.parametrize(("stored", "counted"), [
    ([None, None], True),                                   # nothing counted yet
    ([{"bucket": 0, "current": 1, "previous": 0}, None], True),
    ([{"bucket": 0, "current": 2, "previous": 0}, None], False),  # the first is full
    ([None, {"bucket": 0, "current": 5, "previous": 0}], False),  # the second is full
    ([{"shape": "old"}, None], True),                       # a value of another shape
])
def test_a_hit_is_counted_in_every_window_or_in_none(stored, counted) -> None:
    windows = [widget_socket.Window(2, 60), widget_socket.Window(5, 3600)]
    wait, values = widget_socket.hits_within(windows, 30.0, stored)
    assert (values is not None) is counted and (wait == 0) is counted
    if values is not None:
        assert [v["current"] for v in values] == [
            (s or {}).get("current", 0) + 1 if s and "bucket" in s else 1 for s in stored]
