"""Slack for admins: connect a workspace (the bot token checked with auth.test), pick the
channels to listen to, see the connection and the events that failed, retry one.
Secrets go in and never come out."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from connectors.slack import admin as slack
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentAdmin,
    IdPath,
    IdQuery,
    Limit,
    RequestModel,
    RuntimeDep,
    Text,
    page,
)
from web.errors import ErrorDocument

router = APIRouter(tags=["slack"], responses={502: {
    "model": ErrorDocument, "description": "Slack could not be reached, or asks to wait"}})

Secret = Annotated[Text, Field(min_length=1, max_length=300)]


class Connection(RequestModel):
    bot_token: Secret
    signing_secret: Secret
    inbox: Annotated[Text, Field(min_length=1, max_length=64)]
    app_token: Annotated[Text, Field(max_length=300)] = ""
    """An app-level token (`xapp-`) to take events over Socket Mode; empty: none."""


class Channels(RequestModel):
    channels: Annotated[list[Annotated[Text, Field(min_length=1, max_length=40)]],
                        Field(max_length=100)]


@router.get("/api/admin/slack")
async def get_slack(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """The connected workspace (team, bot user, inbox, channels, last event received) and
    how many events failed; `connected: false` when there is none. Never a secret."""
    return await slack.status(runtime)


@router.put("/api/admin/slack")
async def connect_slack(body: Connection, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Connect the workspace of `bot_token` (checked with auth.test: 422 naming
    `bot_token` when Slack refuses it, 502 when Slack cannot be reached), or update the
    connected one's secrets and inbox; 409 when another workspace is connected."""
    return await slack.connect_workspace(runtime, admin, bot_token=body.bot_token,
                                         signing_secret=body.signing_secret, inbox=body.inbox,
                                         app_token=body.app_token)


@router.delete("/api/admin/slack", status_code=204)
async def disconnect_slack(admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Disconnect the workspace (its conversations stay); 404 when none is connected."""
    await slack.disconnect_workspace(runtime, admin)
    return Response(status_code=204)


@router.get("/api/admin/slack/channels")
async def slack_channels(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """The channels the bot can see (conversations.list), each with whether it is
    connected."""
    chosen = {c["id"] for c in (await slack.status(runtime)).get("channels", [])}
    found = await slack.available_channels(runtime)
    return page([{"id": c.id, "name": c.name, "is_member": c.is_member,
                  "connected": c.id in chosen} for c in found], None)


@router.put("/api/admin/slack/channels")
async def choose_slack_channels(body: Channels, admin: CurrentAdmin,
                                runtime: RuntimeDep) -> JSON:
    """Listen to exactly these channel ids (each checked with conversations.info: 422
    naming `channels` for one the bot cannot see)."""
    return await slack.choose_channels(runtime, admin, body.channels)


@router.get("/api/admin/slack/events")
async def slack_events(admin: CurrentAdmin, runtime: RuntimeDep,
                       status: Annotated[Literal["failed", "pending", "ignored", "processed"],
                                         Query()] = "failed",
                       limit: Limit = DEFAULT_PAGE, cursor: IdQuery = None) -> JSON:
    """Stored Slack events in `status` (failed by default: they wait for a retry),
    oldest first."""
    rows, after = await slack.events_with_status(runtime, status, limit=limit, after=cursor)
    return page([slack.event_json(r) for r in rows], str(after) if after else None)


@router.post("/api/admin/slack/events/{event_id}/retry", status_code=202)
async def retry_slack_event(event_id: IdPath, admin: CurrentAdmin,
                            runtime: RuntimeDep) -> JSON:
    """Process a failed event again; 409 when it is not failed."""
    await slack.retry_event(runtime, event_id)
    return {"id": event_id, "status": "pending"}
