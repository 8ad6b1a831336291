"""Socket Mode against the double's websocket: the connection opens once the workspace has
an app-level token, an `events_api` envelope is stored as a request-URL event is and
acknowledged after the commit, the same event again is stored once, and removing the token
closes the connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from connectors.slack.models import SlackEvent
from core.db import transaction
from inbox.models import Conversation
from tests.connectors.slack.conftest import callback, message
from tests.connectors.slack.double import APP_TOKEN, SIGNING_SECRET, TOKEN, SlackDouble
from tests.support import run_jobs


@pytest.fixture
def settings_overrides(slack: SlackDouble) -> dict:
    return {"slack": {"api_url": slack.url, "socket_mode": True}}


async def until(condition, what: str) -> None:
    """Wait for `condition()` (the websocket is real I/O), at most 10 s."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def put_connection(client, headers, app_token: str) -> None:
    response = await client.put("/api/admin/slack", headers=headers, json={
        "bot_token": TOKEN, "signing_secret": SIGNING_SECRET, "inbox": "support",
        "app_token": app_token})
    assert response.status_code == 200, response.text
    assert APP_TOKEN not in response.text
    assert (await client.put("/api/admin/slack/channels", headers=headers,
                             json={"channels": ["C0HELP01"]})).status_code == 200


async def test_events_over_socket_mode_are_stored_once_then_acknowledged(
        client, runtime, admin, slack: SlackDouble):
    socket = runtime.extras["slack.socket_mode"]
    assert await socket.check() is False  # no workspace yet
    bad = await client.put("/api/admin/slack", headers=admin[1], json={
        "bot_token": TOKEN, "signing_secret": SIGNING_SECRET, "inbox": "support",
        "app_token": "xoxb-not-an-app-token"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "app_token"
    await put_connection(client, admin[1], APP_TOKEN)
    assert (await client.get("/api/admin/slack", headers=admin[1])).json()["socket_mode"]
    assert await socket.check() is True
    await until(lambda: slack.sockets, "the connection")
    payload = callback(message("Over the socket", "1772442000.000100"))
    for envelope_id in ("env-1", "env-2"):  # Slack sends it again: stored once
        await slack.push({"envelope_id": envelope_id, "type": "events_api",
                          "accepts_response_payload": False, "retry_attempt": 0,
                          "payload": payload})
    await until(lambda: len(slack.acks) == 2, "two acknowledgements")
    # the client handles envelopes concurrently: both are acknowledged, in either order
    assert sorted(ack["envelope_id"] for ack in slack.acks) == ["env-1", "env-2"]
    await run_jobs(runtime)
    async with transaction(runtime.sessions) as session:
        assert await session.scalar(select(func.count()).select_from(SlackEvent)) == 1
        [conversation] = (await session.scalars(select(Conversation))).all()
    assert (conversation.channel, conversation.subject) == ("slack", "Over the socket")

    await slack.push({"envelope_id": "env-3", "type": "events_api",
                      "payload": callback(message("x", "1.2"), team="T0OTHER1")})
    await until(lambda: len(slack.acks) == 3, "the refused one acknowledged")

    await put_connection(client, admin[1], "")
    assert await socket.check() is False
    await until(lambda: not slack.sockets, "the connection to close")
