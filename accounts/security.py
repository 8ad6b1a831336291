"""Password hashing (argon2id, argon2-cffi's RFC 9106 profile) and opaque tokens. Pure: no
database, no event loop: hashing costs a tenth of a second of CPU, so callers run these in
a thread (`accounts.login`), never on the event loop and never inside a write transaction.

Hashes made before argon2id (`scrypt$N$r$p$salt$digest`) still verify, and say that they
need a new hash; so does an argon2 hash made with weaker parameters than today's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8
HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4


@dataclass(frozen=True)
class PasswordCheck:
    """Whether a password matches a stored hash, and whether that hash should be
    replaced by a fresh one (an older scheme or weaker parameters)."""

    matches: bool
    needs_rehash: bool = False


def hash_password(password: str) -> str:
    """Hash `password` with argon2id and a random salt; a self-describing string."""
    return HASHER.hash(password)


def _scrypt_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_password(password: str, stored: str) -> PasswordCheck:
    """Does `password` match `stored` (argon2, or the scrypt hashes of old)?"""
    if stored.startswith("scrypt$"):
        matches = _scrypt_matches(password, stored)
        return PasswordCheck(matches, needs_rehash=matches)
    try:
        HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(False)
    return PasswordCheck(True, needs_rehash=HASHER.check_needs_rehash(stored))


DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
"""Checked against when the user does not exist, so timing does not reveal accounts."""


def new_token(prefix: str = "fd") -> str:
    """A fresh random token (256 bits) with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy token: enough at rest, cheap to look up."""
    return hashlib.sha256(token.encode()).hexdigest()
