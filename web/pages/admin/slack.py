"""`/admin/slack`: admins connect a Slack workspace, pick its channels, see the last event
received and retry events that failed (the same functions as `/api/admin/slack`)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from connectors.slack import admin as slack
from core.db import transaction
from core.errors import UserError
from inbox.channels import list_inbox_rows
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

HOME = "/admin/slack"
SecretField = Annotated[str, Form(max_length=300)]


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                notice: str | None = None, error: UserError | None = None,
                failed_form: str | None = None, draft: dict[str, str] | None = None
                ) -> Response:
    status = await slack.status(runtime)
    async with transaction(runtime.sessions) as session:
        inboxes = [(row.slug, row.name) for row in await list_inbox_rows(session)]
    channels: list[dict[str, Any]] = []
    channels_error = None
    if status["connected"]:
        chosen = {c["id"] for c in status["channels"]}
        try:
            seen = await slack.available_channels(runtime)
            channels = [{"id": c.id, "name": c.name, "connected": c.id in chosen,
                         "is_member": c.is_member} for c in seen]
            seen_ids = {c.id for c in seen}
            channels += [{**c, "connected": True, "is_member": False}
                         for c in status["channels"] if c["id"] not in seen_ids]
        except UserError as exc:
            channels_error = exc.message
            channels = [{**c, "connected": True, "is_member": False}
                        for c in status["channels"]]
    failed, _ = await slack.events_with_status(runtime, "failed", limit=50)
    public = runtime.settings.http.public_url.rstrip("/")
    events_url = f"{public}/slack/events" if public else None
    return render_admin(request, "admin/slack.html", caller, "slack", {
        "status": status, "inboxes": inboxes, "channels": channels,
        "channels_error": channels_error, "failed": failed, "notice": notice,
        "error": error, "failed_form": failed_form, "draft": draft or {},
        "events_url": events_url},
        status_code=error.status if error else 200)


def _done(notice: str) -> Response:
    return see_other(f"{HOME}?{urlencode({'notice': notice})}")


@router.get(HOME)
async def slack_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     notice: str | None = None) -> Response:
    """The connection, its channels and the events that failed."""
    return await _page(request, caller, runtime, notice=notice)


@router.post(HOME + "/connect")
async def connect(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                  bot_token: SecretField = "", signing_secret: SecretField = "",
                  inbox: Annotated[str, Form(max_length=64)] = "",
                  app_token: SecretField = "") -> Response:
    """Connect (or update) the workspace; a refusal shows the form again with the reason
    (the secrets are not put back in it)."""
    try:
        view = await slack.connect_workspace(runtime, caller.user, bot_token=bot_token,
                                             signing_secret=signing_secret, inbox=inbox,
                                             app_token=app_token)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc, failed_form="connect",
                           draft={"inbox": inbox})
    return _done(f"Connected to {view['team_name'] or view['team_id']}")


@router.post(HOME + "/channels")
async def channels(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                   channel: Annotated[list[str] | None, Form(max_length=40)] = None
                   ) -> Response:
    """Listen to exactly the channels ticked."""
    try:
        view = await slack.choose_channels(runtime, caller.user, channel or [])
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc, failed_form="channels")
    names = ", ".join("#" + c["name"] for c in view["channels"])
    return _done(f"Listening to {names}" if names else "Listening to no channel")


@router.post(HOME + "/disconnect")
async def disconnect(caller: CurrentAdminPage, runtime: RuntimeDep) -> Response:
    """Forget the workspace and its secrets (its conversations stay)."""
    await slack.disconnect_workspace(runtime, caller.user)
    return _done("Slack disconnected")


@router.post(HOME + "/events/{event_id}/retry")
async def retry(request: Request, event_id: IdPath, caller: CurrentAdminPage,
                runtime: RuntimeDep) -> Response:
    """Process a failed event again."""
    try:
        await slack.retry_event(runtime, event_id)
    except UserError as exc:
        return await _page(request, caller, runtime, error=exc, failed_form="events")
    return _done(f"Event {event_id} will be processed again")
