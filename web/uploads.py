"""Files an agent attaches to a reply, from a multipart form (the page's or the API's)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import UploadFile

from inbox.messages import Attachment


async def read_uploads(files: Sequence[UploadFile] | None) -> list[Attachment]:
    """The uploaded files as attachments, in the order sent. An empty file input (a form
    sent without choosing a file: no name, no bytes) is no file."""
    attachments = []
    for upload in files or ():
        content = await upload.read()
        if not upload.filename and not content:
            continue
        attachments.append(Attachment(
            filename=upload.filename or "attachment",
            content_type=upload.content_type or "application/octet-stream",
            content=content))
    return attachments
