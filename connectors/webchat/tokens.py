"""A visitor's session token: who they are, which conversation, until when. Pure.

    token = base64url("v1:<inbox id>:<visitor key>:<conversation id or 0>:<expires, unix>")
            + "." + base64url(HMAC-SHA256(key, that text)[:18])

The key is derived from the service's `secret_key` for the purpose "webchat"
(`core.secrets.derive_key`), so changing the secret ends every chat session. The widget
keeps the token in the site's localStorage: a reload or another tab resumes the same
conversation. A token is refused (None) when forged, damaged, expired or made for another
inbox; nothing in it is secret, only unforgeable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.secrets import derive_key

PURPOSE = "webchat"
LIFETIME = timedelta(days=30)
_VISITOR = re.compile(r"[A-Za-z0-9_-]{16,43}")


@dataclass(frozen=True)
class Session:
    """What a token says."""

    inbox_id: int
    visitor: str
    conversation: int | None
    expires_at: datetime


def new_visitor() -> str:
    """A fresh, unguessable visitor key (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Makes and checks tokens with the key of one `secret_key`."""

    def __init__(self, secret_key: str):
        self._key = derive_key(secret_key, PURPOSE)

    def _mac(self, text: bytes) -> bytes:
        return hmac.new(self._key, text, hashlib.sha256).digest()[:18]

    def issue(self, inbox_id: int, visitor: str, conversation: int | None,
              now: datetime) -> str:
        """A token for the visitor, valid for LIFETIME from `now`."""
        expires = int((now + LIFETIME).timestamp())
        text = f"v1:{inbox_id}:{visitor}:{conversation or 0}:{expires}".encode()
        return f"{_b64(text)}.{_b64(self._mac(text))}"

    def check(self, token: str, inbox_id: int, now: datetime) -> Session | None:
        """What a valid token of inbox `inbox_id` says at `now`; None for any other."""
        body, _, mac = token.partition(".")
        try:
            text, given = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(given, self._mac(text)):
            return None
        parts = text.decode("ascii", "replace").split(":")
        if len(parts) != 5 or parts[0] != "v1" or not _VISITOR.fullmatch(parts[2]):
            return None
        try:
            inbox, conversation, expires = int(parts[1]), int(parts[3]), int(parts[4])
        except ValueError:
            return None
        expires_at = datetime.fromtimestamp(expires, UTC)
        if inbox != inbox_id or expires_at <= now:
            return None
        return Session(inbox, parts[2], conversation or None, expires_at)
