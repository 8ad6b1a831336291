"""Our own Message-IDs, signed so that a forged reply claiming to answer one can be told apart.

    fd.<token>.<hmac10>@<domain>

`token` is the sender's choice (letters, digits, `_`, `-`); `hmac10` is the first ten hex
digits of HMAC-SHA256(secret, "message-id:<token>@<domain>"). Ids are written without
angle brackets, as the rest of the house stores them. Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "fd"
MAC_LENGTH = 10

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_OURS = re.compile(r"fd\.(?P<token>[^.@]*)\.(?P<mac>[^.@]*)@(?P<domain>[^@]*)", re.IGNORECASE)


def _mac(secret: str, token: str, domain: str) -> str:
    signed = f"message-id:{token}@{domain.lower()}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()[:MAC_LENGTH]


def make_message_id(secret: str, domain: str, token: str) -> str:
    """A signed Message-ID (no angle brackets) for `token` at `domain`.

    Raises ValueError for an empty secret, a token outside [A-Za-z0-9_-]{1,64} or a domain
    that is not a host name.
    """
    if not secret:
        raise ValueError("a Message-ID needs a secret to sign it")
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"token must be 1-64 letters, digits, '_' or '-': {token!r}")
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a host name: {domain!r}")
    domain = domain.lower()
    return f"{PREFIX}.{token}.{_mac(secret, token, domain)}@{domain}"


def is_ours(secret: str, message_id: str) -> bool | None:
    """Whether `message_id` is one we made: True (genuine), False (our format with a wrong
    signature: forged or altered) or None (not our format at all).

    Surrounding whitespace and angle brackets are ignored.
    """
    found = _OURS.fullmatch(message_id.strip().removeprefix("<").removesuffix(">").strip())
    if found is None:
        return None
    token, mac, domain = found["token"], found["mac"].lower(), found["domain"]
    if not _TOKEN.fullmatch(token) or not _DOMAIN.fullmatch(domain):
        return False
    return hmac.compare_digest(mac, _mac(secret, token, domain))
