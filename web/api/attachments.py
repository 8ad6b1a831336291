"""Attachments are only ever downloaded, never rendered by the browser."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from core.db import transaction
from core.errors import NotFound
from inbox.models import MessageAttachment
from inbox.queries import visible_attachment
from web.api.common import JSON, CurrentCaller, IdPath, RuntimeDep

router = APIRouter(tags=["attachments"])


def attachment_json(a: MessageAttachment) -> JSON:
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "inline": a.inline, "content_id": a.content_id,
            "url": f"/api/attachments/{a.id}"}


@router.get("/api/attachments/{attachment_id}")
async def download(attachment_id: IdPath, caller: CurrentCaller,
                   runtime: RuntimeDep) -> Response:
    """The file as a download (`Content-Disposition: attachment`, `nosniff`), for an
    attachment of a conversation the caller sees."""
    async with transaction(runtime.sessions) as session:
        found = await visible_attachment(session, attachment_id, scope=caller.scope)
    store = runtime.sessions.kw["info"]["attachments"]
    try:
        content = await asyncio.to_thread(store.read, found.sha256)
    except FileNotFoundError:
        raise NotFound(f"the file of attachment {attachment_id} is missing") from None
    return file_download(content, found.filename)


def file_download(content: bytes, filename: str,
                  media_type: str = "application/octet-stream") -> Response:
    """`content` as a download named `filename`, never shown or sniffed by the browser."""
    name = filename.replace('"', "")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})
