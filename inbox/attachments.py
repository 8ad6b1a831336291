"""The attachment store: files on disk, named by the SHA-256 of their bytes.

Content addressing makes writes idempotent (the same file twice is stored once) and lets a
retry after a crash write again safely. A file is written (and synced) before the database
row that names it is committed, so a committed row never points at nothing.

`check_outgoing` holds the files an agent attaches to the same `[limits]` as mail that
arrives.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import InvalidInput
from core.limits import MIB, Limits
from inbox.messages import Attachment


class AttachmentStore:
    """Files under one directory, two levels of fan-out by hash."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        """Store `content` (once); returns its SHA-256 hex digest."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        with open(partial, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return digest

    def read(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; FileNotFoundError when absent."""
        return self.path_for(sha256).read_bytes()


def check_outgoing(files: Sequence[Attachment], limits: Limits) -> None:
    """Refuse (InvalidInput naming `attachments`) files an agent sends that pass the
    `[limits]` a message is held to: more than `max_parts` files, one larger than
    `max_attachment_bytes`, or together more than `max_total_attachment_bytes`. Pure."""
    if len(files) > limits.max_parts:
        raise InvalidInput(f"at most {limits.max_parts} files may be attached",
                           field="attachments")
    for file in files:
        if len(file.content) > limits.max_attachment_bytes:
            raise InvalidInput(f"{file.filename!r} is larger than "
                               f"{_size(limits.max_attachment_bytes)}", field="attachments")
    if sum(len(file.content) for file in files) > limits.max_total_attachment_bytes:
        raise InvalidInput(f"the files together are larger than "
                           f"{_size(limits.max_total_attachment_bytes)}", field="attachments")


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count % MIB == 0 else f"{count} bytes"
