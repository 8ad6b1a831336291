"""Collision-safe sending: a reply written against an older thread asks first, and the
same form posted twice makes one message (one outbox item, one mail)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core.db import transaction
from core.errors import InvalidInput
from core.outbox import OutboxItem
from inbox.collision import Later, NewerMessages, unseen_blocking, valid_client_key
from inbox.messages import InboundMessage
from inbox.models import Message
from inbox.service import add_agent_message, ingest
from tests.support import add_user

IN, OUT, NOTE = "inbound", "outbound", "comment"


@pytest.mark.parametrize("kind, seen, anyway, later, blocking", [
    ("reply", 5, False, [], []),
    ("reply", 5, False, [Later(6, IN)], [6]),
    ("reply", 5, False, [Later(7, OUT), Later(6, IN)], [6, 7]),
    ("reply", 5, False, [Later(6, NOTE)], []),            # a comment never holds back
    ("reply", 5, False, [Later(6, NOTE), Later(8, IN)], [8]),
    ("reply", 5, False, [Later(5, IN), Later(4, OUT)], []),  # seen already
    ("reply", 5, True, [Later(6, IN)], []),               # "send anyway"
    ("reply", None, False, [Later(6, IN)], []),           # the form said nothing
    ("comment", 5, False, [Later(6, IN)], []),            # comments are not held back
])
def test_what_holds_a_reply_back(kind, seen, anyway, later, blocking):
    assert unseen_blocking(kind, seen, anyway, later) == blocking


@pytest.mark.parametrize("key, expected", [
    (None, None), ("", None), ("abcdefgh", "abcdefgh"), ("A-b_9" * 12, "A-b_9" * 12),
])
def test_form_keys_taken(key, expected):
    assert valid_client_key(key) == expected


@pytest.mark.parametrize("key", ["short", "x" * 65, "has space1", "émoji-key", "a/b/c/d/e"])
def test_form_keys_refused_name_the_field(key):
    with pytest.raises(InvalidInput) as refused:
        valid_client_key(key)
    assert refused.value.field == "client_key"


async def receive(runtime, text: str, *, thread_key: str = "t-1") -> int:
    message = InboundMessage(inbox="support", channel="chat", sender_email="bo@example.org",
                             sender_name="Bo", subject="Chat", text=text,
                             external_id=f"{thread_key}-{text}", thread_key=thread_key)
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).message_id


async def conversation_of(runtime, message_id: int) -> int:
    async with transaction(runtime.sessions) as session:
        return (await session.get(Message, message_id)).conversation_id


async def reply(runtime, conversation_id: int, author_id: int, text: str, **form) -> Message:
    async with transaction(runtime.sessions) as session:
        return await add_agent_message(session, conversation_id, author_id=author_id,
                                       kind=form.pop("kind", "reply"), text=text, **form)


async def sent(runtime, conversation_id: int) -> tuple[int, int]:
    """(agent replies stored, outbox items)."""
    async with transaction(runtime.sessions) as session:
        replies = await session.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.direction == OUT))
        items = await session.scalar(select(func.count()).select_from(OutboxItem))
    return replies, items


@pytest.fixture
async def thread(runtime):
    ann, _ = await add_user(runtime, "ann@example.com", "agent", "Ann")
    ben, _ = await add_user(runtime, "ben@example.com", "agent", "Ben")
    first = await receive(runtime, "hello")
    return {"ann": ann, "ben": ben, "first": first,
            "conversation": await conversation_of(runtime, first)}


async def test_a_reply_after_an_unseen_message_is_held_back(runtime, thread):
    c, seen = thread["conversation"], thread["first"]
    newer = await receive(runtime, "are you there?")
    with pytest.raises(NewerMessages) as held:
        await reply(runtime, c, thread["ann"], "Yes", seen_message_id=seen)
    assert held.value.message_ids == [newer] and held.value.status == 409
    assert await sent(runtime, c) == (0, 0)
    await reply(runtime, c, thread["ann"], "Yes", seen_message_id=seen, send_anyway=True)
    assert await sent(runtime, c) == (1, 1)


async def test_a_colleagues_reply_holds_back_but_a_comment_does_not(runtime, thread):
    c, seen = thread["conversation"], thread["first"]
    await reply(runtime, c, thread["ben"], "Only a note", kind="comment", seen_message_id=seen)
    await reply(runtime, c, thread["ann"], "First answer", seen_message_id=seen)
    with pytest.raises(NewerMessages):
        await reply(runtime, c, thread["ben"], "Second answer", seen_message_id=seen)
    assert await sent(runtime, c) == (1, 1)


async def test_the_same_form_twice_sends_once_and_answers_the_same(runtime, thread):
    c, seen = thread["conversation"], thread["first"]
    form = {"seen_message_id": seen, "client_key": "form-key-1"}
    first = await reply(runtime, c, thread["ann"], "Here you are", **form)
    await receive(runtime, "thanks!")  # arrives between the two posts of the form
    again = await reply(runtime, c, thread["ann"], "Here you are", **form)
    assert again.id == first.id
    assert await sent(runtime, c) == (1, 1)
    other = await reply(runtime, c, thread["ann"], "Another", client_key="form-key-2",
                        send_anyway=True)
    assert other.id != first.id and await sent(runtime, c) == (2, 2)


async def test_the_same_key_in_another_conversation_is_another_message(runtime, thread):
    elsewhere = await conversation_of(runtime, await receive(runtime, "hi", thread_key="t-2"))
    await reply(runtime, thread["conversation"], thread["ann"], "One", client_key="same-key-1")
    await reply(runtime, elsewhere, thread["ann"], "Two", client_key="same-key-1")
    assert (await sent(runtime, thread["conversation"]))[0] == 1
    assert (await sent(runtime, elsewhere)) == (1, 2)


async def test_concurrent_posts_of_one_form_make_one_message(runtime, thread):
    c = thread["conversation"]

    async def post() -> int | str:
        try:
            return (await reply(runtime, c, thread["ann"], "Once", client_key="race-key-1")).id
        except Exception as exc:  # pragma: no cover - shown in the assertion
            return repr(exc)

    results = await asyncio.gather(*[post() for _ in range(6)])
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    assert await sent(runtime, c) == (1, 1)


async def test_the_json_api_takes_the_same_optional_fields(runtime, client, agent):
    _, headers = agent
    first = await receive(runtime, "hello")
    c = await conversation_of(runtime, first)
    url = f"/api/conversations/{c}/messages"
    await receive(runtime, "more")
    form = {"kind": "reply", "text": "Hi", "seen_message_id": first, "client_key": "api-key-1"}
    held = await client.post(url, headers=headers, json=form)
    assert held.status_code == 409
    assert held.json()["error"]["code"] == "newer_messages"
    assert held.json()["error"]["field"] == "seen_message_id"
    sent_once = await client.post(url, headers=headers, json=form | {"send_anyway": True})
    again = await client.post(url, headers=headers, json=form | {"send_anyway": True})
    assert sent_once.status_code == again.status_code == 201
    assert sent_once.json()["id"] == again.json()["id"]
    plain = await client.post(url, headers=headers, json={"kind": "reply", "text": "Hi"})
    assert plain.status_code == 201 and plain.json()["id"] != sent_once.json()["id"]
    assert await sent(runtime, c) == (2, 2)
    bad = await client.post(url, headers=headers, json=form | {"client_key": "no spaces!"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "client_key"
