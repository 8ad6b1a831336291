"""Messages as they arrived: the original email of an inbound message, always a download."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from connectors.email.inbound import original_of
from core.db import transaction
from core.errors import NotFound
from inbox import queries
from inbox import service as inbox
from web.api.attachments import file_download
from web.api.common import JSON, CurrentCaller, IdPath, RuntimeDep
from web.api.conversations import message_json

router = APIRouter(tags=["messages"])


@router.get("/api/messages/{message_id}/original")
async def original(message_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> Response:
    """The email the message was made of, byte for byte as it was accepted (whatever the
    limits left out of the message), as a `message/rfc822` download, for a message of a
    conversation the caller sees. 404 for any other message (in trash, out of scope), and
    for one that came by no email."""
    async with transaction(runtime.sessions) as session:
        message = await queries.visible_message(session, message_id, scope=caller.scope)
    raw = await original_of(runtime.raw_sessions, message.id)
    if raw is None:
        raise NotFound(f"message {message_id} did not come by email")
    return file_download(raw, f"message-{message_id}.eml", "message/rfc822")


@router.post("/api/messages/{message_id}/resend")
async def resend(message_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Send once more a reply whose delivery failed (409 for any other message), in a
    conversation the caller sees."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_message(session, message_id, scope=caller.scope)
        message = await inbox.resend_reply(session, message_id)
    return message_json(message)
