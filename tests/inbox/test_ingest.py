"""Ingest: idempotent on the outside world's id, safe under concurrent deliveries."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import func, select

from connectors.ingest import accept
from core.db import transaction
from core.errors import InvalidInput
from inbox.messages import InboundMessage
from inbox.models import Contact, Conversation, ConversationParticipant, Inbox, Message
from inbox.service import delete_conversation, ingest, ingest_many
from tickets.models import Ticket, TicketConversation


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
    return message(external_id, **({"channel": "email", "sender_email": sender,
                                    "subject": "Mail"} | fields))


async def test_a_batch_comes_out_as_if_ingested_one_by_one(runtime):
    """Related messages within a batch: a reply to one earlier in it from someone it was
    Cc'd to, a stranger's reply to it (a conversation of its own, linked), a duplicate, a
    reply that arrived before what it answers, a reply to a message stored before, and new
    senders twice (one contact each, what the later message tells filled in)."""
    async with transaction(runtime.sessions) as session:
        stored = await ingest(session, mail("old"))
    batch = [
        mail("a", cc=("bo@example.org",)),
        mail("a-reply", sender="bo@example.org", sender_name=None, in_reply_to="a"),
        mail("a-stranger", sender="mal@example.net", in_reply_to="a"),
        mail("b", sender="bo@example.org", sender_name="Bo Ek"),
        mail("b"),
        mail("late-reply", references=("early",), cc=("cy@example.org",)),
        mail("early", sender="cy@example.org"),
        mail("old-reply", in_reply_to="old"),
        mail("c", sender="dee@example.org"),
        mail("d", sender="eve@example.org", sender_name=None),
        mail("e", sender="eve@example.org", sender_name="Eve"),
    ]
    async with transaction(runtime.sessions) as session:
        results = await ingest_many(session, batch)
    conversation = [r.conversation_id for r in results]
    assert conversation[1] == conversation[0] and conversation[4] == conversation[3]
    assert conversation[6] == conversation[5] and conversation[7] == stored.conversation_id
    assert len({conversation[i] for i in (0, 2, 3, 5, 8, 9, 10)}) == 7
    assert [r.opened for r in results] == [
        True, False, True, True, False, True, False, False, True, True, True]
    assert results[4].duplicate and results[4].message_id == results[3].message_id
    async with transaction(runtime.sessions) as session:
        contacts = dict((await session.execute(select(Contact.email, Contact.name))).all())
        assert contacts == {"anna@example.org": "Bo", "bo@example.org": "Bo Ek",
                            "mal@example.net": "Bo", "cy@example.org": "Bo",
                            "dee@example.org": "Bo", "eve@example.org": "Eve"}
        links = dict((await session.execute(select(Conversation.id, Conversation.replies_to_id)
                                            )).all())
        assert links[conversation[2]] == conversation[0]
        assert {c: link for c, link in links.items() if link is not None} == {
            conversation[2]: conversation[0]}
    assert await counts(runtime) == (6, 8, 11, 8)


# ------------------------------------------------------------- threading by participants

PEOPLE = ("alice@example.org", "bob@example.org", "carol@example.org", "mal@evil.example")


def scenario(seed: int, inbox: str, size: int = 40) -> list[InboundMessage]:
    """Random mail and chat in which people answer, Cc, resend and arrive out of order,
    some automatic and some from unverified senders: the same for a seed, in any inbox."""
    rng = random.Random(seed)
    ids = [f"{seed}-{n}@x" for n in range(size)]
    messages = []
    for n in range(size):
        if rng.random() < 0.2:
            messages.append(InboundMessage(
                inbox=inbox, channel="chat", sender_email=rng.choice(PEOPLE), sender_name=None,
                subject="Chat", text="hi", external_id=ids[n],
                thread_key=f"{seed}-s{rng.randrange(3)}"))
            continue
        answered = rng.sample(ids, k=rng.choice((0, 0, 1, 2)))  # earlier, later or itself
        external_id = rng.choice(ids[:n]) if n and rng.random() < 0.1 else ids[n]
        messages.append(InboundMessage(
            inbox=inbox, channel="email", sender_email=rng.choice(PEOPLE), sender_name=None,
            subject="Mail", text="hi", external_id=external_id,
            cc=tuple(rng.sample(PEOPLE, k=rng.choice((0, 0, 1, 2)))),
            in_reply_to=answered[0] if answered else None, references=tuple(answered[1:]),
            automatic=rng.random() < 0.1, unverified_sender=rng.random() < 0.1))
    resent = rng.randrange(size - 1)  # and one message sent twice
    messages.insert(rng.randrange(resent + 1, size), messages[resent])
    return messages


async def outcome(runtime, results) -> list:
    """What ingest made of a scenario, with ids replaced by order of appearance."""
    order = {c: n for n, c in enumerate(dict.fromkeys(r.conversation_id for r in results))}
    async with transaction(runtime.sessions) as session:
        rows = {c.id: c for c in (await session.scalars(
            select(Conversation).where(Conversation.id.in_(order)))).all()}
        people: dict[int, set[str]] = {}
        for conversation_id, address in await session.execute(
                select(ConversationParticipant.conversation_id, ConversationParticipant.address)
                .where(ConversationParticipant.conversation_id.in_(order))):
            people.setdefault(conversation_id, set()).add(address)
        texts = (await session.execute(
            select(Message.conversation_id, Message.external_id, Message.unverified_sender)
            .where(Message.conversation_id.in_(order)).order_by(Message.id))).all()
        tickets = {c for c in (await session.scalars(select(TicketConversation.conversation_id)
                   .where(TicketConversation.conversation_id.in_(order)))).all()}
    return [[(order[r.conversation_id], r.opened, r.duplicate) for r in results],
            [(rows[c].status, rows[c].thread_key and rows[c].thread_key.split("-", 1)[1],
              order.get(rows[c].replies_to_id), sorted(people.get(c, ())), c in tickets,
              [(ext.split("-", 1)[1], unverified) for conv, ext, unverified in texts
               if conv == c]) for c in order]]


@pytest.mark.parametrize("seed", range(6))
async def test_a_batch_threads_exactly_as_one_by_one(runtime, seed):
    async with transaction(runtime.sessions) as session:
        session.add_all([Inbox(slug="one-by-one", name="1", addresses=[]),
                         Inbox(slug="batch", name="2", addresses=[])])
    one_by_one = []
    for msg in scenario(seed, "one-by-one"):
        async with transaction(runtime.sessions) as session:
            one_by_one.append(await ingest(session, msg))
    async with transaction(runtime.sessions) as session:
        batch = await ingest_many(session, scenario(seed, "batch"))
    made = await outcome(runtime, batch)
    assert made == await outcome(runtime, one_by_one)
    # The scenario tells something: messages joined, duplicated and opened linked.
    assert any(not r.opened and not r.duplicate for r in batch)
    assert any(r.duplicate for r in batch)
    assert any(replies_to is not None for _, _, replies_to, *_ in made[1])


async def test_participants_are_the_contact_and_whom_inbound_mail_was_written_to(runtime):
    async with transaction(runtime.sessions) as session:
        first = await ingest(session, mail("p1", sender="Alice@Example.org",
                                           to=("bob@example.org",)))
        await ingest(session, mail("p2", sender="bob@example.org", in_reply_to="p1",
                                   cc=("carol@example.org", "alice@example.org")))
        stranger = await ingest(session, mail("p3", sender="mal@evil.example",
                                              in_reply_to="p1", cc=("dan@example.org",)))
        rows = (await session.execute(select(ConversationParticipant.conversation_id,
                                             ConversationParticipant.address))).all()
    assert sorted(rows) == sorted([
        (first.conversation_id, "alice@example.org"), (first.conversation_id, "bob@example.org"),
        (first.conversation_id, "carol@example.org"),
        (stranger.conversation_id, "mal@evil.example"),
        (stranger.conversation_id, "dan@example.org")])


async def test_a_ticket_token_in_a_batch_can_name_the_ticket_the_batch_just_made(runtime):
    async with transaction(runtime.sessions) as session:
        await ingest(session, mail("t0"))
        number = await session.scalar(select(func.max(Ticket.id))) + 1
        results = await ingest_many(session, [
            mail("t1", sender="cy@example.org"),
            mail("t2", sender="cy@example.org", subject=f"Re: Mail [#{number}]"),
            mail("t3", sender="mal@evil.example", subject=f"Re: Mail [#{number}]")])
        ticket = await session.get(TicketConversation, results[0].conversation_id)
        assert ticket.ticket_id == number
        link = await session.get(Conversation, results[2].conversation_id)
    assert results[1].conversation_id == results[0].conversation_id and not results[1].opened
    assert results[2].opened and link.replies_to_id == results[0].conversation_id


async def test_a_deleted_conversation_is_never_joined_nor_linked(runtime):
    async with transaction(runtime.sessions) as session:
        gone = await ingest(session, mail("d1"))
        await delete_conversation(session, gone.conversation_id, actor_id=None, cause="agent")
        again = await ingest(session, mail("d2", in_reply_to="d1"))
        conversation = await session.get(Conversation, again.conversation_id)
    assert again.opened and conversation.replies_to_id is None


async def test_a_text_over_the_limit_is_cut_and_told_never_refused(runtime):
    """Whatever channel it came from, an accepted message is stored: its text cut at
    `[limits] max_text_chars`, the cut counted and told at the top of the text."""
    limit = runtime.settings.limits.max_text_chars
    result = await accept(runtime.sessions, message("m-long", text="x" * (limit + 7)))
    async with transaction(runtime.sessions) as session:
        stored = await session.get(Message, result.message_id)
    assert stored.truncated == [{"what": "text", "limit": "max_text_chars", "max": limit,
                                 "dropped": 7, "names": []}]
    note, text = stored.text.split("\n\n")
    assert note == (f"[Frontdesk left part of this message out: its text was cut at "
                    f"{limit:,} characters (7 more).]")
    assert text == "x" * limit
