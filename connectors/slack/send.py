"""Agent replies to Slack conversations: the `slack` sender of the outbox's reply handler.

A reply is posted into its conversation's Slack thread with chat.postMessage. It is never
posted twice: the post carries message metadata naming the reply (`api.REPLY_EVENT_TYPE`),
and before posting the thread is read (conversations.replies) for a message that carries
it. Slack's API takes no idempotency key for a post (a `client_msg_id` is not honoured by
chat.postMessage), so after a crash between the post and the record of its ts only Slack
knows whether it happened; one read per reply is the price of asking it. The ts is
recorded on the message (its external id) before the outbox row is marked done, and a
message that has one is not posted again. A 429 is retried at Slack's `Retry-After`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.outbound import OutboundMessage
from connectors.slack import api, parse
from connectors.slack.workspace import credentials, get_workspace
from core.db import transaction
from core.outbox import Outcome
from core.secrets import SecretUnreadable
from inbox import service as inbox
from inbox.models import Message


class SlackSender:
    """Posts replies of the `slack` channel (see the module docstring)."""

    async def send(self, ctx: dict[str, Any], message: OutboundMessage) -> Outcome:
        runtime = ctx["runtime"]
        where = parse.parse_thread_key(message.thread_key)
        if where is None:
            return Outcome("failed", "the conversation has no Slack thread")
        team, channel, thread_ts = where
        async with transaction(runtime.sessions) as session:
            workspace = await get_workspace(session)
            held = await session.get(Message, message.message_id)
        if held is None or held.direction != "outbound":
            return Outcome("failed", "not a reply")
        if held.external_id:
            return Outcome("sent", "posted before")
        if workspace is None or workspace.team_id != team:
            return Outcome("failed", "the Slack workspace of this conversation is not connected")
        try:
            token = credentials(workspace, runtime.settings.secret_key).bot_token
        except SecretUnreadable:
            return Outcome("failed", "the bot token cannot be read: connect the workspace again")
        web = api.client(runtime.settings.slack, token)
        try:
            ts = await api.find_reply(web, channel=channel, thread_ts=thread_ts,
                                      message_id=held.id, since=held.created_at)
            if ts is None:
                ts = await api.post_reply(web, channel=channel, thread_ts=thread_ts,
                                          text=parse.mrkdwn_escape(message.text),
                                          message_id=held.id)
        except api.SlackRateLimited as exc:
            return Outcome("retry", str(exc), retry_after=timedelta(seconds=exc.retry_after))
        except api.SlackUnreachable as exc:
            return Outcome("retry", str(exc))
        except api.SlackRefused as exc:
            return Outcome("failed", str(exc))
        async with transaction(runtime.sessions) as session:
            await inbox.set_external_id(session, held.id, parse.message_key(team, channel, ts))
        return Outcome("sent")


def install(runtime: Any) -> None:
    """Send the `slack` channel's replies through Slack."""
    from connectors import outbound

    outbound.senders["slack"] = SlackSender()
