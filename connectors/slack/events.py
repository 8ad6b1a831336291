"""Slack events after the wire: verify, store durably, acknowledge; then process in a job.

`accept` is what `POST /slack/events` does with a request's raw bytes: the v0 signature and
the 5-minute window are checked first (slack-sdk's SignatureVerifier, its clock reading
`core.clock`), with the connected workspace's signing secret; nothing is parsed or stored
before that. A URL verification is answered with its challenge. An `event_callback` is
committed to `slack_events` (unique on its event id: Slack's retries, `X-Slack-Retry-Num`,
find it stored and are answered 200 too) and `slack.process` is kicked once it commits.

`process` turns a stored event into inbox changes (`parse.classify` decides): a person's
message is ingested (its author's name and email from users.info, cached in `slack_users`
for `[slack] user_cache_seconds`; its files downloaded with the bot token, each within
`[limits] max_attachment_bytes`), an edit or deletion changes the message held, anything
else is marked `ignored` with the reason. The ingest and the event's mark commit together,
so an event is processed once. What fails waits as `failed` for an admin's retry; a rate
limit puts it back in line for when Slack says.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.ingest import retrying_in_savepoint
from connectors.slack import api, parse
from connectors.slack.models import SlackEvent, SlackUser, SlackWorkspace
from connectors.slack.workspace import Credentials, credentials, get_workspace
from core import clock
from core.db import transaction
from core.errors import Unauthenticated, UserError
from core.jobs import enqueue_after_commit, registry
from core.limits import Limits
from core.secrets import SecretUnreadable
from inbox import service as inbox
from inbox.messages import Attachment, InboundMessage, Truncation
from inbox.models import Inbox, Message

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Claims of a stored event that never finished before it is marked `failed`."""
EDITED_MARK = "(edited)"
DELETED_TEXT = "(This message was deleted in Slack.)"


class _CoreClock(Clock):
    """slack-sdk's clock, reading the one clock of Frontdesk."""

    def now(self) -> float:
        return clock.now().timestamp()


class BadEvent(UserError):
    status = 400
    code = "bad_event"


@dataclass(frozen=True)
class Accepted:
    """What to answer Slack: the challenge, or that the event is stored (`stored`: its
    row's id; `duplicate`: it was stored before)."""

    challenge: str | None = None
    stored: int | None = None
    duplicate: bool = False


def verify(signing_secret: str, body: bytes, timestamp: str | None,
           signature: str | None) -> bool:
    """Whether the request is Slack's: a v0 signature of `v0:{timestamp}:{body}` by the
    signing secret, with a timestamp within 5 minutes of `core.clock`."""
    verifier = SignatureVerifier(signing_secret, clock=_CoreClock())
    return verifier.is_valid(body, timestamp, signature)


async def accept(sessions: async_sessionmaker[AsyncSession], secret_key: str, body: bytes,
                 timestamp: str | None, signature: str | None) -> Accepted:
    """Verify, then store one Events API request (see the module docstring).
    Unauthenticated (401) for a bad or stale signature or when no workspace is connected;
    BadEvent (400) for a body that is no Events API payload or names another workspace."""
    async with transaction(sessions) as session:
        workspace = await get_workspace(session)
    if workspace is None:
        raise Unauthenticated("no Slack workspace is connected")
    try:
        creds = credentials(workspace, secret_key)
    except SecretUnreadable:
        log.error("the Slack signing secret cannot be opened: connect the workspace again")
        raise Unauthenticated("the signing secret cannot be read") from None
    if not verify(creds.signing_secret, body, timestamp, signature):
        raise Unauthenticated("bad or stale Slack signature")
    try:
        decoded = json.loads(body)
        outer = parse.envelope(decoded)
    except (ValueError, RecursionError) as exc:
        raise BadEvent(f"not an Events API payload: {exc}"[:300]) from None
    if outer.type == "url_verification":
        return Accepted(challenge=outer.challenge)
    if outer.type != "event_callback":
        return Accepted()
    if outer.team_id != creds.team_id:
        raise BadEvent(f"unknown team {outer.team_id}", code="unknown_team")
    return await _store(sessions, workspace.id, outer, decoded)


async def store_callback(sessions: async_sessionmaker[AsyncSession], payload: Any
                         ) -> Accepted:
    """Store an `event_callback` that arrived authenticated another way (over Socket Mode,
    whose connection the app-level token opened), as `accept` stores one; BadEvent for a
    payload that is none or names another workspace, an empty Accepted for other types."""
    try:
        outer = parse.envelope(payload)
    except ValueError as exc:
        raise BadEvent(f"not an Events API payload: {exc}"[:300]) from None
    if outer.type != "event_callback":
        return Accepted()
    async with transaction(sessions) as session:
        workspace = await get_workspace(session)
    if workspace is None or outer.team_id != workspace.team_id:
        raise BadEvent(f"unknown team {outer.team_id}", code="unknown_team")
    return await _store(sessions, workspace.id, outer, payload)


async def _store(sessions: async_sessionmaker[AsyncSession], workspace_id: int,
                 outer: parse.Envelope, body: dict[str, Any]) -> Accepted:
    now = clock.now()
    try:
        async with transaction(sessions) as session:
            row = SlackEvent(event_id=outer.event_id, team_id=outer.team_id,
                             event_type=outer.event_type, body=body, received_at=now,
                             status="pending", attempts=0)
            session.add(row)
            await session.flush()
            await session.execute(update(SlackWorkspace).where(
                SlackWorkspace.id == workspace_id).values(last_event_at=now))
            enqueue_after_commit(session, "slack.process", row.id, job_id=f"slack:{row.id}")
            stored = row.id
    except IntegrityError:
        return Accepted(duplicate=True)
    return Accepted(stored=stored)


# ---------------------------------------------------------------- processing


@dataclass(frozen=True)
class _Claimed:
    event: SlackEvent
    creds: Credentials
    inbox_slug: str


async def _claim(sessions: async_sessionmaker[AsyncSession], secret_key: str,
                 event_row: int) -> _Claimed | None:
    """The pending event, its attempt counted and committed, with the workspace's
    credentials; None when there is nothing to do (marked so when it is hopeless)."""
    async with transaction(sessions) as session:
        event = await session.get(SlackEvent, event_row)
        if event is None or event.status != "pending":
            return None
        event.attempts += 1
        if event.attempts > MAX_ATTEMPTS:
            event.status = "failed"
            event.error = f"processing did not finish in {MAX_ATTEMPTS} attempts"
            return None
        workspace = await get_workspace(session)
        if workspace is None or workspace.team_id != event.team_id:
            event.status, event.error = "ignored", "the workspace is not connected"
            return None
        try:
            creds = credentials(workspace, secret_key)
        except SecretUnreadable:
            event.status = "failed"
            event.error = "the bot token cannot be read: connect the workspace again"
            return None
        slug = await session.scalar(select(Inbox.slug).where(Inbox.id == creds.inbox_id))
    return _Claimed(event, creds, slug or "")


async def process(ctx: dict[str, Any], event_row: int) -> str:
    """Job: process stored event `event_row` once; returns the status it ended in
    (`skipped`: it was not pending)."""
    runtime = ctx["runtime"]
    claimed = await _claim(runtime.sessions, runtime.settings.secret_key, event_row)
    if claimed is None:
        return "skipped"
    try:
        action = parse.classify(claimed.event.body, claimed.creds.facts)
        if isinstance(action, parse.Post):
            status, error, message_id = await _post(runtime, claimed, action)
        elif isinstance(action, parse.Edit | parse.Delete):
            status, error, message_id = await _amend(runtime, claimed, action)
        else:
            status, error, message_id = "ignored", action.reason, None
    except api.SlackRateLimited as exc:
        later = clock.now() + timedelta(seconds=exc.retry_after)
        await runtime.queue.enqueue("slack.process", event_row, defer_until=later,
                                    job_id=f"slack:{event_row}:{claimed.event.attempts}")
        return "pending"
    except Exception as exc:
        log.exception("processing Slack event %s failed", event_row)
        status, error, message_id = "failed", f"{type(exc).__name__}: {exc}"[:2000], None
    if status != "processed":  # a processed one was marked with its ingest
        await _mark(runtime.sessions, event_row, status, error, message_id)
    log.info("slack event %s: %s", claimed.event.event_id, status,
             extra={"event": "inbound_slack", "status": status, "raw_id": event_row,
                    "message_id": message_id, "error": error})
    return status


async def _mark_in(session: AsyncSession, event_row: int, status: str, error: str | None,
                   message_id: int | None) -> None:
    await session.execute(update(SlackEvent).where(SlackEvent.id == event_row).values(
        status=status, error=error, message_id=message_id))


async def _mark(sessions: async_sessionmaker[AsyncSession], event_row: int, status: str,
                error: str | None, message_id: int | None) -> None:
    async with transaction(sessions) as session:
        await _mark_in(session, event_row, status, error, message_id)


async def _post(runtime: Any, claimed: _Claimed, post: parse.Post
                ) -> tuple[str, str | None, int | None]:
    """Ingest a person's message (facts gathered first: the author, the files)."""
    creds = claimed.creds
    web = api.client(runtime.settings.slack, creds.bot_token)
    author = await _author(runtime, web, creds.team_id, post.user)
    if author.is_bot:
        return "ignored", "a bot's message", None
    limits: Limits = runtime.settings.limits
    files, truncated = await _files(runtime, creds.bot_token, post.files, limits)
    message = InboundMessage(
        inbox=claimed.inbox_slug, channel="slack", sender_email=author.email,
        sender_name=author.name, subject=parse.subject_of(post.text, post.files),
        text=post.text, external_id=post.external_id, thread_key=post.thread,
        attachments=files, truncated=truncated,
        sender_identity=f"slack:{creds.team_id}:{post.user}")
    async with transaction(runtime.sessions) as session:
        result = await retrying_in_savepoint(session, lambda: inbox.ingest(session, message))
        await _mark_in(session, claimed.event.id, "processed", None, result.message_id)
    return "processed", None, result.message_id


async def _author(runtime: Any, web: Any, team: str, user: str) -> api.Profile:
    """What users.info says of `user`, from the cache while it is fresh."""
    now = clock.now()
    fresh_after = now - timedelta(seconds=runtime.settings.slack.user_cache_seconds)
    async with transaction(runtime.sessions) as session:
        cached = await session.scalar(select(SlackUser).where(
            SlackUser.team_id == team, SlackUser.user_id == user))
    if cached is not None and cached.fetched_at >= fresh_after:
        return api.Profile(cached.name, cached.email, cached.is_bot)
    profile = await api.user_info(web, user)
    try:
        async with transaction(runtime.sessions) as session:
            row = await session.scalar(select(SlackUser).where(
                SlackUser.team_id == team, SlackUser.user_id == user))
            if row is None:
                row = SlackUser(team_id=team, user_id=user)
                session.add(row)
            row.name, row.email, row.is_bot = profile.name, profile.email, profile.is_bot
            row.fetched_at = now
    except IntegrityError:
        pass  # another job cached the same user at the same moment
    return profile


async def _files(runtime: Any, token: str, files: tuple[parse.File, ...], limits: Limits
                 ) -> tuple[tuple[Attachment, ...], tuple[Truncation, ...]]:
    """The files downloaded, those over the limits left out and counted."""
    kept: list[Attachment] = []
    left_out: list[str] = []
    total = 0
    for file in files:
        if (file.size > limits.max_attachment_bytes
                or total + file.size > limits.max_total_attachment_bytes):
            left_out.append(file.name)
            continue
        try:
            content = await api.download(runtime.settings.slack, file.url, token,
                                         limits.max_attachment_bytes)
        except api.FileTooLarge:
            left_out.append(file.name)
            continue
        total += len(content)
        kept.append(Attachment(file.name[:255], file.mimetype[:255], content))
    truncated = (Truncation("attachments", "max_attachment_bytes",
                            limits.max_attachment_bytes, len(left_out), tuple(left_out)),
                 ) if left_out else ()
    return tuple(kept), truncated


async def _amend(runtime: Any, claimed: _Claimed, action: parse.Edit | parse.Delete
                 ) -> tuple[str, str | None, int | None]:
    """Show an edit or deletion made in Slack on the message held."""
    async with transaction(runtime.sessions) as session:
        message_id = await session.scalar(select(Message.id).where(
            Message.inbox_id == claimed.creds.inbox_id, Message.channel == "slack",
            Message.external_id == action.external_id, Message.direction == "inbound"))
        if message_id is None:
            return "ignored", "the message changed is not held", None
        if isinstance(action, parse.Edit):
            await inbox.amend_inbound(session, message_id, text=f"{action.text}\n\n"
                                      f"{EDITED_MARK}", note={"edited_in": "slack"})
        else:
            await inbox.amend_inbound(session, message_id, text=DELETED_TEXT,
                                      note={"deleted_in": "slack"})
        await _mark_in(session, claimed.event.id, "processed", None, message_id)
    return "processed", None, message_id


async def retry(sessions: async_sessionmaker[AsyncSession], event_row: int) -> bool:
    """Put a failed event back in line, its attempts counted from zero again; False when
    there is no failed event `event_row`."""
    async with transaction(sessions) as session:
        row = await session.get(SlackEvent, event_row)
        if row is None or row.status != "failed":
            return False
        row.status, row.error, row.attempts = "pending", None, 0
        enqueue_after_commit(session, "slack.process", row.id,
                             job_id=f"slack-retry:{row.id}:{clock.now().isoformat()}")
    return True


async def sweep(ctx: dict[str, Any]) -> int:
    """Periodic job: process events left pending (their kick was lost in a restart)."""
    now = clock.now()
    async with transaction(ctx["runtime"].sessions) as session:
        ids = (await session.scalars(select(SlackEvent.id).where(
            SlackEvent.status == "pending", SlackEvent.received_at < now - timedelta(minutes=1))
            .order_by(SlackEvent.id).limit(500))).all()
    for event_row in ids:
        await ctx["runtime"].queue.enqueue("slack.process", event_row,
                                           job_id=f"slack-sweep:{event_row}:{now.isoformat()}")
    return len(ids)


registry.register("slack.process", process)
registry.register("slack.sweep", sweep, every_seconds=60)
