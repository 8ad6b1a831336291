"""Small secrets at rest (IMAP and relay passwords): sealed with a key derived from the
service's `secret_key`, so a copy of the database alone does not give them away.

    key   = HKDF-SHA256(secret_key, salt=None, info="frontdesk:" + purpose), 32 bytes
    token = "v1:" + base64url(nonce (12 bytes) || AES-256-GCM(key, nonce, plaintext, aad=purpose))

The version prefix lets a later scheme sit beside this one. A token sealed under another key
or purpose, cut short or altered in any byte, raises `SecretUnreadable` (never anything
else): the admin is then asked to enter the secret again. Changing `secret_key` makes every
stored secret unreadable, which is the point of deriving from it.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import FrontdeskError

VERSION = "v1"
NONCE_BYTES = 12
MAIL_PASSWORDS = "mail-passwords"
"""The purpose label of IMAP mailbox and relay passwords."""


class SecretUnreadable(FrontdeskError):
    """A stored secret cannot be opened: sealed under another key, damaged, or not a token."""


def derive_key(secret_key: str, purpose: str) -> bytes:
    """The 32-byte key for `purpose`, derived from the service's `secret_key`."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"frontdesk:{purpose}".encode()).derive(secret_key.encode())


class SecretBox:
    """Seals and opens secrets for one purpose under one service key."""

    def __init__(self, secret_key: str, purpose: str = MAIL_PASSWORDS) -> None:
        self._aead = AESGCM(derive_key(secret_key, purpose))
        self._aad = purpose.encode()

    def seal(self, plaintext: str) -> str:
        """A new token for `plaintext` (a fresh nonce each time: equal secrets differ)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad)
        return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str) -> str:
        """The plaintext of `token`; SecretUnreadable when it cannot be had."""
        version, colon, body = token.partition(":")
        if not colon or version != VERSION:
            raise SecretUnreadable(f"not a stored secret of version {VERSION}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise SecretUnreadable("the stored secret is damaged") from None
        if len(raw) <= NONCE_BYTES:
            raise SecretUnreadable("the stored secret is damaged")
        try:
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad)
        except InvalidTag:
            raise SecretUnreadable("the stored secret was sealed under another key or "
                                   "altered") from None
        try:
            return plain.decode()
        except UnicodeDecodeError:
            raise SecretUnreadable("the stored secret is damaged") from None
