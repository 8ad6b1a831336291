"""Inbound email after the wire: durable accept, then parse, route and ingest in a job.

`store_raw` is what the SMTP server (before its `250`) and the IMAP poller (before any flag)
call: it commits the raw bytes and kicks `email.process`. The job parses, applies the loop
rules and hands the message to the inbox. Whatever fails stays stored with its reason:
`quarantined` (not an email we can read) or `failed` (anything else; retry from the admin
API). Nothing accepted is ever lost, and processing the same raw mail twice is harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email.autoack import maybe_acknowledge
from connectors.email.ids import is_ours
from connectors.email.models import RawEmail
from connectors.email.parse import EmailParseError, ParsedEmail, ParseLimits, parse_email
from connectors.ingest import accept_then
from core import clock
from core.db import transaction
from core.jobs import enqueue_after_commit, registry
from core.settings import Settings
from inbox import service as inbox
from inbox.messages import InboundMessage
from inbox.models import Message

log = logging.getLogger(__name__)


async def store_raw(
    sessions: async_sessionmaker[AsyncSession], *, inbox_slug: str, source: str, raw: bytes,
    mail_from: str = "", rcpt_to: Sequence[str] = (), source_key: str | None = None,
    status: str = "pending", error: str | None = None,
) -> int | None:
    """Commit one raw email and schedule its processing; returns its id, or None when
    `source_key` was stored before (an IMAP message imported already)."""
    try:
        async with transaction(sessions) as session:
            [raw_id] = await add_raw(session, [raw_row(
                inbox_slug=inbox_slug, source=source, raw=raw, mail_from=mail_from,
                rcpt_to=rcpt_to, source_key=source_key, status=status, error=error)])
            return raw_id
    except IntegrityError:
        if source_key is None:
            raise
        return None


def raw_row(
    *, inbox_slug: str, source: str, raw: bytes, mail_from: str = "",
    rcpt_to: Sequence[str] = (), source_key: str | None = None, status: str = "pending",
    error: str | None = None,
) -> dict[str, Any]:
    """The column values of one new raw email, as `add_raw` inserts them."""
    return {"inbox": inbox_slug, "source": source, "source_key": source_key,
            "mail_from": mail_from[:998], "rcpt_to": list(rcpt_to), "raw": raw,
            "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "received_at": clock.now(), "status": status, "error": error, "attempts": 0,
            "facts": {}}


async def add_raw(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert raw emails (values from `raw_row`) in the caller's transaction; returns their
    ids in order. Pending ones are kicked to `email.process` once that transaction commits.
    `store_raw` is one row in a transaction of its own; the SMTP server commits the mail of
    several sessions at once."""
    statement = insert(RawEmail).returning(RawEmail.id, sort_by_parameter_order=True)
    ids = list((await session.scalars(statement, list(rows))).all())
    for row, raw_id in zip(rows, ids, strict=True):
        if row["status"] == "pending":
            _kick(session, raw_id)
    return ids


def _kick(session: AsyncSession, raw_id: int, attempt: int = 0) -> None:
    # Job ids are remembered for a while (arq keeps results): each attempt gets its own.
    enqueue_after_commit(session, "email.process", raw_id, job_id=f"email:{raw_id}:{attempt}")


def limits_for(settings: Settings) -> ParseLimits:
    """Parse limits from the attachment settings."""
    return ParseLimits(max_attachment_bytes=settings.attachments.max_attachment_bytes,
                       max_total_attachment_bytes=settings.attachments.max_message_bytes)


def _own_addresses(settings: Settings) -> set[str]:
    return {address for inbox_conf in settings.inboxes for address in inbox_conf.addresses}


def forged_references(message: InboundMessage, secret: str) -> list[str]:
    """The ids the message answers that look like ours but carry a bad signature."""
    refs = [message.in_reply_to, *message.references] if message.in_reply_to else [
        *message.references]
    return [ref for ref in dict.fromkeys(refs) if is_ours(secret, ref) is False]


def route(parsed: ParsedEmail, settings: Settings) -> InboundMessage:
    """The message to ingest: a forged reference to one of our Message-IDs threads
    nowhere, mail from our own addresses counts as automatic (a loop), and a bounce joins
    the conversation of the message that bounced."""
    message = parsed.message
    forged = set(forged_references(message, settings.secret_key))
    if forged:
        message = dataclasses.replace(
            message, in_reply_to=None if message.in_reply_to in forged else message.in_reply_to,
            references=tuple(ref for ref in message.references if ref not in forged))
    if message.sender_email and message.sender_email in _own_addresses(settings):
        message = dataclasses.replace(message, automatic=True)
    if parsed.is_bounce and parsed.bounced_message_id and not message.in_reply_to:
        message = dataclasses.replace(message, in_reply_to=parsed.bounced_message_id)
    return message


async def _distinct_id(session: AsyncSession, message: InboundMessage, sha256: str,
                       inbox_id: int) -> InboundMessage:
    """A Message-ID we hold for different bytes is reused, not a resend: keep both."""
    existing = await session.scalar(select(Message.id).where(
        Message.inbox_id == inbox_id, Message.channel == "email",
        Message.external_id == message.external_id))
    if existing is None:
        return message
    sources = (await session.scalars(select(RawEmail.sha256).where(
        RawEmail.message_id == existing))).all()
    if not sources or sha256 in sources:
        return message
    return dataclasses.replace(message, external_id=f"{message.external_id}#{sha256[:16]}")


async def _record_bounce(session: AsyncSession, parsed: ParsedEmail, inbox_id: int) -> None:
    if not (parsed.is_bounce and parsed.bounced_message_id):
        return
    bounced = await session.scalar(select(Message).where(
        Message.inbox_id == inbox_id, Message.external_id == parsed.bounced_message_id,
        Message.direction == "outbound"))
    if bounced is not None:
        await inbox.record_delivery(session, bounced.id, "failed",
                                    parsed.bounce_reason or "bounced")


async def _mark(sessions: async_sessionmaker[AsyncSession], raw_id: int, status: str,
                error: str | None) -> None:
    async with transaction(sessions) as session:
        row = await session.get(RawEmail, raw_id)
        if row is not None:
            row.status, row.error = status, error


async def process(ctx: dict[str, Any], raw_id: int) -> str:
    """Job: parse, route and ingest one raw email; returns the status it ends in."""
    runtime = ctx["runtime"]
    sessions = runtime.sessions
    async with transaction(sessions) as session:
        row = await session.get(RawEmail, raw_id)
        if row is None or row.status in ("processed", "quarantined"):
            return "skipped"
        row.attempts += 1
        raw, inbox_slug, sha256 = row.raw, row.inbox, row.sha256
    try:
        parsed = await asyncio.to_thread(parse_email, raw, inbox=inbox_slug,
                                         limits=limits_for(runtime.settings))
    except EmailParseError as exc:
        await _mark(sessions, raw_id, "quarantined", str(exc))
        return "quarantined"
    try:
        await _ingest(runtime, raw_id, parsed, sha256)
    except Exception as exc:
        log.exception("processing raw email %s failed", raw_id)
        await _mark(sessions, raw_id, "failed", f"{type(exc).__name__}: {exc}")
        return "failed"
    return "processed"


async def _ingest(runtime: Any, raw_id: int, parsed: ParsedEmail, sha256: str) -> None:
    async with transaction(runtime.sessions) as session:
        inbox_id = await inbox.inbox_id_by_slug(session, parsed.message.inbox)
        message = await _distinct_id(session, route(parsed, runtime.settings), sha256, inbox_id)

    async def finish(session: AsyncSession, result: inbox.IngestResult) -> None:
        await _record_bounce(session, parsed, inbox_id)
        await maybe_acknowledge(session, runtime.settings, message, result)
        row = await session.get(RawEmail, raw_id)
        assert row is not None
        row.status, row.error, row.message_id = "processed", None, result.message_id
        row.facts = {"automatic": message.automatic, "auto_reason": parsed.auto_reason,
                     "duplicate": result.duplicate,
                     "forged_references": forged_references(parsed.message,
                                                            runtime.settings.secret_key),
                     "oversized_attachments": list(parsed.oversized_attachments)}

    await accept_then(runtime.sessions, message, finish)


async def retry(sessions: async_sessionmaker[AsyncSession], raw_id: int) -> bool:
    """Put a failed or quarantined email back in line; False when there is none to retry."""
    async with transaction(sessions) as session:
        row = await session.get(RawEmail, raw_id)
        if row is None or row.status not in ("failed", "quarantined"):
            return False
        row.status, row.error = "pending", None
        _kick(session, row.id, row.attempts)
    return True


async def sweep(ctx: dict[str, Any]) -> int:
    """Periodic job: process raw mail left pending (its kick was lost in a restart)."""
    now = clock.now()
    async with transaction(ctx["runtime"].sessions) as session:
        ids = (await session.scalars(select(RawEmail.id).where(RawEmail.status == "pending")
                                     .order_by(RawEmail.id).limit(1000))).all()
    for raw_id in ids:
        await ctx["runtime"].queue.enqueue("email.process", raw_id,
                                           job_id=f"email-sweep:{raw_id}:{now.isoformat()}")
    return len(ids)


registry.register("email.process", process)
registry.register("email.sweep", sweep, every_seconds=60)
