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
from inbox.service import ingest, ingest_many
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


def mail(external_id: str, sender: str = "anna@example.org", **fields) -> InboundMessage:
    return message(external_id, channel="email", sender_email=sender, subject="Mail",
                   **fields)


async def test_a_batch_comes_out_as_if_ingested_one_by_one(runtime):
    """Related messages within a batch: a reply to one earlier in it, a duplicate, a reply
    that arrived before what it answers, a reply to a message stored before, and new
    senders twice (one contact each, what the later message tells filled in)."""
    async with transaction(runtime.sessions) as session:
        stored = await ingest(session, mail("old"))
    batch = [
        mail("a"),
        mail("a-reply", sender="bo@example.org", sender_name=None, in_reply_to="a"),
        mail("b", sender="bo@example.org", sender_name="Bo Ek"),
        mail("b"),
        mail("late-reply", references=("early",)),
        mail("early", sender="cy@example.org"),
        mail("old-reply", in_reply_to="old"),
        mail("c", sender="dee@example.org"),
        mail("d", sender="eve@example.org", sender_name=None),
        mail("e", sender="eve@example.org", sender_name="Eve"),
    ]
    async with transaction(runtime.sessions) as session:
        results = await ingest_many(session, batch)
    conversation = [r.conversation_id for r in results]
    assert conversation[1] == conversation[0] and conversation[3] == conversation[2]
    assert conversation[5] == conversation[4] and conversation[6] == stored.conversation_id
    assert len({conversation[i] for i in (0, 2, 4, 7, 8, 9)}) == 6
    assert [r.opened for r in results] == [
        True, False, True, False, True, False, False, True, True, True]
    assert results[3].duplicate and results[3].message_id == results[2].message_id
    async with transaction(runtime.sessions) as session:
        contacts = dict((await session.execute(select(Contact.email, Contact.name))).all())
        assert contacts == {"anna@example.org": "Bo", "bo@example.org": "Bo Ek",
                            "cy@example.org": "Bo", "dee@example.org": "Bo",
                            "eve@example.org": "Eve"}
    assert await counts(runtime) == (5, 7, 10, 7)
