"""Send agent replies as email through the inbox's relay (`connectors.email.relays`: the
inbox's own, else the global one, else `[smtp_out]` of the configuration file).

`EmailSender` is the `Sender` of the `email` and `form` channels (form contacts gave their
address). For one reply it:

1. checks the contact's address (a bad one fails the reply; nothing is sent);
2. signs a Message-ID for the reply and commits it on the message *before* sending, so a
   retry sends the same Message-ID and receivers can tell a repeat from a new message;
3. builds the mail (`compose`) with the thread's ids and the ticket token, and
4. hands it to the relay chosen for the inbox at that moment, with aiosmtplib (a relay
   with a sender address of its own sends from that address).

Outcomes: a reply the relay accepted is `sent`; `retry` when the relay could not be reached,
timed out, answered 4xx, or refused the session itself (greeting, EHLO, STARTTLS, login:
ours to fix, the reply is fine); `failed` with the relay's own answer when it refused the
message with 5xx. `install(runtime)` registers the sender and the auto-acknowledgment
outbox handler. Automatic acknowledgments and notification mail leave through the
global relay (else `[smtp_out]`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors import outbound
from connectors.email import account_mail, autoack, notices, relays
from connectors.email.compose import (
    Draft,
    InvalidAddress,
    Undeliverable,
    compose,
    domain_of,
    sender_identity,
    validate_address,
)
from connectors.email.ids import make_message_id
from connectors.email.tls import client_context
from connectors.outbound import OutboundMessage
from core import clock, outbox
from core.db import transaction
from core.outbox import Outcome
from core.secrets import SecretBox
from core.settings import Settings, SmtpOutSettings
from inbox import service as inbox
from inbox.attachments import AttachmentStore
from inbox.directory import channels_in
from inbox.messages import Attachment
from inbox.models import Inbox, Message, MessageAttachment
from tickets.service import ticket_for_conversation

log = logging.getLogger(__name__)

CHANNELS = ("email", "form", "phone")
"""Channels whose replies are mailed to the contact: a phone case (opened by hand) too."""


def _reply_text(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {' '.join(exc.message.split())}".strip()


def outcome_for(exc: BaseException, relay: str) -> Outcome:
    """The outcome of a send that raised `exc` talking to `relay` (host:port)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Outcome("retry", f"the relay {relay} refused our login: {_reply_text(exc)}")
    if isinstance(exc, (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError)):
        return Outcome("retry", f"the relay {relay} refused the session: {_reply_text(exc)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        permanent = 500 <= exc.code < 600
        return Outcome("failed" if permanent else "retry", _reply_text(exc))
    if isinstance(exc, TimeoutError):
        return Outcome("retry", f"timed out talking to the relay {relay}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Outcome("retry", f"the relay {relay} does not support what we need: {exc}")
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                        OSError)):
        return Outcome("retry", f"cannot reach the relay {relay}: {exc}")
    if isinstance(exc, ValueError):
        return Outcome("failed", str(exc))
    return Outcome("retry", f"{type(exc).__name__}: {exc}")


class Relay:
    """One relay: one connection per message. With a `problem` (its password cannot be
    had) every send is retried with that reason, without connecting."""

    def __init__(self, settings: SmtpOutSettings, password: str | None,
                 problem: str | None = None):
        self.settings = settings
        self.password = password
        self.problem = problem
        self.name = f"{settings.host}:{settings.port}"

    @classmethod
    def from_settings(cls, settings: SmtpOutSettings,
                      env: Mapping[str, str] | None = None) -> Relay:
        """A relay whose password is read from the variable `password_env` names."""
        env = os.environ if env is None else env
        return cls(settings, env.get(settings.password_env) if settings.password_env else None)

    def _client(self) -> aiosmtplib.SMTP:
        conf = self.settings
        return aiosmtplib.SMTP(
            hostname=conf.host, port=conf.port, timeout=conf.timeout_seconds,
            use_tls=conf.security == "ssl", start_tls=conf.security == "starttls",
            tls_context=client_context(conf.ca_file) if conf.security != "none" else None,
            username=conf.username or None, password=self.password if conf.username else None)

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> Outcome:
        """Send `message` to `recipient` with envelope `sender` ("" for the null sender)."""
        if self.problem is not None:
            return Outcome("retry", f"relay {self.name}: {self.problem}")
        if self.settings.username and self.password is None:
            return Outcome("retry", f"smtp_out.password_env: the environment variable "
                                    f"{self.settings.password_env!r} is not set")
        client, accepted = self._client(), False
        try:
            await client.connect()
            _, reply = await client.send_message(message, sender=sender, recipients=[recipient])
            accepted = True
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            outcome = outcome_for(exc, self.name)
            log.warning("relay %s: %s for %s: %s", self.name, outcome.result,
                        message["Message-ID"], outcome.detail)
            return outcome
        finally:
            await _hang_up(client, politely=accepted)
        log.info("relay %s accepted %s: %s", self.name, message["Message-ID"], reply)
        return Outcome("sent")


async def _hang_up(client: aiosmtplib.SMTP, *, politely: bool) -> None:
    """QUIT after a message was accepted (its failure changes nothing); else just close."""
    if politely:
        try:
            await client.quit()
            return
        except (aiosmtplib.SMTPException, OSError):
            pass
    client.close()


class RelayChooser:
    """Which relay mail leaves through, read from the database at each send (a relay an
    admin sets is used from the next message on, in every process)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings,
                 env: Mapping[str, str] | None = None):
        self.sessions = sessions
        self.file_relay = Relay.from_settings(settings.smtp_out, env)
        self.box = SecretBox(settings.secret_key)

    async def for_inbox(self, inbox_id: int | None) -> tuple[Relay, str]:
        """(the relay, the sender address it imposes or "") for mail of inbox `inbox_id`."""
        async with transaction(self.sessions) as session:
            chosen = await relays.choose(session, inbox_id, self.file_relay.settings,
                                         self.file_relay.password, self.box)
        if chosen.source == "file":
            return self.file_relay, ""
        return Relay(chosen.settings, chosen.password, chosen.problem), chosen.from_address

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> Outcome:
        """Send through the global relay (else `[smtp_out]`): mail of no one inbox."""
        relay, _ = await self.for_inbox(None)
        return await relay.send(message, sender=sender, recipient=recipient)


@dataclass(frozen=True)
class _Reply:
    from_address: str
    from_name: str
    message_id: str
    thread_ids: Sequence[str]
    ticket_number: int | None
    attachments: Sequence[MessageAttachment]
    store: AttachmentStore | None


async def _thread_ids(session: AsyncSession, conversation_id: int, before: int) -> list[str]:
    rows = await session.scalars(
        select(Message.external_id)
        .where(Message.conversation_id == conversation_id, Message.id < before,
               Message.direction.in_(("inbound", "outbound")),
               Message.external_id.is_not(None))
        .order_by(Message.created_at, Message.id))
    return [external_id for external_id in rows if external_id]


class EmailSender:
    """The `Sender` of the email and form channels."""

    def __init__(self, settings: Settings, relays: RelayChooser):
        self.settings = settings
        self.relays = relays

    async def send(self, ctx: dict[str, Any], message: OutboundMessage) -> Outcome:
        if not message.to_email:
            return Outcome("failed", "the contact has no email address")
        relay, from_override = await self.relays.for_inbox(message.inbox_id)
        try:
            recipient = validate_address(message.to_email)
            reply = await self._sign(ctx["runtime"].sessions, message, from_override)
            attachments = await asyncio.to_thread(_read_attachments, reply)
            mail = compose(Draft(
                from_address=reply.from_address, from_name=reply.from_name,
                to_address=recipient, to_name=message.to_name, subject=message.subject,
                text=message.text, message_id=reply.message_id, date=clock.now(),
                thread_ids=reply.thread_ids, ticket_number=reply.ticket_number,
                attachments=attachments))
        except (InvalidAddress, Undeliverable) as exc:
            return Outcome("failed", str(exc))
        return await relay.send(mail, sender=reply.from_address, recipient=recipient)

    async def _sign(self, sessions: async_sessionmaker[AsyncSession],
                    message: OutboundMessage, from_override: str) -> _Reply:
        """Load what the mail needs and commit its Message-ID (a retry reuses it)."""
        async with transaction(sessions) as session:
            row = await session.get(Message, message.message_id)
            slug = await session.scalar(select(Inbox.slug).where(Inbox.id == message.inbox_id))
            conf = channels_in(session.info).current.inbox(slug or "")
            if row is None or conf is None:
                raise Undeliverable("the message or its inbox no longer exists")
            from_address, from_name = sender_identity(conf)
            from_address = from_override or from_address
            message_id = row.external_id
            if message_id is None:
                message_id = make_message_id(self.settings.secret_key, domain_of(from_address),
                                             f"r{secrets.token_hex(8)}")
                await inbox.set_external_id(session, row.id, message_id)
            ticket = await ticket_for_conversation(session, message.conversation_id)
            attachments = (await session.scalars(
                select(MessageAttachment).where(MessageAttachment.message_id == row.id)
                .order_by(MessageAttachment.id))).all()
            return _Reply(
                from_address=from_address, from_name=from_name, message_id=message_id,
                thread_ids=await _thread_ids(session, message.conversation_id, row.id),
                ticket_number=ticket.number if ticket is not None else None,
                attachments=list(attachments), store=session.info.get("attachments"))


def _read_attachments(reply: _Reply) -> list[Attachment]:
    if not reply.attachments:
        return []
    if reply.store is None:
        raise Undeliverable("the reply has attachments but no attachment store is configured")
    files = []
    for row in reply.attachments:
        try:
            content = reply.store.read(row.sha256)
        except (OSError, ValueError):
            raise Undeliverable(f"attachment {row.filename!r} is missing from the store") from None
        files.append(Attachment(filename=row.filename, content_type=row.content_type,
                                content=content))
    return files


def install(runtime: Any) -> None:
    """Send the email and form channels' replies (each through its inbox's relay),
    automatic acknowledgments, agents' notification mail and password links (through the
    global relay)."""
    relay = RelayChooser(runtime.sessions, runtime.settings)
    sender = EmailSender(runtime.settings, relay)
    for channel in CHANNELS:
        outbound.senders[channel] = sender
    outbox.handlers[autoack.KIND] = autoack.AcknowledgmentDelivery(runtime.settings, relay)
    outbox.handlers[notices.KIND] = notices.NotificationMail(runtime.settings, relay)
    outbox.handlers[account_mail.KIND] = account_mail.AccountMail(runtime.settings, relay)
