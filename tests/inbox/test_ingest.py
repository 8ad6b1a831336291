"""Ingest: idempotent on the outside world's id, safe under concurrent deliveries."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from connectors.ingest import accept
from core.db import transaction
from core.errors import InvalidInput
from inbox.messages import InboundMessage
from inbox.models import Contact, Conversation, Message
from tickets.models import Ticket


def message(external_id: str, *, thread_key: str | None = None, **fields) -> InboundMessage:
    base = dict(inbox="support", channel="chat", sender_email="bo@example.org",
                sender_name="Bo", subject="Chat", text="hi", external_id=external_id,
                thread_key=thread_key)
    return InboundMessage(**(base | fields))


async def counts(runtime):
    async with transaction(runtime.sessions) as session:
        return tuple([await session.scalar(select(func.count()).select_from(m))
                      for m in (Contact, Conversation, Message, Ticket)])


async def test_same_input_twice_gives_one_message(runtime):
    first = await accept(runtime.sessions, message("m-1"))
    second = await accept(runtime.sessions, message("m-1"))
    assert second.duplicate and second.message_id == first.message_id
    assert await counts(runtime) == (1, 1, 1, 1)


async def test_same_external_id_in_another_channel_is_another_message(runtime):
    await accept(runtime.sessions, message("m-1"))
    await accept(runtime.sessions, message("m-1", channel="slack"))
    assert (await counts(runtime))[2] == 2


async def test_concurrent_duplicates_store_one(runtime):
    results = await asyncio.gather(*[accept(runtime.sessions, message("m-race"))
                                     for _ in range(6)])
    assert len({r.message_id for r in results}) == 1
    assert await counts(runtime) == (1, 1, 1, 1)


async def test_concurrent_messages_of_one_thread_open_one_conversation(runtime):
    results = await asyncio.gather(*[accept(runtime.sessions, message(f"m-{i}", thread_key="s1"))
                                     for i in range(6)])
    assert len({r.conversation_id for r in results}) == 1
    assert sum(r.opened for r in results) == 1
    assert await counts(runtime) == (1, 1, 6, 1)


async def test_reply_threads_by_reference(runtime):
    first = await accept(runtime.sessions, message("<a@x>", channel="email"))
    answer = await accept(runtime.sessions, message("<b@x>", channel="email",
                                                    in_reply_to="<a@x>"))
    assert answer.conversation_id == first.conversation_id and not answer.opened


async def test_unknown_inbox_is_refused_and_nothing_stored(runtime):
    with pytest.raises(InvalidInput, match="no inbox 'nope'"):
        await accept(runtime.sessions, message("m-1", inbox="nope"))
    assert await counts(runtime) == (0, 0, 0, 0)


async def test_message_without_email_gets_its_own_contact(runtime):
    await accept(runtime.sessions, message("m-1", sender_email=None, thread_key="a"))
    await accept(runtime.sessions, message("m-2", sender_email=None, thread_key="b"))
    assert (await counts(runtime))[0] == 2
