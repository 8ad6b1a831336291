"""Automatic acknowledgment of new email conversations (RFC 3834), off unless an inbox asks.

`maybe_acknowledge` runs inside the transaction that ingests an inbound email. It queues one
acknowledgment when all of these hold:

- the inbox's channel (`inbox.directory`) has auto-ack on and an address to send from;
- the email opened a new conversation (not a reply in a thread, not a duplicate);
- the email is not automatic (auto-replies, bounces, bulk and list mail, our own mail)
  and did not come through a mailing list (`List-Id` or another `List-*` field);
- the sender can read an answer: not a null sender, not MAILER-DAEMON, postmaster or
  another role address that never reads replies, not one of our own addresses or domains;
- the inbox has not acknowledged that address within `auto_ack_window_minutes`.

The window's claim (`AutoAcknowledgment`, unique per inbox and address), the outbox row and
the acknowledgment as agents see it in the conversation (an automatic outbound message, with
its Message-ID and delivery status) commit with the message, so a message that rolls back
acknowledges nothing. The mail leaves through the outbox (kind `auto_ack`) with
`Auto-Submitted: auto-replied`, `X-Auto-Response-Suppress: All`, In-Reply-To the customer's
message, and the null envelope sender, so that nothing bounces or auto-replies back to the
inbox.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from datetime import timedelta
from email.message import EmailMessage
from typing import Any, Protocol, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.email.compose import (
    Draft,
    InvalidAddress,
    Undeliverable,
    compose,
    domain_of,
    is_message_id,
    sender_identity,
    validate_address,
)
from connectors.email.ids import make_message_id
from connectors.email.models import AutoAcknowledgment
from core import clock, outbox
from core.outbox import Outcome
from core.settings import Settings
from inbox.directory import ChannelDirectory, InboxChannel, current_directory
from inbox.messages import InboundMessage
from inbox.service import IngestResult, add_automatic_reply, record_delivery
from tickets.service import ticket_for_conversation

log = logging.getLogger(__name__)

KIND = "auto_ack"
NEVER_ANSWERED = frozenset({
    "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply",
    "bounce", "bounces", "listserv", "majordomo",
})
"""Local parts of addresses no person reads answers at."""


def may_acknowledge(sender: str | None, own_addresses: Collection[str],
                    own_domains: Collection[str]) -> bool:
    """Whether `sender` may receive an automatic answer at all: a valid address that is not
    a null sender, a role that never reads replies (MAILER-DAEMON, postmaster, no-reply,
    `owner-*`, `*-request`) or one of ours (lower-cased addresses and domains)."""
    if not sender or not sender.strip():
        return False
    try:
        address = validate_address(sender.strip()).lower()
    except InvalidAddress:
        return False
    local, domain = address.split("@")
    if local in NEVER_ANSWERED or local.startswith("owner-") or local.endswith("-request"):
        return False
    return address not in own_addresses and domain not in own_domains


async def _claim_window(session: AsyncSession, conf: InboxChannel, address: str) -> bool:
    """Take this window's acknowledgment for `address`; False when one was sent within it.

    The conditional update is atomic; two first-ever inserts race on the unique key, and
    the loser's transaction is retried by ingest (then it finds the winner's row)."""
    now = clock.now()
    window = timedelta(minutes=conf.auto_ack_window_minutes)
    key = (AutoAcknowledgment.inbox == conf.slug, AutoAcknowledgment.address == address)
    renewed = cast(CursorResult[Any], await session.execute(
        update(AutoAcknowledgment).where(*key, AutoAcknowledgment.sent_at <= now - window)
        .values(sent_at=now)))
    if renewed.rowcount == 1:
        return True
    if await session.scalar(select(AutoAcknowledgment.id).where(*key)) is not None:
        return False
    session.add(AutoAcknowledgment(inbox=conf.slug, address=address, sent_at=now))
    await session.flush()
    return True


def _wanted(directory: ChannelDirectory, message: InboundMessage, result: IngestResult,
            mailing_list: str | None) -> InboxChannel | None:
    if result.duplicate or not result.opened or message.channel != "email" or mailing_list:
        return None
    conf = directory.inbox(message.inbox)
    if conf is None or not conf.auto_ack or not conf.addresses or message.automatic:
        return None
    ours = (directory.own_addresses, directory.own_domains)
    return conf if may_acknowledge(message.sender_email, *ours) else None


async def maybe_acknowledge(session: AsyncSession, settings: Settings,
                            directory: ChannelDirectory, message: InboundMessage,
                            result: IngestResult, *, mailing_list: str | None = None) -> None:
    """Queue an acknowledgment of `message` when the rules above allow one, as the inbox's
    channel in `directory` says (call it in the transaction that ingested the message, with
    what ingest returned, and the parse's `mailing_list`)."""
    conf = _wanted(directory, message, result, mailing_list)
    if conf is None or message.sender_email is None:
        return
    address = validate_address(message.sender_email.strip()).lower()
    if not await _claim_window(session, conf, address):
        return
    from_address, _ = sender_identity(conf)
    ticket = await ticket_for_conversation(session, result.conversation_id)
    thread = ([*message.references, message.external_id]
              if is_message_id(message.external_id) else [])
    message_id = make_message_id(settings.secret_key, domain_of(from_address),
                                 f"a{secrets.token_hex(8)}")
    shown = await add_automatic_reply(session, result.conversation_id, text=conf.auto_ack_text,
                                      external_id=message_id)
    await outbox.add(session, KIND, {
        "inbox": conf.slug, "conversation_id": result.conversation_id,
        "to": address, "to_name": message.sender_name, "subject": message.subject,
        "message_id": message_id, "shown_as": shown.id,
        "thread_ids": thread, "ticket_number": ticket.number if ticket is not None else None,
    })


class Transport(Protocol):
    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> Outcome: ...


class AcknowledgmentDelivery:
    """Outbox handler of kind `auto_ack`: send the acknowledgment a payload describes."""

    def __init__(self, settings: Settings, transport: Transport):
        self.settings = settings
        self.transport = transport

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        conf = current_directory(ctx["runtime"]).inbox(payload["inbox"])
        if conf is None:
            return Outcome("failed", f"no inbox {payload['inbox']!r}")
        try:
            from_address, from_name = sender_identity(conf)
            mail = compose(Draft(
                from_address=from_address, from_name=from_name, to_address=payload["to"],
                to_name=payload.get("to_name"), subject=payload.get("subject", ""),
                text=conf.auto_ack_text, message_id=payload["message_id"], date=clock.now(),
                thread_ids=payload.get("thread_ids", ()),
                ticket_number=payload.get("ticket_number"), automatic=True))
        except (InvalidAddress, Undeliverable) as exc:
            return Outcome("failed", str(exc))
        return await self.transport.send(mail, sender="", recipient=payload["to"])

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        if "shown_as" in payload:
            status = {"sent": "sent", "failed": "failed", "retry": "retrying"}[outcome.result]
            await record_delivery(session, payload["shown_as"], status, outcome.detail or None)
        if outcome.result != "sent":
            log.warning("acknowledgment to %s (conversation %s): %s %s", payload.get("to"),
                        payload.get("conversation_id"), outcome.result, outcome.detail)
