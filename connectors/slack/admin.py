"""What admins do with the Slack connection, for the admin API and page alike: the Web API
asked first (auth.test, conversations.info/list), then one transaction that writes through
`workspace` (audited). Slack's refusals are user errors naming the field; Slack out of
reach is a 502 naming Slack, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from accounts.models import User
from connectors.slack import api, events
from connectors.slack import workspace as ws
from connectors.slack.models import SlackEvent
from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound, UserError
from core.runtime import Runtime
from core.secrets import SecretUnreadable

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")


class SlackUnavailable(UserError):
    status = 502
    code = "slack_unavailable"


def _translate(exc: api.SlackError, field: str) -> UserError:
    if isinstance(exc, api.SlackRefused):
        if exc.code in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
            return InvalidInput(f"Slack does not take this bot token ({exc.code})",
                                field="bot_token")
        return InvalidInput(str(exc), field=field)
    if isinstance(exc, api.SlackRateLimited):
        return SlackUnavailable(f"Slack asks to wait {exc.retry_after} s; try again then")
    return SlackUnavailable(str(exc))


async def connect_workspace(runtime: Runtime, actor: User, *, bot_token: str,
                            signing_secret: str, inbox: str,
                            app_token: str = "") -> dict[str, Any]:
    """Check the bot token with auth.test, then connect (or update) the workspace; its
    public view."""
    token = ws.check_token(bot_token)
    ws.check_signing_secret(signing_secret)
    ws.check_app_token(app_token)
    async with transaction(runtime.sessions) as session:
        await ws.inbox_id_of(session, inbox)  # what can be checked here is, before Slack
    try:
        identity = await api.auth_test(api.client(runtime.settings.slack, token))
    except api.SlackError as exc:
        raise _translate(exc, "bot_token") from None
    async with transaction(runtime.sessions) as session:
        await ws.connect(session, runtime.settings.secret_key, actor=actor, identity=identity,
                         bot_token=token, signing_secret=signing_secret, inbox=inbox,
                         app_token=app_token)
        return await ws.public_view(session)


async def _token(runtime: Runtime) -> str:
    async with transaction(runtime.sessions) as session:
        workspace = await ws.get_workspace(session)
    if workspace is None:
        raise NotFound("no Slack workspace is connected")
    try:
        return ws.credentials(workspace, runtime.settings.secret_key).bot_token
    except SecretUnreadable:
        raise Conflict("the stored bot token cannot be read; connect the workspace again",
                       code="secret_unreadable") from None


async def available_channels(runtime: Runtime) -> list[api.Channel]:
    """The channels the bot can see, by name (conversations.list)."""
    web = api.client(runtime.settings.slack, await _token(runtime))
    try:
        return await api.list_channels(web)
    except api.SlackError as exc:
        raise _translate(exc, "channels") from None


async def choose_channels(runtime: Runtime, actor: User, channel_ids: Sequence[str]
                          ) -> dict[str, Any]:
    """Listen to exactly `channel_ids`, each checked with conversations.info (InvalidInput
    naming `channels` for one the bot cannot see); the public view."""
    ids = list(dict.fromkeys(c.strip() for c in channel_ids))
    if len(ids) > ws.MAX_CHANNELS:
        raise InvalidInput(f"at most {ws.MAX_CHANNELS} channels", field="channels")
    bad = [c for c in ids if not CHANNEL_ID.match(c)]
    if bad:
        raise InvalidInput(f"not a Slack channel id: {bad[0][:40]!r}", field="channels")
    web = api.client(runtime.settings.slack, await _token(runtime))
    named = []
    for channel_id in ids:
        try:
            named.append(await api.channel_info(web, channel_id))
        except api.SlackRefused as exc:
            raise InvalidInput(f"Slack has no channel {channel_id} the bot can see "
                               f"({exc.code})", field="channels") from None
        except api.SlackError as exc:
            raise _translate(exc, "channels") from None
    async with transaction(runtime.sessions) as session:
        await ws.set_channels(session, actor=actor, channels=named)
        return await ws.public_view(session)


async def disconnect_workspace(runtime: Runtime, actor: User) -> None:
    """Forget the workspace and its secrets."""
    async with transaction(runtime.sessions) as session:
        await ws.disconnect(session, actor=actor)


async def status(runtime: Runtime) -> dict[str, Any]:
    """The public view of the connection (never a secret)."""
    async with transaction(runtime.sessions) as session:
        return await ws.public_view(session)


def event_json(row: SlackEvent) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "team_id": row.team_id,
            "event_type": row.event_type, "status": row.status, "error": row.error,
            "attempts": row.attempts, "message_id": row.message_id,
            "received_at": row.received_at.isoformat()}


async def events_with_status(runtime: Runtime, status_: str, *, limit: int = 50,
                             after: int | None = None) -> tuple[list[SlackEvent], int | None]:
    """Stored events in `status_`, oldest first, `limit` after id `after`; and the id to
    continue after (None at the end)."""
    query = select(SlackEvent).where(SlackEvent.status == status_)
    if after:
        query = query.where(SlackEvent.id > after)
    async with transaction(runtime.sessions) as session:
        rows = list((await session.scalars(query.order_by(SlackEvent.id).limit(limit + 1)))
                    .all())
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None


async def retry_event(runtime: Runtime, event_row: int) -> None:
    """Process a failed event again; Conflict when there is no failed event by that id."""
    if not await events.retry(runtime.sessions, event_row):
        raise Conflict(f"no failed Slack event {event_row}")
