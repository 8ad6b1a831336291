"""Contacts known per channel: a sender's channel identity names their contact before and
after they give an address (SQLite, and PostgreSQL with FRONTDESK_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from connectors.ingest import accept
from connectors.webchat import service as chat
from core.db import transaction
from inbox.messages import InboundMessage
from inbox.models import Contact, ContactIdentity, Conversation, Message
from inbox.service import ingest_many

SLACK_BOB = "slack:T0ACME01:U0BOB002"


def slack(external_id: str, thread: str, *, email: str | None = None) -> InboundMessage:
    return InboundMessage(inbox="support", channel="slack", sender_email=email,
                          sender_name="Bob Ek", subject="Help", text="hi",
                          external_id=external_id, thread_key=thread,
                          sender_identity=SLACK_BOB)


async def rows(runtime, model, *where):
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(model).where(*where)
                                           .order_by(model.id))).all())


async def test_two_messages_of_one_author_without_an_address_are_one_contact(runtime):
    first = await accept(runtime.sessions, slack("s-1", "thread-1"))
    second = await accept(runtime.sessions, slack("s-2", "thread-2"))
    assert first.conversation_id != second.conversation_id
    [bob] = await rows(runtime, Contact)
    assert (bob.name, bob.email) == ("Bob Ek", None)
    assert [(i.channel, i.external_id, i.contact_id)
            for i in await rows(runtime, ContactIdentity)] == [("slack", SLACK_BOB, bob.id)]
    assert {c.contact_id for c in await rows(runtime, Conversation)} == {bob.id}
    assert {m.contact_id for m in await rows(runtime, Message)} == {bob.id}


async def test_one_batch_of_one_author_makes_one_contact(runtime):
    async with transaction(runtime.sessions) as session:
        await ingest_many(session, [slack("s-1", "thread-1"), slack("s-2", "thread-2"),
                                    slack("s-3", "thread-1")])
    [bob] = await rows(runtime, Contact)
    assert len(await rows(runtime, ContactIdentity)) == 1
    assert {m.contact_id for m in await rows(runtime, Message)} == {bob.id}


async def test_an_address_learnt_later_goes_to_the_same_contact(runtime):
    await accept(runtime.sessions, slack("s-1", "thread-1"))
    await accept(runtime.sessions, slack("s-2", "thread-1", email="Bob@Example.org"))
    [bob] = await rows(runtime, Contact)
    assert bob.email == "bob@example.org"


def chat_message(client_id: str, *, name: str | None = None,
                 email: str | None = None) -> InboundMessage:
    return chat.to_inbound("support", 1, "visitor-1", client_id, "Is it in stock?", name,
                           email)


async def test_a_visitor_anonymous_then_giving_details_is_the_same_contact(runtime):
    opened = await accept(runtime.sessions, chat_message("c1"))
    [anonymous] = await rows(runtime, Contact)
    assert (anonymous.name, anonymous.email) == (None, None)
    async with transaction(runtime.sessions) as session:
        await chat.save_details(session, 1, "visitor-1", "Vi Lund", "Vi@Example.org")
    [told] = await rows(runtime, Contact)
    assert (told.id, told.name, told.email) == (anonymous.id, "Vi Lund", "vi@example.org")
    [conversation] = await rows(runtime, Conversation)
    assert conversation.sort_contact == "Vi Lund"
    later = await accept(runtime.sessions, chat_message("c2", name="Vi Lund",
                                                        email="vi@example.org"))
    assert later.conversation_id == opened.conversation_id
    assert {m.contact_id for m in await rows(runtime, Message)} == {anonymous.id}
    assert len(await rows(runtime, Contact)) == 1


async def test_a_visitor_giving_a_known_customers_address_becomes_that_customer(runtime):
    known = await accept(runtime.sessions, InboundMessage(
        inbox="support", channel="email", sender_email="vi@example.org", sender_name="Vi",
        subject="Order", text="Where is it?", external_id="<m1@example.org>"))
    chat_result = await accept(runtime.sessions, chat_message("c1"))
    async with transaction(runtime.sessions) as session:
        await chat.save_details(session, 1, "visitor-1", None, "vi@example.org")
    [customer] = await rows(runtime, Contact, Contact.email == "vi@example.org")
    conversations = await rows(runtime, Conversation)
    assert {c.id for c in conversations} == {known.conversation_id,
                                             chat_result.conversation_id}
    assert {c.contact_id for c in conversations} == {customer.id}
    assert {m.contact_id for m in await rows(runtime, Message)} == {customer.id}
    [identity] = await rows(runtime, ContactIdentity)
    assert identity.contact_id == customer.id
    await accept(runtime.sessions, chat_message("c2"))
    assert {m.contact_id for m in await rows(runtime, Message)} == {customer.id}


async def test_details_before_the_first_message_make_no_contact(runtime):
    async with transaction(runtime.sessions) as session:
        await chat.save_details(session, 1, "visitor-1", "Vi", "vi@example.org")
    assert await rows(runtime, Contact) == []
    await accept(runtime.sessions, chat_message("c1", name="Vi", email="vi@example.org"))
    [vi] = await rows(runtime, Contact)
    assert (vi.name, vi.email) == ("Vi", "vi@example.org")
    [identity] = await rows(runtime, ContactIdentity)
    assert identity.contact_id == vi.id


async def test_concurrent_first_messages_of_one_author_make_one_contact(runtime):
    results = await asyncio.gather(*[accept(runtime.sessions, slack(f"s-{n}", f"thread-{n}"))
                                     for n in range(5)])
    assert len({r.conversation_id for r in results}) == 5
    [bob] = await rows(runtime, Contact)
    assert len(await rows(runtime, ContactIdentity)) == 1
    assert {m.contact_id for m in await rows(runtime, Message)} == {bob.id}
