"""Deliver agent replies: the outbox handler for kind `reply`.

Each channel that can answer registers a `Sender` under its channel name. The handler
loads the reply and its conversation, hands them to that sender, and records the outcome
on the message (`sent` or `failed` with the reason) in the outbox's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.outbox import Outcome
from inbox import service as inbox
from inbox.models import Contact, Conversation, Message


@dataclass(frozen=True)
class OutboundMessage:
    """An agent's reply, as a channel needs it to send."""

    message_id: int
    conversation_id: int
    channel: str
    inbox_id: int
    subject: str
    text: str
    to_email: str | None
    to_name: str | None
    thread_key: str | None


class Sender(Protocol):
    async def send(self, ctx: dict[str, Any], message: OutboundMessage) -> Outcome: ...


senders: dict[str, Sender] = {}


async def _load(ctx: dict[str, Any], message_id: int) -> OutboundMessage | None:
    async with transaction(ctx["runtime"].sessions) as session:
        message = await session.get(Message, message_id)
        if message is None:
            return None
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        contact = await session.get(Contact, conversation.contact_id)
    return OutboundMessage(
        message_id=message.id, conversation_id=conversation.id, channel=conversation.channel,
        inbox_id=conversation.inbox_id, subject=conversation.subject, text=message.text,
        to_email=contact.email if contact else None, to_name=contact.name if contact else None,
        thread_key=conversation.thread_key)


class ReplyDelivery:
    """Outbox handler: send a reply through its channel's sender."""

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        outbound = await _load(ctx, payload["message_id"])
        if outbound is None:
            return Outcome("failed", "the message no longer exists")
        sender = senders.get(outbound.channel)
        if sender is None:
            return Outcome("failed", f"no outbound connector for channel {outbound.channel!r}")
        return await sender.send(ctx, outbound)

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        status = {"sent": "sent", "failed": "failed", "retry": "retrying"}[outcome.result]
        await inbox.record_delivery(session, payload["message_id"], status,
                                    outcome.detail or None)


async def load_outbound(ctx: dict[str, Any], message_id: int) -> OutboundMessage | None:
    """Reply `message_id` as a channel needs it to send (None when it is gone): for a
    channel that hands a reply on to another (a chat reply mailed to its visitor)."""
    return await _load(ctx, message_id)
