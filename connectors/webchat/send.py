"""Agent replies to a chat, and what follows a chat: the outbound side of the widget.

- `ChatSender` (the `Sender` of channel "chat", run by the outbox after the reply is
  committed) tells the visitor's sockets through the live hub; each reads what it has not
  sent yet from the database, so a visitor who is away gets it on resume. When the visitor
  left an email address, a job looks again `email_after_minutes` later: a reply still
  unread then is mailed (outbox kind `webchat.email`), threaded like any reply, so the
  visitor can answer by email and the conversation continues there.
- `TranscriptRules` (a subscriber): a chat conversation closed, in an inbox that mails
  transcripts, to a visitor with an address, queues `webchat.transcript`: the messages the
  visitor saw, mailed with `Auto-Submitted: auto-generated`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors import outbound
from connectors.email.compose import (
    InvalidAddress,
    Notice,
    Undeliverable,
    compose_notice,
    domain_of,
    sender_identity,
)
from connectors.email.ids import make_message_id
from connectors.email.smtp_out import RelayChooser
from connectors.outbound import OutboundMessage
from connectors.webchat import service
from connectors.webchat.models import ChatMessage, ChatVisitor
from core import clock, outbox
from core.db import transaction
from core.events import EventBus
from core.jobs import registry
from core.live import LiveEvent
from core.outbox import Outcome
from core.settings import Settings
from inbox.directory import current_directory
from inbox.events import ConversationStatusChanged
from inbox.models import Conversation, Inbox

log = logging.getLogger(__name__)

EMAIL_KIND = "webchat.email"
TRANSCRIPT_KIND = "webchat.transcript"
UNREAD_JOB = "webchat.unread_reply"


class ChatSender:
    """Delivers a reply to the visitor's sockets (through the hub), then schedules the
    look at whether it was read."""

    async def send(self, ctx: dict[str, Any], message: OutboundMessage) -> Outcome:
        runtime = ctx["runtime"]
        await runtime.live.publish([LiveEvent("webchat", data={
            "conversation_id": message.conversation_id, "message_id": message.message_id})])
        async with transaction(runtime.sessions) as session:
            visitor = await session.scalar(select(ChatVisitor).where(
                ChatVisitor.conversation_id == message.conversation_id))
            values = await service.get_settings(session, message.inbox_id)
        if visitor is not None and visitor.email:
            when = clock.now() + timedelta(minutes=values.email_after_minutes)
            await runtime.queue.enqueue(UNREAD_JOB, message.message_id, defer_until=when,
                                        job_id=f"{UNREAD_JOB}:{message.message_id}")
        return Outcome("sent", "to the chat")


async def _visitor_of_message(session: AsyncSession, message_id: int) -> ChatVisitor | None:
    visitor: ChatVisitor | None = await session.scalar(
        select(ChatVisitor)
        .join(ChatMessage, ChatMessage.conversation_id == ChatVisitor.conversation_id)
        .where(ChatMessage.message_id == message_id))
    return visitor


async def unread_reply(ctx: dict[str, Any], message_id: int) -> None:
    """Job: mail reply `message_id` when its visitor has not read it (and left an address)."""
    async with transaction(ctx["runtime"].sessions) as session:
        seq = await service.seq_of(session, message_id)
        visitor = await _visitor_of_message(session, message_id)
        if seq is None or visitor is None or not visitor.email or visitor.read_seq >= seq:
            return
        if await service.claim_mailing(session, message_id):
            await outbox.add(session, EMAIL_KIND, {"message_id": message_id})


class EmailReply:
    """Outbox handler: mail an unread chat reply through the email channel's sender, to the
    address the visitor left."""

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        message_id = int(payload["message_id"])
        async with transaction(ctx["runtime"].sessions) as session:
            visitor = await _visitor_of_message(session, message_id)
        loaded = await outbound.load_outbound(ctx, message_id)
        email_sender = outbound.senders.get("email")
        if loaded is None or visitor is None or not visitor.email or email_sender is None:
            return Outcome("failed", "the reply, its visitor's address or email is gone")
        return await email_sender.send(ctx, replace(
            loaded, channel="email", to_email=visitor.email,
            to_name=visitor.name or loaded.to_name))

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        if outcome.result != "sent":
            log.warning("chat reply %s not mailed (%s): %s", payload.get("message_id"),
                        outcome.result, outcome.detail)


# ---------------------------------------------------------------- transcripts


class TranscriptRules:
    """Subscriber: a closed chat queues its transcript when its inbox says so."""

    def install(self, bus: EventBus) -> None:
        bus.subscribe(ConversationStatusChanged, self.on_status)

    async def on_status(self, session: AsyncSession, e: ConversationStatusChanged) -> None:
        if e.new_status != "closed":
            return
        visitor = await session.scalar(select(ChatVisitor).where(
            ChatVisitor.conversation_id == e.conversation_id))
        if visitor is None or not visitor.email or visitor.last_seq == 0:
            return
        values = await service.get_settings(session, visitor.inbox_id)
        if values.transcript:
            await outbox.add(session, TRANSCRIPT_KIND, {
                "conversation_id": e.conversation_id, "seq": visitor.last_seq})


def transcript_text(inbox_name: str, messages: list[Any]) -> str:
    """The body of a transcript: each message with who wrote it and when (UTC)."""
    lines = [f"Your chat with {inbox_name}", ""]
    for message in messages:
        lines.append(f"{message.name}, {message.at:%Y-%m-%d %H:%M} UTC:")
        lines.extend(f"  {line}" for line in message.text.splitlines() or [""])
        lines.append("")
    return "\n".join(lines)


class TranscriptMail:
    """Outbox handler: mail the transcript of a closed chat to its visitor."""

    def __init__(self, settings: Settings, relay: RelayChooser):
        self.settings, self.relay = settings, relay

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        conversation_id, upto = int(payload["conversation_id"]), int(payload["seq"])
        async with transaction(ctx["runtime"].sessions) as session:
            visitor = await session.scalar(select(ChatVisitor).where(
                ChatVisitor.conversation_id == conversation_id))
            conversation = await session.get(Conversation, conversation_id)
            if visitor is None or conversation is None or not visitor.email:
                return Outcome("failed", "the chat or its visitor's address is gone")
            inbox = await session.get(Inbox, conversation.inbox_id)
            messages: list[Any] = []
            after = 0
            while True:
                page = await service.messages_after(session, conversation_id, after,
                                                    visitor.visitor, visitor.name)
                messages += [m for m in page if m.seq <= upto]
                if len(page) < service.HISTORY_PAGE or page[-1].seq >= upto:
                    break
                after = page[-1].seq
        conf = current_directory(ctx["runtime"]).inbox(inbox.slug if inbox else "")
        if conf is None:
            return Outcome("failed", "the chat's inbox is gone")
        try:
            from_address, from_name = sender_identity(conf)
            mail = compose_notice(Notice(
                from_address=from_address, from_name=from_name, to_address=visitor.email,
                to_name=visitor.name, subject=f"Your chat with {conf.name}",
                text=transcript_text(conf.name, messages),
                message_id=make_message_id(self.settings.secret_key, domain_of(from_address),
                                           f"t{conversation_id}-{upto}"),
                date=clock.now()))
        except (InvalidAddress, Undeliverable, ValueError) as exc:
            return Outcome("failed", str(exc))
        relay, override = await self.relay.for_inbox(conversation.inbox_id)
        return await relay.send(mail, sender="", recipient=visitor.email)

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        if outcome.result != "sent":
            log.warning("chat transcript of %s not mailed (%s): %s",
                        payload.get("conversation_id"), outcome.result, outcome.detail)


def install(runtime: Any) -> None:
    """Wire the chat for one runtime: numbering, reply delivery, mails that follow."""
    service.ChatSequencer().install(runtime.bus)
    TranscriptRules().install(runtime.bus)
    outbound.senders[service.CHANNEL] = ChatSender()
    outbox.handlers[EMAIL_KIND] = EmailReply()
    outbox.handlers[TRANSCRIPT_KIND] = TranscriptMail(
        runtime.settings, RelayChooser(runtime.sessions, runtime.settings))


registry.register(UNREAD_JOB, unread_reply)
