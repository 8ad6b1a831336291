"""`POST /slack/events`: Slack's Events API request URL.

The body is read raw, up to `[slack] max_event_bytes` (413 past it, unread), and handed to
`events.accept`, which checks the signature and its 5-minute window before anything else
(401), answers a URL verification with its challenge, and commits each event before this
answers 200 (Slack's retries of it are answered 200 too, stored once).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from connectors.slack import events
from core.errors import UserError
from web.api.common import RuntimeDep

router = APIRouter(tags=["slack"])


class TooLarge(UserError):
    status = 413
    code = "too_large"


async def _body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"an event body is at most {cap} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"an event body is at most {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request, runtime: RuntimeDep) -> Response:
    """Take one Events API request from Slack (see the module docstring)."""
    body = await _body(request, runtime.settings.slack.max_event_bytes)
    accepted = await events.accept(
        runtime.sessions, runtime.settings.secret_key, body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"))
    if accepted.challenge is not None:
        return PlainTextResponse(accepted.challenge)
    return JSONResponse({"ok": True})
