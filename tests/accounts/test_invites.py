"""Invitations and password resets: one-time links mailed through the outbox and a real
SMTP relay on loopback (aiosmtpd); time moves on core's clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts import console, invites
from accounts.models import LoginSession, PasswordLink, TeamMember, User
from accounts.passwords import authenticate, hash_new_password
from accounts.security import hash_token
from accounts.service import start_login_session, team_members
from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound
from tests.connectors.email.test_smtp_out import RecordingRelay, free_port, running_relay
from tests.support import PASSWORD, run_jobs

RELAY_PORT = free_port()
NEW_PASSWORD = "a brand new password"
LINK = re.compile(r"https://help\.example\.com/password/(fdp_[A-Za-z0-9_-]{43})")


@pytest.fixture
def settings_overrides() -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0},
            "http": {"public_url": "https://help.example.com"}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


async def _actor(runtime, user_id: int) -> User:
    async with transaction(runtime.sessions) as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


async def _invite(runtime, actor: User, email: str = "nia@example.com", **kw) -> int:
    async with transaction(runtime.sessions) as session:
        issued = await console.invite(
            session, actor=actor, email=email, name=kw.get("name", "Nia New"),
            role=kw.get("role", "agent"), team_ids=kw.get("team_ids", []),
            secret_key=runtime.settings.secret_key)
    return issued.user.id


def _tokens(relay: RecordingRelay, to: str) -> list[str]:
    found = []
    for received in relay.accepted:
        if received.rcpt_tos == [to]:
            found += LINK.findall(received.parsed().get_content())
    return found


async def _use(runtime, token: str, password_hash: str = "argon2-hash") -> invites.FoundLink:
    async with transaction(runtime.sessions) as session:
        return await invites.use_link(session, token, password_hash)


async def _state(runtime, token: str) -> str | None:
    async with transaction(runtime.sessions) as session:
        found = await invites.find_link(session, token)
    return found.state if found is not None else None


# ----------------------------------------------------------------------------- pure

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("used", "revoked", "expires", "state"), [
    (None, None, NOW + timedelta(seconds=1), "live"),
    (None, None, NOW, "expired"),
    (None, None, NOW - timedelta(hours=1), "expired"),
    (NOW, None, NOW + timedelta(hours=1), "used"),
    (None, NOW, NOW + timedelta(hours=1), "revoked"),
    (NOW, NOW, NOW - timedelta(hours=1), "used"),
    (None, NOW, NOW - timedelta(hours=1), "revoked"),
])
def test_link_state(used, revoked, expires, state):
    assert invites.link_state(used_at=used, revoked_at=revoked, expires_at=expires,
                              now=NOW) == state


def test_link_token_is_keyed_and_url_safe():
    one = invites.link_token("key-one", "nonce")
    assert one == invites.link_token("key-one", "nonce")
    assert one != invites.link_token("key-two", "nonce")
    assert one != invites.link_token("key-one", "other")
    assert re.fullmatch(r"fdp_[A-Za-z0-9_-]{43}", one)


# ----------------------------------------------------------------------------- services


async def test_an_invitation_is_mailed_works_once_and_joins(runtime, admin, relay,
                                                            manual_clock):
    boss = await _actor(runtime, admin[0])
    async with transaction(runtime.sessions) as session:
        team = await console.create_team(session, "Billing", [], actor=boss)
    user_id = await _invite(runtime, boss, team_ids=[team.id])
    async with transaction(runtime.sessions) as session:
        user = await session.get(User, user_id)
        assert (user.active, user.invitation_pending, invites.user_status(user)) == (
            False, True, "invited")
        assert await session.scalar(select(TeamMember.team_id).where(
            TeamMember.user_id == user_id)) == team.id
        [link] = (await session.scalars(select(PasswordLink))).all()
    await run_jobs(runtime)
    [mail] = [r for r in relay.accepted if r.rcpt_tos == ["nia@example.com"]]
    parsed = mail.parsed()
    assert mail.mail_from == "<>"
    assert parsed["Subject"] == "You are invited to Frontdesk"
    assert parsed["From"].addresses[0].addr_spec == "help@example.com"
    assert "Ada Admin invited you" in parsed.get_content()
    [token] = _tokens(relay, "nia@example.com")
    # Only the token's hash is stored; nothing in the row is the token.
    assert link.token_hash == hash_token(token)
    assert token not in (link.nonce, link.token_hash)
    assert link.expires_at == manual_clock() + timedelta(hours=72)

    assert await _state(runtime, token) == "live"
    used = await _use(runtime, token, "new-hash")
    assert (used.user.active, used.user.invitation_pending, used.user.password_hash) == (
        True, False, "new-hash")
    assert await _state(runtime, token) == "used"
    with pytest.raises(invites.LinkDead) as dead:
        await _use(runtime, token)
    assert dead.value.state == "used" and dead.value.code == "link_used"


async def test_an_invitation_expires_after_72_hours(runtime, admin, relay, manual_clock):
    boss = await _actor(runtime, admin[0])
    await _invite(runtime, boss)
    await run_jobs(runtime)
    [token] = _tokens(relay, "nia@example.com")
    manual_clock.advance(timedelta(hours=72) - timedelta(seconds=1))
    assert await _state(runtime, token) == "live"
    manual_clock.advance(timedelta(seconds=1))
    assert await _state(runtime, token) == "expired"
    with pytest.raises(invites.LinkDead) as dead:
        await _use(runtime, token)
    assert dead.value.state == "expired"


async def test_resending_kills_the_old_link(runtime, admin, relay, manual_clock):
    boss = await _actor(runtime, admin[0])
    user_id = await _invite(runtime, boss)
    await run_jobs(runtime)
    manual_clock.advance(timedelta(hours=70))
    async with transaction(runtime.sessions) as session:
        resent = await console.resend_invitation(session, user_id, actor=boss,
                                                 secret_key=runtime.settings.secret_key)
    assert resent.link.expires_at == manual_clock() + timedelta(hours=72)
    await run_jobs(runtime)
    old, new = _tokens(relay, "nia@example.com")
    assert old != new
    assert await _state(runtime, old) == "revoked"
    with pytest.raises(invites.LinkDead):
        await _use(runtime, old)
    manual_clock.advance(timedelta(hours=5))  # past the first link's 72 hours
    await _use(runtime, new)
    assert await _state(runtime, new) == "used"


async def test_a_resend_queued_behind_a_newer_one_is_not_mailed(runtime, admin, relay):
    boss = await _actor(runtime, admin[0])
    async with transaction(runtime.sessions) as session:  # both mails wait for the commit
        issued = await console.invite(session, actor=boss, email="nia@example.com",
                                      name="Nia New", role="agent", team_ids=[],
                                      secret_key=runtime.settings.secret_key)
        await console.resend_invitation(session, issued.user.id, actor=boss,
                                        secret_key=runtime.settings.secret_key)
    await run_jobs(runtime)
    assert len(_tokens(relay, "nia@example.com")) == 1


async def test_revoking_an_invitation_removes_the_person(runtime, admin, relay):
    boss = await _actor(runtime, admin[0])
    user_id = await _invite(runtime, boss)
    await run_jobs(runtime)
    [token] = _tokens(relay, "nia@example.com")
    async with transaction(runtime.sessions) as session:
        await console.revoke_invitation(session, user_id, actor=boss)
    assert await _state(runtime, token) is None
    with pytest.raises(NotFound):
        await _use(runtime, token)
    await _invite(runtime, boss)  # the address can be invited again
    await run_jobs(runtime)
    assert len(_tokens(relay, "nia@example.com")) == 2


async def test_invitation_refusals(runtime, admin, agent):
    boss = await _actor(runtime, admin[0])
    user_id = await _invite(runtime, boss)
    async with transaction(runtime.sessions) as session:
        count = await session.scalar(select(func.count(User.id)))
    cases = [
        (dict(email="nia@example.com"), Conflict, "already_invited"),
        (dict(email="agent@example.com"), Conflict, "conflict"),
        (dict(email="not an address"), InvalidInput, "invalid"),
        (dict(email="ok@example.com", role="boss"), InvalidInput, "invalid"),
        (dict(email="ok@example.com", name="  "), InvalidInput, "invalid"),
        (dict(email="ok@example.com", team_ids=[999]), InvalidInput, "invalid"),
    ]
    for kw, error, code in cases:
        with pytest.raises(error) as raised:
            await _invite(runtime, boss, **kw)
        assert raised.value.code == code, kw
    async with transaction(runtime.sessions) as session:  # nothing half-done
        assert await session.scalar(select(func.count(User.id))) == count
        with pytest.raises(Conflict):  # an agent who joined has no invitation
            await invites.resend_invitation(session, agent[0], actor=boss,
                                            secret_key=runtime.settings.secret_key)
    async with transaction(runtime.sessions) as session:
        with pytest.raises(Conflict):
            await invites.revoke_invitation(session, agent[0])
    async with transaction(runtime.sessions) as session:
        with pytest.raises(Conflict):  # not reactivated before joining
            await console.update_user(session, user_id, {"active": True}, actor=boss)
    async with transaction(runtime.sessions) as session:
        with pytest.raises(Conflict):  # a reset is for people who joined
            await invites.send_password_reset(session, user_id, actor=boss,
                                              secret_key=runtime.settings.secret_key)


async def test_a_reset_link_sets_the_password_and_ends_sessions(runtime, admin, agent, relay,
                                                                 manual_clock):
    boss = await _actor(runtime, admin[0])
    al = await _actor(runtime, agent[0])
    async with transaction(runtime.sessions) as session:
        await start_login_session(session, al, 14)
        issued = await console.send_password_reset(session, al.id, actor=boss,
                                                   secret_key=runtime.settings.secret_key)
    assert issued.link.expires_at == manual_clock() + timedelta(hours=2)
    await run_jobs(runtime)
    [mail] = [r for r in relay.accepted if r.rcpt_tos == ["agent@example.com"]]
    assert mail.parsed()["Subject"] == "Reset your Frontdesk password"
    [token] = _tokens(relay, "agent@example.com")
    # The old password works until the link is used.
    assert await authenticate(runtime.sessions, "agent@example.com", PASSWORD) is not None
    await _use(runtime, token, await hash_new_password(NEW_PASSWORD))
    async with transaction(runtime.sessions) as session:
        assert await session.scalar(select(func.count(LoginSession.id)).where(
            LoginSession.user_id == al.id)) == 0
    assert await authenticate(runtime.sessions, "agent@example.com", PASSWORD) is None
    assert await authenticate(runtime.sessions, "agent@example.com", NEW_PASSWORD) is not None
    with pytest.raises(invites.LinkDead):
        await _use(runtime, token)


async def test_a_reset_link_expires_sooner_and_dies_with_deactivation(runtime, admin, agent,
                                                                     relay, manual_clock):
    boss = await _actor(runtime, admin[0])
    async with transaction(runtime.sessions) as session:  # both mails wait for the commit
        for _ in range(2):
            await console.send_password_reset(session, agent[0], actor=boss,
                                              secret_key=runtime.settings.secret_key)
    await run_jobs(runtime)
    [token] = _tokens(relay, "agent@example.com")  # the first was replaced before it left
    manual_clock.advance(timedelta(hours=2))
    assert await _state(runtime, token) == "expired"
    async with transaction(runtime.sessions) as session:
        await console.send_password_reset(session, agent[0], actor=boss,
                                          secret_key=runtime.settings.secret_key)
    await run_jobs(runtime)
    fresh = _tokens(relay, "agent@example.com")[-1]
    async with transaction(runtime.sessions) as session:
        await console.update_user(session, agent[0], {"active": False}, actor=boss)
    assert await _state(runtime, fresh) == "revoked"
    async with transaction(runtime.sessions) as session:
        with pytest.raises(Conflict):
            await invites.send_password_reset(session, agent[0], actor=boss,
                                              secret_key=runtime.settings.secret_key)


async def test_an_invited_person_can_be_a_team_member(runtime, admin):
    boss = await _actor(runtime, admin[0])
    user_id = await _invite(runtime, boss)
    async with transaction(runtime.sessions) as session:
        team = await console.create_team(session, "Night shift", [user_id], actor=boss)
        await console.update_team(session, team.id, {"name": "Nights"}, actor=boss)
        assert (await team_members(session, [team.id]))[team.id] == [user_id]
