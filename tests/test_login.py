"""Logging in over HTTP: throttled per account and source, never turned against someone
else; X-Forwarded-For only from trusted proxies; argon2id hashes, old scrypt ones rehashed;
hashing off the event loop and outside any write transaction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

import server
from accounts import security
from accounts.models import User
from core.db import transaction
from core.runtime import Runtime
from tests.support import PASSWORD, add_user

WRONG = "not the password"
PROXY, OFFICE, ELSEWHERE = "10.0.0.2", "198.51.100.20", "192.0.2.50"


PROXIES = {"http": {"trusted_proxies": ["10.0.0.0/24"]}}
SMALL_SOURCE_LIMIT = PROXIES | {"security": {"login_source_max_failures": 4}}


@pytest.fixture
def settings_overrides(request) -> dict:
    """Trusted proxies in 10.0.0.0/24; a test may ask for others (indirect parameter)."""
    return getattr(request, "param", PROXIES)


@pytest.fixture
async def app(runtime: Runtime):
    return server.create_app(runtime=runtime)


@pytest.fixture
async def users(runtime: Runtime) -> None:
    await add_user(runtime, "admin@example.com", "admin")
    await add_user(runtime, "agent@example.com", "agent")


@pytest.fixture
async def from_address(app) -> AsyncIterator:
    """A client for requests whose connection comes from a given address."""
    clients: list[httpx.AsyncClient] = []

    def client(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield client
    for c in clients:
        await c.aclose()


async def log_in(client: httpx.AsyncClient, email: str, password: str,
                 forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post("/api/session", json={"email": email, "password": password},
                             headers=headers)


async def test_failures_delay_only_that_account_from_that_address(from_address, users,
                                                                  manual_clock):
    office, elsewhere = from_address(OFFICE), from_address(ELSEWHERE)
    # The three free failures, then the fourth; each answered 401.
    for _ in range(4):
        assert (await log_in(office, "agent@example.com", WRONG)).status_code == 401
    blocked = await log_in(office, "agent@example.com", PASSWORD)
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "2"
    assert blocked.json()["error"]["code"] == "rate_limited"
    # Someone else at the same address, and the same account elsewhere, log in at once.
    assert (await log_in(office, "admin@example.com", PASSWORD)).status_code == 200
    assert (await log_in(elsewhere, "agent@example.com", PASSWORD)).status_code == 200
    manual_clock.advance(timedelta(seconds=2))
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200


async def test_each_further_failure_waits_longer_up_to_the_cap(from_address, users, manual_clock):
    office = from_address(OFFICE)
    waits = []
    for _ in range(15):
        response = await log_in(office, "agent@example.com", WRONG)
        while response.status_code == 429:
            waits.append(int(response.headers["retry-after"]))
            manual_clock.advance(timedelta(seconds=waits[-1]))
            response = await log_in(office, "agent@example.com", WRONG)
        assert response.status_code == 401
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    # A correct login ends the streak: the next failure is free again.
    manual_clock.advance(timedelta(seconds=900))
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200
    assert (await log_in(office, "agent@example.com", WRONG)).status_code == 401
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [SMALL_SOURCE_LIMIT], indirect=True)
async def test_an_address_that_fails_for_many_accounts_is_stopped(from_address, users,
                                                                  manual_clock):
    office, elsewhere = from_address(OFFICE), from_address(ELSEWHERE)
    for n in range(4):  # four accounts, one failure each: no account's streak matters
        assert (await log_in(office, f"guess{n}@example.com", WRONG)).status_code == 401
    refused = await log_in(office, "admin@example.com", PASSWORD)
    assert refused.status_code == 429
    assert (await log_in(elsewhere, "admin@example.com", PASSWORD)).status_code == 200
    manual_clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
    assert (await log_in(office, "admin@example.com", PASSWORD)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [SMALL_SOURCE_LIMIT], indirect=True)
async def test_correct_logins_do_not_count_against_the_address(from_address, users, manual_clock):
    office = from_address(OFFICE)
    for _ in range(6):
        assert (await log_in(office, "admin@example.com", PASSWORD)).status_code == 200


async def test_guesses_sent_at_once_wait_their_turn(from_address, users, manual_clock):
    office = from_address(OFFICE)
    answers = await asyncio.gather(*(log_in(office, "agent@example.com", WRONG)
                                     for _ in range(12)))
    codes = sorted(response.status_code for response in answers)
    assert codes == [401] * 4 + [429] * 8  # three free failures, and the one that delays


@pytest.mark.parametrize("peer, forwarded_for, counted_as", [
    (OFFICE, "192.0.2.99", OFFICE),               # not a proxy: the header is ignored
    (PROXY, ELSEWHERE, ELSEWHERE),                # a trusted proxy: its word is taken
    (PROXY, f"192.0.2.99, {ELSEWHERE}", ELSEWHERE),   # the client cannot prepend a lie
    (PROXY, f"{ELSEWHERE}, 10.0.0.3", ELSEWHERE),     # through two trusted proxies
])
async def test_x_forwarded_for_counts_only_from_trusted_proxies(
        from_address, users, manual_clock, peer, forwarded_for, counted_as):
    for _ in range(4):
        response = await log_in(from_address(peer), "agent@example.com", WRONG, forwarded_for)
        assert response.status_code == 401
    # The address the failures were counted for is now delayed, and only it.
    assert (await log_in(from_address(counted_as), "agent@example.com", PASSWORD)
            ).status_code == 429
    other = OFFICE if counted_as != OFFICE else ELSEWHERE
    assert (await log_in(from_address(other), "agent@example.com", PASSWORD)
            ).status_code == 200


def scrypt_hash(password: str) -> str:
    """A hash as Frontdesk made them before argon2id."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${2**14}$8$1${b64(salt).decode()}${b64(digest).decode()}"


async def stored_hash(runtime: Runtime, email: str) -> str:
    async with transaction(runtime.sessions) as session:
        return await session.scalar(select(User.password_hash).where(User.email == email))


async def test_an_old_scrypt_hash_still_logs_in_and_is_replaced_by_argon2id(
        runtime, from_address, users):
    async with transaction(runtime.sessions) as session:
        await session.execute(update(User).where(User.email == "agent@example.com")
                              .values(password_hash=scrypt_hash(PASSWORD)))
    office = from_address(OFFICE)
    assert (await log_in(office, "agent@example.com", WRONG)).status_code == 401
    assert (await stored_hash(runtime, "agent@example.com")).startswith("scrypt$")
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200
    fresh = await stored_hash(runtime, "agent@example.com")
    assert fresh.startswith("$argon2id$")
    assert security.check_password(PASSWORD, fresh) == security.PasswordCheck(True, False)
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200
    assert await stored_hash(runtime, "agent@example.com") == fresh


@pytest.mark.parametrize("stored, password, expected", [
    (scrypt_hash(PASSWORD), PASSWORD, security.PasswordCheck(True, True)),
    (scrypt_hash(PASSWORD), WRONG, security.PasswordCheck(False, False)),
    ("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$hWhPnh6A2a0Qyv5sN9qHnQ", WRONG,
     security.PasswordCheck(False, False)),
    ("scrypt$garbage", PASSWORD, security.PasswordCheck(False, False)),
    ("", PASSWORD, security.PasswordCheck(False, False)),
])
def test_check_password(stored, password, expected):
    assert security.check_password(password, stored) == expected


def test_weaker_argon2_parameters_ask_for_a_new_hash():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    assert security.check_password(PASSWORD, weak) == security.PasswordCheck(True, True)


async def test_hashing_runs_in_a_thread_with_no_transaction_open(
        runtime, from_address, users, monkeypatch):
    """Every hash and check runs off the event loop's thread, while no connection of the
    main database is checked out (so no transaction is open, on SQLite no write lock)."""
    async with transaction(runtime.sessions) as session:
        await session.execute(update(User).where(User.email == "agent@example.com")
                              .values(password_hash=scrypt_hash(PASSWORD)))
    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool, int]] = []
    pool = runtime.engine.pool

    def watched(name: str, work):
        def run(*args):
            seen.append((name, threading.get_ident() == loop_thread, pool.checkedout()))
            return work(*args)
        return run

    monkeypatch.setattr("accounts.passwords.check_password",
                        watched("check", security.check_password))
    monkeypatch.setattr("accounts.passwords.hash_password",
                        watched("hash", security.hash_password))
    office = from_address(OFFICE)
    assert (await log_in(office, "nobody@example.com", PASSWORD)).status_code == 401
    assert (await log_in(office, "agent@example.com", PASSWORD)).status_code == 200
    created = await office.post("/api/users", headers=(await add_user(
        runtime, "boss@example.com", "admin"))[1], json={
            "email": "new@example.com", "name": "New", "role": "agent",
            "password": "a long new password"})
    assert created.status_code == 201
    assert seen == [("check", False, 0), ("check", False, 0), ("hash", False, 0),
                    ("hash", False, 0)]
