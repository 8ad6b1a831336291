"""Password work off the event loop and outside write transactions.

Hashing and checking a password cost a tenth of a second of CPU (argon2id). They run in a
thread (`asyncio.to_thread`), so the event loop keeps serving meanwhile, and never while a
transaction is open: on SQLite a transaction holds the one write lock from its BEGIN, and
every other writer would wait for the hash.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import service
from accounts.models import User
from accounts.security import DUMMY_HASH, MIN_PASSWORD_LENGTH, check_password, hash_password
from core.db import transaction
from core.errors import InvalidInput


async def hash_new_password(password: str) -> str:
    """The hash to store for a new password, made in a thread; InvalidInput naming
    `password` when it is too short. Call it before opening the transaction that stores
    the hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password needs at least {MIN_PASSWORD_LENGTH} characters",
                           field="password")
    return await asyncio.to_thread(hash_password, password)


async def authenticate(sessions: async_sessionmaker[AsyncSession], email: str,
                       password: str) -> User | None:
    """The active user with this email and password, or None; an unknown email costs the
    same check as a known one, so timing does not tell them apart. The user is read in a
    transaction of its own, the password checked in a thread with none open; a hash of an
    older scheme or weaker parameters is replaced in a short transaction after."""
    async with transaction(sessions) as session:
        user = await service.login_candidate(session, email)
    stored = DUMMY_HASH if user is None else user.password_hash
    check = await asyncio.to_thread(check_password, password, stored)
    if user is None or not check.matches:
        return None
    if check.needs_rehash:
        fresh = await asyncio.to_thread(hash_password, password)
        async with transaction(sessions) as session:
            await service.replace_password_hash(session, user.id, stored, fresh)
    return user
