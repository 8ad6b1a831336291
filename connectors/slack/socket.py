"""Socket Mode: events taken over a websocket Slack opens for the app, for installs without
a public URL (`[slack] socket_mode = true`, and an app-level token on the workspace).

slack-sdk's SocketModeClient holds the connection (and reconnects). Each `events_api`
envelope's payload is stored exactly as `POST /slack/events` stores one
(`events.store_callback`, unique on the event id) and acknowledged only after that commit; an
envelope that could not be stored is not acknowledged, so Slack sends it again. The
connection is opened and closed to follow the stored workspace: `SocketMode.check()` does it
once, `run()` every CHECK_SECONDS (a workspace connected or changed by an admin is picked up
within that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from connectors.slack import events
from connectors.slack.workspace import credentials, get_workspace
from core.db import transaction
from core.errors import UserError
from core.secrets import SecretUnreadable

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0


class SocketMode:
    """One process's Socket Mode connection, following the stored workspace."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.client: SocketModeClient | None = None
        self._token: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def _app_token(self) -> str | None:
        async with transaction(self.runtime.sessions) as session:
            workspace = await get_workspace(session)
        if workspace is None:
            return None
        try:
            return credentials(workspace, self.runtime.settings.secret_key).app_token
        except SecretUnreadable:
            log.error("the Slack app-level token cannot be read: connect the workspace again")
            return None

    async def check(self) -> bool:
        """Open, keep or close the connection as the stored workspace says; whether one
        is open now."""
        token = await self._app_token()
        if token == self._token and (token is None or self.client is not None):
            return self.client is not None
        await self._disconnect()
        if token is not None:
            settings = self.runtime.settings.slack
            client = SocketModeClient(app_token=token, web_client=AsyncWebClient(
                base_url=settings.api_url, timeout=settings.timeout_seconds),
                auto_reconnect_enabled=True, logger=log)
            client.socket_mode_request_listeners.append(self._on_request)
            await client.connect()  # type: ignore[no-untyped-call]
            self.client = client
        self._token = token
        return self.client is not None

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        if request.type == "events_api":
            try:
                await events.store_callback(self.runtime.sessions, request.payload)
            except UserError as exc:  # it never will be stored: acknowledge, log
                log.warning("Socket Mode envelope %s refused: %s", request.envelope_id, exc)
            except Exception:
                log.exception("Socket Mode envelope %s could not be stored; Slack sends it "
                              "again", request.envelope_id)
                return
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id))

    async def _disconnect(self) -> None:
        client, self.client, self._token = self.client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()  # type: ignore[no-untyped-call]

    async def run(self) -> None:
        """Check every CHECK_SECONDS, until cancelled."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("Socket Mode check failed")
            await asyncio.sleep(CHECK_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()


async def start(runtime: Any) -> SocketMode | None:
    """With `[slack] socket_mode`, keep the runtime's Socket Mode connection following the
    stored workspace until the runtime closes; the runner (None when it is off)."""
    if not runtime.settings.slack.socket_mode:
        return None
    socket = SocketMode(runtime)
    socket._task = asyncio.create_task(socket.run())
    runtime.closing.append(socket.close)
    runtime.extras["slack.socket_mode"] = socket
    return socket
