"""The connected Slack workspace: its one writer, and what the other parts read of it.

One workspace per install. Admins connect it with a bot token (checked with auth.test
before anything is written: the caller passes the `Identity` it answered) and the app's
signing secret, name the inbox its conversations land in, and pick the channels to listen
to. Both secrets are sealed at rest (`core.secrets.SecretBox`, purpose `slack`) and never
leave again: `public_view` is what the API and the page show. Every change is in the audit
log, with "(set)" / "(changed)" for the secrets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import record_change
from connectors.slack.api import Channel, Identity
from connectors.slack.models import SlackEvent, SlackWorkspace
from connectors.slack.parse import Facts
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.secrets import SecretBox, SecretUnreadable
from inbox.models import Inbox

PURPOSE = "slack"
"""The SecretBox purpose label of Slack bot tokens and signing secrets."""
MAX_CHANNELS = 100
BOT_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]{8,250}$")
SIGNING_SECRET = re.compile(r"^[A-Za-z0-9]{16,128}$")
APP_TOKEN = re.compile(r"^xapp-[A-Za-z0-9-]{8,250}$")


def box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, PURPOSE)


def check_token(bot_token: str) -> str:
    """A bot token as typed, trimmed; InvalidInput naming `bot_token` when it is no
    `xoxb-` token (checked before Slack is asked)."""
    token = bot_token.strip()
    if not BOT_TOKEN.match(token):
        raise InvalidInput("the bot token starts with xoxb- (OAuth & Permissions, "
                           "Bot User OAuth Token)", field="bot_token")
    return token


def check_signing_secret(signing_secret: str) -> str:
    secret = signing_secret.strip()
    if not SIGNING_SECRET.match(secret):
        raise InvalidInput("the signing secret is the app's Signing Secret (Basic "
                           "Information): letters and digits", field="signing_secret")
    return secret


def check_app_token(app_token: str) -> str | None:
    """An app-level token as typed, trimmed (None for none); InvalidInput naming
    `app_token` when it is no `xapp-` token."""
    token = app_token.strip()
    if token and not APP_TOKEN.match(token):
        raise InvalidInput("the app-level token starts with xapp- (Basic Information, "
                           "App-Level Tokens, scope connections:write)", field="app_token")
    return token or None


async def get_workspace(session: AsyncSession) -> SlackWorkspace | None:
    """The connected workspace, or None."""
    found: SlackWorkspace | None = await session.scalar(
        select(SlackWorkspace).order_by(SlackWorkspace.id).limit(1))
    return found


async def inbox_id_of(session: AsyncSession, slug: str) -> int:
    """The id of inbox `slug`; InvalidInput naming `inbox` when there is none."""
    inbox_id = await session.scalar(select(Inbox.id).where(Inbox.slug == slug.strip()))
    if inbox_id is None:
        raise InvalidInput(f"no inbox {slug.strip()!r}", field="inbox")
    return int(inbox_id)


async def connect(session: AsyncSession, secret_key: str, *, actor: User | None,
                  identity: Identity, bot_token: str, signing_secret: str,
                  inbox: str, app_token: str = "") -> SlackWorkspace:
    """Connect the workspace `identity` names (what auth.test answered for `bot_token`),
    or update the connected one's secrets and inbox. Conflict when another workspace is
    connected (disconnect it first); InvalidInput naming the field for a bad inbox or
    secret. An `app_token` turns Socket Mode on for the workspace; none turns it off."""
    token, secret = check_token(bot_token), check_signing_secret(signing_secret)
    app = check_app_token(app_token)
    inbox_id = await inbox_id_of(session, inbox)
    sealer, now = box(secret_key), clock.now()
    current = await get_workspace(session)
    if current is not None and current.team_id != identity.team_id:
        raise Conflict(f"the workspace {current.team_name or current.team_id} is connected; "
                       "disconnect it first", code="slack_connected")
    if current is None:
        current = SlackWorkspace(team_id=identity.team_id, channels=[], connected_at=now,
                                 bot_token="", signing_secret="", inbox_id=inbox_id)
        session.add(current)
        action, summary, before = "slack.connected", "connected", None
    else:
        old_inbox = await session.get(Inbox, current.inbox_id)
        action, summary = "slack.updated", "updated"
        before = {"inbox": old_inbox.slug if old_inbox else None,
                  "bot_token": "(set)", "signing_secret": "(set)",
                  "app_token": "(set)" if current.app_token else None}
    token_changed = _changed(sealer, current.bot_token, token)
    secret_changed = _changed(sealer, current.signing_secret, secret)
    current.team_name, current.bot_user_id = identity.team_name[:200], identity.bot_user_id
    current.bot_id, current.inbox_id, current.updated_at = identity.bot_id, inbox_id, now
    current.bot_token, current.signing_secret = sealer.seal(token), sealer.seal(secret)
    app_changed = (current.app_token is None) != (app is None) or (
        app is not None and current.app_token is not None
        and _changed(sealer, current.app_token, app))
    current.app_token = sealer.seal(app) if app else None
    await session.flush()
    after = {"team": identity.team_id, "team_name": identity.team_name,
             "bot_user": identity.bot_user_id, "inbox": inbox.strip(),
             "bot_token": "(changed)" if before and token_changed else "(set)",
             "signing_secret": "(changed)" if before and secret_changed else "(set)",
             "app_token": None if app is None
             else "(changed)" if before and app_changed else "(set)"}
    await record_change(session, actor=actor, action=action, subject_type="slack",
                        subject_id=identity.team_id,
                        summary=f"{summary} the Slack workspace "
                        f"{identity.team_name or identity.team_id}",
                        before=before, after=after)
    return current


def _changed(sealer: SecretBox, sealed: str, plain: str) -> bool:
    try:
        return not sealed or sealer.open(sealed) != plain
    except SecretUnreadable:
        return True


async def set_channels(session: AsyncSession, *, actor: User | None,
                       channels: Sequence[Channel]) -> SlackWorkspace:
    """Listen to exactly `channels` (as conversations.info named them); NotFound when no
    workspace is connected, InvalidInput past MAX_CHANNELS."""
    workspace = await get_workspace(session)
    if workspace is None:
        raise NotFound("no Slack workspace is connected")
    if len(channels) > MAX_CHANNELS:
        raise InvalidInput(f"at most {MAX_CHANNELS} channels", field="channels")
    new = [{"id": c.id, "name": c.name} for c in dict((c.id, c) for c in channels).values()]
    old = list(workspace.channels or [])
    if new == old:
        return workspace
    workspace.channels, workspace.updated_at = new, clock.now()
    await session.flush()
    await record_change(session, actor=actor, action="slack.channels", subject_type="slack",
                        subject_id=workspace.team_id,
                        summary="set the Slack channels: " + (", ".join(
                            "#" + c["name"] for c in new) or "none"),
                        before={"channels": [c["name"] for c in old]},
                        after={"channels": [c["name"] for c in new]})
    return workspace


async def disconnect(session: AsyncSession, *, actor: User | None) -> None:
    """Forget the workspace and its secrets (its conversations stay); NotFound when none
    is connected."""
    workspace = await get_workspace(session)
    if workspace is None:
        raise NotFound("no Slack workspace is connected")
    await record_change(session, actor=actor, action="slack.disconnected",
                        subject_type="slack", subject_id=workspace.team_id,
                        summary=f"disconnected the Slack workspace "
                        f"{workspace.team_name or workspace.team_id}",
                        before={"team": workspace.team_id, "team_name": workspace.team_name,
                                "channels": [c["name"] for c in workspace.channels or []]})
    await session.delete(workspace)
    await session.flush()


@dataclass(frozen=True)
class Credentials:
    """A workspace's secrets, opened, with what processing needs to know of it."""

    team_id: str
    bot_token: str
    signing_secret: str
    inbox_id: int
    facts: Facts
    app_token: str | None = None


def credentials(workspace: SlackWorkspace, secret_key: str) -> Credentials:
    """The opened secrets of `workspace`; SecretUnreadable when the service key changed."""
    sealer = box(secret_key)
    return Credentials(
        workspace.team_id, sealer.open(workspace.bot_token),
        sealer.open(workspace.signing_secret), workspace.inbox_id,
        Facts(workspace.team_id, workspace.bot_user_id, workspace.bot_id,
              frozenset(c["id"] for c in workspace.channels or [])),
        sealer.open(workspace.app_token) if workspace.app_token else None)


async def public_view(session: AsyncSession) -> dict[str, Any]:
    """What admins see of the Slack connection (never a secret): the workspace, its inbox
    and channels, when the last event came, and the events waiting for an admin."""
    workspace = await get_workspace(session)
    failed = int(await session.scalar(select(func.count()).select_from(SlackEvent).where(
        SlackEvent.status == "failed")) or 0)
    if workspace is None:
        return {"connected": False, "failed_events": failed}
    inbox = await session.get(Inbox, workspace.inbox_id)
    return {"connected": True, "team_id": workspace.team_id,
            "team_name": workspace.team_name, "bot_user_id": workspace.bot_user_id,
            "inbox": inbox.slug if inbox else None,
            "channels": list(workspace.channels or []),
            "socket_mode": workspace.app_token is not None,
            "connected_at": workspace.connected_at.isoformat(),
            "updated_at": workspace.updated_at.isoformat(),
            "last_event_at": workspace.last_event_at.isoformat()
            if workspace.last_event_at else None,
            "failed_events": failed}
