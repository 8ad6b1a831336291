"""Fixtures for Slack: the Web API double on loopback (the runtime's `[slack] api_url`),
a connected workspace, and events signed as Slack signs them (v0, HMAC-SHA256 over
`v0:{timestamp}:{body}`) at the time of `core.clock`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import httpx
import pytest

from core import clock
from tests.connectors.slack.double import SIGNING_SECRET, TEAM, TOKEN, SlackDouble

_event_ids = count(1)


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    double = SlackDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
def settings_overrides(slack: SlackDouble) -> dict:
    return {"slack": {"api_url": slack.url}}


def sign(body: bytes, *, secret: str = SIGNING_SECRET, at: int | None = None
         ) -> dict[str, str]:
    """The headers Slack sends with `body`, signed at `at` (default: core.clock's now)."""
    timestamp = str(int(clock.now().timestamp()) if at is None else at)
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json"}


def callback(event: dict[str, Any], *, event_id: str | None = None,
             team: str = TEAM) -> dict[str, Any]:
    """An `event_callback` envelope around `event`."""
    return {"token": "legacy", "team_id": team, "api_app_id": "A0APP001",
            "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{next(_event_ids):08d}",
            "event_time": int(clock.now().timestamp())}


def message(text: str, ts: str, *, user: str = "U0ANNA01", channel: str = "C0HELP01",
            thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
             "channel_type": "channel", **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any], *,
                  retry_num: int | None = None, **signing: Any) -> httpx.Response:
    """POST `payload` to /slack/events, signed (and marked as Slack's retry)."""
    body = json.dumps(payload).encode()
    headers = sign(body, **signing)
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    return await client.post("/slack/events", content=body, headers=headers)


async def connect(client: httpx.AsyncClient, headers: dict[str, str],
                  channels: tuple[str, ...] = ("C0HELP01",)) -> dict[str, Any]:
    """Connect the double's workspace to the inbox `support` and listen to `channels`."""
    response = await client.put("/api/admin/slack", headers=headers, json={
        "bot_token": TOKEN, "signing_secret": SIGNING_SECRET, "inbox": "support"})
    assert response.status_code == 200, response.text
    response = await client.put("/api/admin/slack/channels", headers=headers,
                                json={"channels": list(channels)})
    assert response.status_code == 200, response.text
    return dict(response.json())
