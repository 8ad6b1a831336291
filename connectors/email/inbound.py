"""Inbound email after the wire: durable accept, then parse, route and ingest in a job.

`store_raw` is what the SMTP server (before its `250`) and the IMAP poller (before any flag)
call: it commits the raw bytes to the raw store (`runtime.raw_sessions`) and kicks
`email.process`. The job parses, applies the loop rules and hands the message to the inbox
(the main database); once that is committed, the raw row is marked with what became of it.
Whatever fails stays stored with its reason: `quarantined` (not an email we can read) or
`failed` (anything else; retry from the admin API). Nothing accepted is ever lost, and
processing the same raw mail twice is harmless: a process that dies between the two
commits leaves the raw row pending, and processing it again finds its message ingested.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email.autoack import maybe_acknowledge
from connectors.email.ids import is_ours
from connectors.email.models import RawEmail
from connectors.email.parse import EmailParseError, ParsedEmail, dmarc_failed
from connectors.email.parsers import parse_batch
from connectors.ingest import retrying_in_savepoint
from core import clock, metrics
from core.db import insert_committed, insert_rows, transaction
from core.jobs import enqueue_after_commit, registry
from core.settings import Settings
from inbox import service as inbox
from inbox.directory import ChannelDirectory, current_directory
from inbox.messages import InboundMessage
from inbox.models import Message

log = logging.getLogger(__name__)


async def store_raw(
    sessions: async_sessionmaker[AsyncSession], *, inbox_slug: str, source: str, raw: bytes,
    mail_from: str = "", rcpt_to: Sequence[str] = (), source_key: str | None = None,
    status: str = "pending", error: str | None = None,
) -> int | None:
    """Commit one raw email to the raw store (`sessions` are `runtime.raw_sessions`) and
    schedule its processing; returns its id, or None when `source_key` was stored before
    (an IMAP message imported already)."""
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
    ids = await insert_rows(session, RawEmail, rows)
    pending = [raw_id for row, raw_id in zip(rows, ids, strict=True)
               if row["status"] == "pending"]
    if pending:
        _kick(session, pending)
    return ids


async def commit_raw(sessions: async_sessionmaker[AsyncSession],
                     rows: Sequence[dict[str, Any]]) -> list[int]:
    """Commit new raw emails (values from `raw_row`) to the raw store (`sessions` are
    `runtime.raw_sessions`) in a transaction of their own, by the shortest way the database
    allows (`core.db.insert_committed`); returns their ids in order. The caller kicks
    their processing with `kick_raw` when it is ready to."""
    return await insert_committed(sessions.kw["bind"], RawEmail, rows)


async def kick_raw(sessions: async_sessionmaker[AsyncSession], raw_ids: Sequence[int]) -> None:
    """Enqueue `email.process` for committed pending raw emails on the sessions' queue. A
    failure is logged, not raised: `email.sweep` picks up whatever stays pending."""
    queue = sessions.kw["info"].get("jobs")
    if queue is None or not raw_ids:
        return
    try:
        await queue.enqueue("email.process", list(raw_ids), job_id=_job_id(raw_ids))
    except Exception:
        log.exception("could not enqueue email.process for %d raw mail(s)", len(raw_ids))


def _kick(session: AsyncSession, raw_ids: Sequence[int]) -> None:
    enqueue_after_commit(session, "email.process", list(raw_ids), job_id=_job_id(raw_ids))


def _job_id(raw_ids: Sequence[int]) -> str:
    # Job ids are remembered for a while (arq keeps results). A raw email is in one kick
    # (a retry kicks it under an id of its own), so its first id names the kick.
    return f"email:{raw_ids[0]}+{len(raw_ids)}"


def forged_references(message: InboundMessage, secret: str) -> list[str]:
    """The ids the message answers that look like ours but carry a bad signature."""
    refs = [message.in_reply_to, *message.references] if message.in_reply_to else [
        *message.references]
    return [ref for ref in dict.fromkeys(refs) if is_ours(secret, ref) is False]


def route(parsed: ParsedEmail, settings: Settings, directory: ChannelDirectory
          ) -> InboundMessage:
    """The message to ingest: a forged reference to one of our Message-IDs threads
    nowhere, mail from our own addresses counts as automatic (a loop), our own addresses
    are no participants (they leave To/Cc), a DMARC failure reported by a trusted
    authentication service marks the sender unverified, and a bounce answers the message
    that bounced."""
    message = parsed.message
    forged = set(forged_references(message, settings.secret_key))
    if forged:
        message = dataclasses.replace(
            message, in_reply_to=None if message.in_reply_to in forged else message.in_reply_to,
            references=tuple(ref for ref in message.references if ref not in forged))
    if message.sender_email and message.sender_email.lower() in directory.own_addresses:
        message = dataclasses.replace(message, automatic=True)
    if any(directory.owns(a) for a in (*message.to, *message.cc)):
        message = dataclasses.replace(
            message, to=_others(directory, message.to), cc=_others(directory, message.cc))
    if dmarc_failed(parsed.authentication_results, settings.security.trusted_authserv_ids):
        message = dataclasses.replace(message, unverified_sender=True)
    if parsed.is_bounce and parsed.bounced_message_id and not message.in_reply_to:
        message = dataclasses.replace(message, in_reply_to=parsed.bounced_message_id)
    return message


def _others(directory: ChannelDirectory, addresses: Sequence[str]) -> tuple[str, ...]:
    """`addresses` but the inboxes' own (catch-all domains included)."""
    return tuple(a for a in addresses if not directory.owns(a))


async def _distinct_ids(session: AsyncSession, raw_sessions: async_sessionmaker[AsyncSession],
                        messages: Sequence[InboundMessage],
                        sha256s: Sequence[str]) -> list[InboundMessage]:
    """A Message-ID we hold for different bytes is reused, not a resend: keep both (the
    message gets an id of its own, from its bytes). The bytes we hold are in the raw
    store, read in a transaction of its own."""
    wanted = {message.external_id for message in messages if message.external_id}
    if not wanted:
        return list(messages)
    inbox_ids = {await inbox.inbox_id_by_slug(session, message.inbox): message.inbox
                 for message in messages}
    held = {(inbox_ids[inbox_id], external_id): message_id
            for message_id, inbox_id, external_id in await session.execute(
                select(Message.id, Message.inbox_id, Message.external_id)
                .where(Message.inbox_id.in_(inbox_ids), Message.channel == "email",
                       Message.external_id.in_(wanted)))}
    if not held:
        return list(messages)
    sources: dict[int | None, set[str]] = {}  # the rows matched a message id: never None
    async with transaction(raw_sessions) as raw:
        for message_id, sha256 in await raw.execute(
                select(RawEmail.message_id, RawEmail.sha256)
                .where(RawEmail.message_id.in_(set(held.values())))):
            sources.setdefault(message_id, set()).add(sha256)
    distinct = []
    for message, sha256 in zip(messages, sha256s, strict=True):
        known = sources.get(held.get((message.inbox, message.external_id), 0))
        if known and sha256 not in known:
            message = dataclasses.replace(
                message, external_id=f"{message.external_id}#{sha256[:16]}")
        distinct.append(message)
    return distinct


async def _record_bounce(session: AsyncSession, parsed: ParsedEmail) -> None:
    if not (parsed.is_bounce and parsed.bounced_message_id):
        return
    inbox_id = await inbox.inbox_id_by_slug(session, parsed.message.inbox)
    bounced = await session.scalar(select(Message).where(
        Message.inbox_id == inbox_id, Message.external_id == parsed.bounced_message_id,
        Message.direction == "outbound"))
    if bounced is not None:
        await inbox.record_delivery(session, bounced.id, "failed",
                                    parsed.bounce_reason or "bounced")


BATCH_SIZE = 256
"""Raw emails a job parses at a time, and most that one transaction ingests together (only
a backlog fills a batch: mail that arrives alone is processed alone). A transaction has a
large fixed cost, so processing a backlog runs about 1.5 times as fast as at 64; other
writers of the main database (the HTTP API) then wait for its write lock a tenth of a
second at most, while the SMTP receiver, which writes only the raw store, waits for none.
The next batches are claimed and parsed while one is ingested."""
MAX_ATTEMPTS = 5
"""Claims of a raw email that never finished before it is marked `failed`: with the sweep
every minute, a message that kills its process each time is given up after some minutes."""
PREPARED_AHEAD = 8
"""Batches claimed and parsed ahead of the one being ingested (2,048 messages at most held
parsed). Under a flood the parser processes, at the lowest priority, parse ahead with the
cores the SMTP receiver leaves idle, so that ingest alone is left once the flood ends."""
GIVE_WAY_PATIENCE = 0.5
"""Seconds each ingest waits for the SMTP receiver to fall quiet before it goes anyway: a
sender waiting for its `250` comes first, and the machine's cores are shared. Under a flood
processing still goes on, a batch every so often, and catches up at full speed once the
flood ends."""


@dataclasses.dataclass
class _Pending:
    """One raw email on its way through a batch."""

    raw_id: int
    sha256: str
    inbox: str = ""
    source: str = ""
    received_at: datetime | None = None
    parsed: ParsedEmail | None = None
    problem: EmailParseError | None = None
    conversation_id: int | None = None
    """Set once ingested: the conversation its message joined."""


@dataclasses.dataclass
class _Backlog:
    """The raw emails this process was asked to process and has not taken yet, and the
    lock held by the one job that takes them: a job that finds another at work hands its
    ids over and ends, so mail that arrives in many small groups is still ingested in
    batches of BATCH_SIZE (and the single writer of SQLite is not queued for by several
    jobs)."""

    wanted: set[int] = dataclasses.field(default_factory=set)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def take(self) -> list[int]:
        """Up to BATCH_SIZE of the wanted ids, oldest first."""
        taken = sorted(self.wanted)[:BATCH_SIZE]
        self.wanted.difference_update(taken)
        return taken


async def process(ctx: dict[str, Any], raw_ids: int | Sequence[int]) -> dict[str, int]:
    """Job: parse, route and ingest raw emails (an id or a list), together with any that
    other jobs of this process left meanwhile, BATCH_SIZE per transaction; returns how
    many ended in each status (`skipped`: not pending any more)."""
    runtime = ctx["runtime"]
    backlog: _Backlog = runtime.extras.setdefault("email.backlog", _Backlog())
    ids = [raw_ids] if isinstance(raw_ids, int) else list(raw_ids)
    backlog.wanted.update(ids)
    if backlog.lock.locked():
        # The job at work takes them: it stops only once nothing is wanted, and releases
        # the lock without yielding to another task in between.
        return {"handed_over": len(ids)}
    outcome: Counter[str] = Counter()
    async with backlog.lock:
        # While one batch is ingested, the next ones are claimed and parsed (in the parser
        # processes), in order. A batch that fails as a whole (the database is down) stays
        # pending for the sweep; what is still wanted waits for the next job.
        ahead: deque[asyncio.Task[tuple[list[_Pending], int]]] = deque()
        try:
            _prepare_ahead(runtime, backlog, ahead)
            while ahead:
                batch, skipped = await ahead.popleft()
                _prepare_ahead(runtime, backlog, ahead)
                outcome.update(skipped=skipped)
                if batch:
                    outcome.update(await _ingest_prepared(runtime, batch))
                _prepare_ahead(runtime, backlog, ahead)  # what was handed over meanwhile
        finally:
            for task in ahead:
                task.cancel()
            await asyncio.gather(*ahead, return_exceptions=True)
    return dict(outcome)


def _prepare_ahead(runtime: Any, backlog: _Backlog,
                   ahead: deque[asyncio.Task[tuple[list[_Pending], int]]]) -> None:
    """Start claiming and parsing the next batches of the backlog, PREPARED_AHEAD at most."""
    while len(ahead) < PREPARED_AHEAD and (ids := backlog.take()):
        ahead.append(asyncio.create_task(_prepare(runtime, ids)))


async def _prepare(runtime: Any, ids: Sequence[int]) -> tuple[list[_Pending], int]:
    """The pending ones among `ids`, claimed and parsed, and how many were not pending."""
    batch, raws = await _claim(runtime.raw_sessions, ids)
    if batch:
        parsed = await parse_batch([raws[pending.raw_id] for pending in batch],
                                   runtime.settings.limits)
        for pending, result in zip(batch, parsed, strict=True):
            if isinstance(result, EmailParseError):
                pending.problem = result
            else:
                pending.parsed = result
    return batch, len(ids) - len(batch)


async def _ingest_prepared(runtime: Any, batch: Sequence[_Pending]) -> Counter[str]:
    """Ingest a claimed, parsed batch in one transaction of the main database, then mark
    each raw row with what became of it in one of the raw store."""
    await _give_way(runtime)
    async with transaction(runtime.sessions) as session:
        finished = await _ingest_batch(session, runtime, batch)
    try:
        async with transaction(runtime.raw_sessions) as raw:
            await raw.execute(_FINISHED, finished)
    except Exception:
        log.exception("%d raw emails were ingested but could not be marked so; they stay "
                      "pending and their processing again will find them ingested",
                      len(finished))
        raise
    _report(batch, finished)
    return Counter(row["new_status"] for row in finished)


OUTCOMES = {"processed": "accepted", "quarantined": "quarantined", "failed": "quarantined"}
"""The outcome an inbound message's log line and metrics give each status of its raw row:
a failed one waits for an admin just as an unreadable one does."""


def _report(batch: Sequence[_Pending], finished: Sequence[dict[str, Any]]) -> None:
    """Once committed: one log line per inbound message with its outcome, and the metrics
    (accepted by source, quarantined by reason, the lag from accept to message)."""
    pending = {item.raw_id: item for item in batch}
    now = clock.now()
    for row in finished:
        item = pending[row["raw_id"]]
        status = row["new_status"]
        outcome = OUTCOMES.get(status, status)
        if outcome == "accepted":
            metrics.MAIL_ACCEPTED.labels(item.source or "unknown").inc()
            if item.received_at is not None:
                metrics.INGEST_LAG.observe(max(0.0, (now - item.received_at).total_seconds()))
        else:
            metrics.MAIL_QUARANTINED.labels(
                "unreadable" if status == "quarantined" else "failed").inc()
        log.info("inbound mail %s: raw %s, message %s, conversation %s, inbox %s", outcome,
                 item.raw_id, row["stored_as"], item.conversation_id, item.inbox,
                 extra={"event": "inbound_mail", "outcome": outcome, "status": status,
                        "raw_id": item.raw_id, "message_id": row["stored_as"],
                        "conversation_id": item.conversation_id, "inbox": item.inbox,
                        "source": item.source, "error": row["new_error"]})


async def _claim(raw_sessions: async_sessionmaker[AsyncSession], ids: Sequence[int]
                 ) -> tuple[list[_Pending], dict[int, tuple[str, bytes]]]:
    """The pending ones among `ids` in the raw store, their attempt counted, and their
    inbox and bytes. One
    that was claimed MAX_ATTEMPTS times already and never finished (its process died with
    it each time, say) is marked `failed` instead, for an admin to look at."""
    async with transaction(raw_sessions) as session:
        rows = (await session.execute(
            select(RawEmail.id, RawEmail.sha256, RawEmail.inbox, RawEmail.raw,
                   RawEmail.attempts, RawEmail.source, RawEmail.received_at)
            .where(RawEmail.id.in_(ids), RawEmail.status == "pending")
            .order_by(RawEmail.id))).all()
        exhausted = [(row.id, row.inbox) for row in rows if row.attempts >= MAX_ATTEMPTS]
        rows = [row for row in rows if row.attempts < MAX_ATTEMPTS]
        if exhausted:
            log.error("giving up on raw emails %s after %d attempts",
                      [raw_id for raw_id, _ in exhausted], MAX_ATTEMPTS)
            await session.execute(update(RawEmail).where(
                RawEmail.id.in_([raw_id for raw_id, _ in exhausted])).values(
                status="failed",
                error=f"processing did not finish in {MAX_ATTEMPTS} attempts"))
        if rows:
            await session.execute(update(RawEmail).where(RawEmail.id.in_([r.id for r in rows]))
                                  .values(attempts=RawEmail.attempts + 1))
    for raw_id, inbox_slug in exhausted:
        metrics.MAIL_QUARANTINED.labels("failed").inc()
        log.info("inbound mail quarantined: raw %s, inbox %s", raw_id, inbox_slug,
                 extra={"event": "inbound_mail", "outcome": "quarantined", "status": "failed",
                        "raw_id": raw_id, "message_id": None, "conversation_id": None,
                        "inbox": inbox_slug, "error": "processing did not finish"})
    return ([_Pending(row.id, row.sha256, inbox=row.inbox, source=row.source,
                      received_at=row.received_at) for row in rows],
            {row.id: (row.inbox, row.raw) for row in rows})


async def _give_way(runtime: Any) -> None:
    """Let the SMTP receiver commit first: its senders wait for their `250`, processing
    can wait a little (GIVE_WAY_PATIENCE at most, so it never starves)."""
    receiver_commits = runtime.extras.get("smtp_in.commits")
    if receiver_commits is not None:
        await receiver_commits.quiet(GIVE_WAY_PATIENCE)


async def _ingest_batch(session: AsyncSession, runtime: Any,
                        batch: Sequence[_Pending]) -> list[dict[str, Any]]:
    """In the caller's transaction: the readable messages ingested together; if that
    fails, each alone, so that one bad message is marked `failed` with its reason and the
    others are kept. Unreadable ones are marked `quarantined`. Returns the marks for the
    raw rows (`_FINISHED` parameters), one per message of `batch`."""
    finished = [_finished(pending.raw_id, "quarantined", error=str(pending.problem))
                for pending in batch if pending.parsed is None]
    readable = [pending for pending in batch if pending.parsed is not None]
    if not readable:
        return finished
    try:
        return finished + await retrying_in_savepoint(
            session, lambda: _ingest(session, runtime, readable))
    except Exception as exc:
        if len(readable) == 1:
            log.exception("processing raw email %s failed", readable[0].raw_id)
            readable[0].conversation_id = None  # its ingest was rolled back
            return [*finished, _finished(readable[0].raw_id, "failed",
                                         error=f"{type(exc).__name__}: {exc}")]
        log.info("%d raw emails failed together (%s); taking them one by one",
                 len(readable), type(exc).__name__)
        for pending in readable:
            finished += await _ingest_batch(session, runtime, [pending])
        return finished


_FINISHED = (update(RawEmail.__table__)
             .where(RawEmail.__table__.c.id == bindparam("raw_id"))
             .values(status=bindparam("new_status"), error=bindparam("new_error"),
                     message_id=bindparam("stored_as"),
                     facts=bindparam("raw_facts", type_=RawEmail.__table__.c.facts.type)))


def _finished(raw_id: int, status: str, *, error: str | None = None,
              stored_as: int | None = None, facts: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """What became of a raw email, as parameters of `_FINISHED`."""
    return {"raw_id": raw_id, "new_status": status, "new_error": error,
            "stored_as": stored_as, "raw_facts": facts or {}}


async def _ingest(session: AsyncSession, runtime: Any,
                  batch: Sequence[_Pending]) -> list[dict[str, Any]]:
    """Route and ingest parsed emails together, then what follows each: a bounce marks
    the message that bounced, an acknowledgment may be queued. Returns the raw rows'
    marks (`processed`), for once this is committed."""
    settings = runtime.settings
    directory = current_directory(runtime)
    parsed = [pending.parsed for pending in batch if pending.parsed is not None]
    messages = await _distinct_ids(session, runtime.raw_sessions,
                                   [route(p, settings, directory) for p in parsed],
                                   [pending.sha256 for pending in batch])
    results = await inbox.ingest_many(session, messages)
    finished = []
    for pending, mail, message, result in zip(batch, parsed, messages, results, strict=True):
        await _record_bounce(session, mail)
        await maybe_acknowledge(session, settings, directory, message, result,
                                mailing_list=mail.mailing_list)
        pending.conversation_id = result.conversation_id
        finished.append(_finished(
            pending.raw_id, "processed", stored_as=result.message_id,
            facts=_facts(mail, message, result, settings.secret_key)))
    return finished


def _facts(parsed: ParsedEmail, message: InboundMessage, result: inbox.IngestResult,
           secret: str) -> dict[str, Any]:
    """What processing found out about a raw email, kept on its row."""
    return {"automatic": message.automatic, "auto_reason": parsed.auto_reason,
            "duplicate": result.duplicate, "mailing_list": parsed.mailing_list,
            "forged_references": forged_references(parsed.message, secret)}


async def original_of(raw_sessions: async_sessionmaker[AsyncSession],
                      message_id: int) -> bytes | None:
    """The email message `message_id` was made of, byte for byte as it was accepted, from
    the raw store; None when it came from no email (or its raw mail is gone)."""
    async with transaction(raw_sessions) as session:
        return await session.scalar(
            select(RawEmail.raw).where(RawEmail.message_id == message_id,
                                       RawEmail.status == "processed")
            .order_by(RawEmail.id).limit(1))


async def retry(raw_sessions: async_sessionmaker[AsyncSession], raw_id: int) -> bool:
    """Put a failed or quarantined email of the raw store back in line, its attempts
    counted from zero again; False when there is none to retry."""
    async with transaction(raw_sessions) as session:
        row = await session.get(RawEmail, raw_id)
        if row is None or row.status not in ("failed", "quarantined"):
            return False
        row.status, row.error, row.attempts = "pending", None, 0
        enqueue_after_commit(session, "email.process", [row.id],
                             job_id=f"email-retry:{row.id}:{clock.now().isoformat()}")
    return True


async def sweep(ctx: dict[str, Any]) -> int:
    """Periodic job: process raw mail left pending (its kick was lost in a restart)."""
    now = clock.now()
    async with transaction(ctx["runtime"].raw_sessions) as session:
        ids = (await session.scalars(select(RawEmail.id).where(RawEmail.status == "pending")
                                     .order_by(RawEmail.id).limit(1000))).all()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = list(ids[start:start + BATCH_SIZE])
        await ctx["runtime"].queue.enqueue(
            "email.process", chunk, job_id=f"email-sweep:{chunk[0]}:{now.isoformat()}")
    return len(ids)


registry.register("email.process", process)
registry.register("email.sweep", sweep, every_seconds=60)
