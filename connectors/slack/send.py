"""Agent replies to Slack conversations: the `slack` sender of the outbox's reply handler.

A reply is posted into its conversation's Slack thread with chat.postMessage. It is never
posted twice: the post carries message metadata naming the reply (`api.REPLY_EVENT_TYPE`),
and before posting the thread is read (conversations.replies) for a message that carries
it. Slack's API takes no idempotency key for a post (a `client_msg_id` is not honoured by
chat.postMessage), so after a crash between the post and the record of its ts only Slack
knows whether it happened; one read per reply is the price of asking it. The ts is
recorded on the message (its external id) before the outbox row is marked done, and a
message that has one is not posted again. A 429 is retried at Slack's `Retry-After`.

The reply's files follow the text into the thread, shared together in one message, never
twice: each is uploaded (not shared anywhere yet) and their Slack file ids are recorded in
the message's meta (`FILES_KEY`) before the upload is completed into the thread. A retry
that finds ids recorded reads the thread for a message sharing them, and completes the
upload only when there is none; one that finds none uploads again (an upload never
completed is dropped by Slack, so nobody sees it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from connectors.outbound import OutboundMessage
from connectors.slack import api, parse
from connectors.slack.workspace import credentials, get_workspace
from core.db import transaction
from core.outbox import Outcome
from core.secrets import SecretUnreadable
from inbox import service as inbox
from inbox.attachments import AttachmentStore
from inbox.models import Message, MessageAttachment

FILES_KEY = "slack_files"
"""Key in a reply's meta: {"ids": the Slack file ids of its files, "shared": whether they
are in the thread}."""


class NoFiles(Exception):
    """The reply's files cannot be read from the attachment store."""


@dataclass(frozen=True)
class _Held:
    message: Message
    files: Sequence[MessageAttachment]
    store: AttachmentStore | None

    @property
    def upload(self) -> dict[str, Any]:
        return dict((self.message.meta or {}).get(FILES_KEY) or {})

    @property
    def done(self) -> bool:
        """Posted, and its files (if any) shared."""
        return bool(self.message.external_id) and (not self.files
                                                   or bool(self.upload.get("shared")))


async def _load(runtime: Any, message_id: int) -> tuple[Any, _Held | None]:
    async with transaction(runtime.sessions) as session:
        workspace = await get_workspace(session)
        held = await session.get(Message, message_id)
        if held is None or held.direction != "outbound":
            return workspace, None
        files = (await session.scalars(select(MessageAttachment).where(
            MessageAttachment.message_id == held.id).order_by(MessageAttachment.id))).all()
        return workspace, _Held(held, list(files), session.info.get("attachments"))


class SlackSender:
    """Posts replies of the `slack` channel (see the module docstring)."""

    async def send(self, ctx: dict[str, Any], message: OutboundMessage) -> Outcome:
        runtime = ctx["runtime"]
        where = parse.parse_thread_key(message.thread_key)
        if where is None:
            return Outcome("failed", "the conversation has no Slack thread")
        team, channel, thread_ts = where
        workspace, held = await _load(runtime, message.message_id)
        if held is None:
            return Outcome("failed", "not a reply")
        if held.done:
            return Outcome("sent", "posted before")
        web = _client(runtime, workspace, team)
        if isinstance(web, str):
            return Outcome("failed", web)
        try:
            if not held.message.external_id:
                await _post_text(runtime, web, held, message.text, (team, channel, thread_ts))
            if held.files:
                await _share_files(runtime, web, held, channel, thread_ts)
        except api.SlackRateLimited as exc:
            return Outcome("retry", str(exc), retry_after=timedelta(seconds=exc.retry_after))
        except api.SlackUnreachable as exc:
            return Outcome("retry", str(exc))
        except (api.SlackRefused, NoFiles) as exc:
            return Outcome("failed", str(exc))
        return Outcome("sent")


def _client(runtime: Any, workspace: Any, team: str) -> AsyncWebClient | str:
    """The client of the workspace `team`, or why there is none."""
    if workspace is None or workspace.team_id != team:
        return "the Slack workspace of this conversation is not connected"
    try:
        token = credentials(workspace, runtime.settings.secret_key).bot_token
    except SecretUnreadable:
        return "the bot token cannot be read: connect the workspace again"
    return api.client(runtime.settings.slack, token)


async def _post_text(runtime: Any, web: AsyncWebClient, held: _Held, text: str,
                     where: tuple[str, str, str]) -> None:
    """Post the reply's text (unless the thread holds it already) and record its ts."""
    team, channel, thread_ts = where
    reply = held.message
    ts = await api.find_reply(web, channel=channel, thread_ts=thread_ts,
                              message_id=reply.id, since=reply.created_at)
    if ts is None:
        ts = await api.post_reply(web, channel=channel, thread_ts=thread_ts,
                                  text=parse.mrkdwn_escape(text), message_id=reply.id)
    async with transaction(runtime.sessions) as session:
        await inbox.set_external_id(session, reply.id, parse.message_key(team, channel, ts))


async def _share_files(runtime: Any, web: AsyncWebClient, held: _Held, channel: str,
                       thread_ts: str) -> None:
    """Share the reply's files in the thread once (see the module docstring)."""
    reply, ids = held.message, list(held.upload.get("ids") or [])
    if ids and await api.files_shared(web, channel=channel, thread_ts=thread_ts,
                                      file_ids=ids, since=reply.created_at):
        await _record(runtime, reply.id, ids, shared=True)
        return
    if not ids:
        contents = await _contents(held)
        ids = [await api.start_upload(runtime.settings.slack, web, filename=file.filename,
                                      content=content)
               for file, content in zip(held.files, contents, strict=True)]
        await _record(runtime, reply.id, ids, shared=False)
    await api.complete_upload(web, channel=channel, thread_ts=thread_ts, files=[
        (file_id, file.filename) for file_id, file in zip(ids, held.files, strict=True)])
    await _record(runtime, reply.id, ids, shared=True)


async def _contents(held: _Held) -> list[bytes]:
    store = held.store
    if store is None:
        raise NoFiles("the reply has files but no attachment store is configured")
    try:
        return await asyncio.to_thread(lambda: [store.read(file.sha256) for file in held.files])
    except OSError as exc:
        raise NoFiles(f"a file of the reply cannot be read: {type(exc).__name__}") from None


async def _record(runtime: Any, message_id: int, ids: list[str], *, shared: bool) -> None:
    async with transaction(runtime.sessions) as session:
        await inbox.add_message_meta(session, message_id, FILES_KEY,
                                     {"ids": ids, "shared": shared})


def install(runtime: Any) -> None:
    """Send the `slack` channel's replies through Slack."""
    from connectors import outbound

    outbound.senders["slack"] = SlackSender()
