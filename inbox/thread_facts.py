"""The query phase of threading: what the database holds that decides where messages go.

`gather(session, messages)` reads, for a whole batch at once (a handful of queries, none
per message), the `threading.Facts` that `threading.plan` decides from: messages held with
the same ids, conversations by thread key, by the message ids answered, by the messages
that answer these ones and by the tickets their subjects name, and the inbox and
participants of each of those conversations. Only live (not deleted) conversations are
candidates.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Conversation, ConversationParticipant, Message, MessageReference
from inbox.threading import Facts, Incoming, Known, Ref


async def gather(session: AsyncSession, messages: Sequence[Incoming]) -> Facts:
    """The facts threading needs to plan `messages` (see the module docstring). Ticket
    numbers are resolved by the `conversations_of_tickets` service the tickets room
    provides on the session (without it, no ticket token leads anywhere)."""
    inbox_ids = {m.inbox_id for m in messages}
    facts = Facts(
        held=await _held(session, inbox_ids, {m.external_id for m in messages}),
        by_thread_key=await _by_thread_key(session, inbox_ids, {
            m.thread_key for m in messages if m.thread_key}),
        by_message_id=await _by_message_id(session, inbox_ids, {
            ref for m in messages for ref in m.references}),
        answered_by=await _answered_by(session, inbox_ids, {
            m.external_id for m in messages if m.channel == "email"}),
        tickets=await _tickets(session, {
            m.ticket_number for m in messages if m.ticket_number is not None}))
    candidates: set[Ref] = {*facts.by_thread_key.values(), *facts.by_message_id.values()}
    for conversations in (*facts.answered_by.values(), *facts.tickets.values()):
        candidates.update(conversations)
    facts.conversations = await _known(session, {c for c in candidates if isinstance(c, int)})
    return facts


async def _held(session: AsyncSession, inbox_ids: Collection[int], external_ids: set[str]
                ) -> dict[tuple[int, str, str], tuple[Ref, Ref]]:
    if not external_ids:
        return {}
    rows = await session.execute(
        select(Message.inbox_id, Message.channel, Message.external_id,
               Message.conversation_id, Message.id)
        .where(Message.inbox_id.in_(inbox_ids), Message.external_id.in_(external_ids)))
    return {(inbox_id, channel, external_id): (conversation_id, message_id)
            for inbox_id, channel, external_id, conversation_id, message_id in rows
            if external_id is not None}


async def _by_thread_key(session: AsyncSession, inbox_ids: Collection[int], keys: set[str]
                         ) -> dict[tuple[int, str, str], Ref]:
    if not keys:
        return {}
    rows = await session.execute(
        select(Conversation.inbox_id, Conversation.channel, Conversation.thread_key,
               Conversation.id)
        .where(Conversation.inbox_id.in_(inbox_ids), Conversation.thread_key.in_(keys),
               Conversation.deleted_at.is_(None)))
    return {(inbox_id, channel, key): conversation_id
            for inbox_id, channel, key, conversation_id in rows if key is not None}


async def _by_message_id(session: AsyncSession, inbox_ids: Collection[int], refs: set[str]
                         ) -> dict[tuple[int, str], Ref]:
    if not refs:
        return {}
    rows = await session.execute(
        select(Message.inbox_id, Message.external_id, Message.conversation_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.inbox_id.in_(inbox_ids), Message.external_id.in_(refs),
               Conversation.deleted_at.is_(None))
        .order_by(Message.id))
    found: dict[tuple[int, str], Ref] = {}
    for inbox_id, external_id, conversation_id in rows:
        if external_id is not None:
            found.setdefault((inbox_id, external_id), conversation_id)
    return found


async def _answered_by(session: AsyncSession, inbox_ids: Collection[int],
                       external_ids: set[str]) -> dict[tuple[int, str], tuple[Ref, ...]]:
    if not external_ids:
        return {}
    rows = await session.execute(
        select(MessageReference.inbox_id, MessageReference.ref, Message.conversation_id)
        .join(Message, Message.id == MessageReference.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(MessageReference.inbox_id.in_(inbox_ids),
               MessageReference.ref.in_(external_ids), Conversation.deleted_at.is_(None))
        .order_by(Message.id))
    found: dict[tuple[int, str], tuple[Ref, ...]] = {}
    for inbox_id, ref, conversation_id in rows:
        answering = found.get((inbox_id, ref), ())
        if conversation_id not in answering:
            found[(inbox_id, ref)] = (*answering, conversation_id)
    return found


async def _tickets(session: AsyncSession, numbers: set[int]) -> dict[int, tuple[Ref, ...]]:
    resolve = session.info.get("conversations_of_tickets")
    if not numbers or resolve is None:
        return {}
    return dict(await resolve(session, numbers))


async def _known(session: AsyncSession, conversation_ids: set[int]) -> dict[Ref, Known]:
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(Conversation.id, Conversation.inbox_id, ConversationParticipant.address)
        .outerjoin(ConversationParticipant,
                   ConversationParticipant.conversation_id == Conversation.id)
        .where(Conversation.id.in_(conversation_ids), Conversation.deleted_at.is_(None)))
    inboxes: dict[int, int] = {}
    participants: dict[int, set[str]] = {}
    for conversation_id, inbox_id, address in rows:
        inboxes[conversation_id] = inbox_id
        if address is not None:
            participants.setdefault(conversation_id, set()).add(address)
    return {conversation_id: Known(inbox_id, frozenset(participants.get(conversation_id, ())))
            for conversation_id, inbox_id in inboxes.items()}
