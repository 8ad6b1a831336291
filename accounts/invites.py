"""Invitations and password resets: one-time links to set a password.

An admin invites someone (email, name, role, teams): the person is added as a user who has
not joined yet (`invitation_pending`: not active, no password) and is mailed a link. An
admin may also send an active user a link to reset their password. Either way:

- the link's token is derived from the service's secret key and a random nonce kept on the
  row (`link_token`); only its SHA-256 is stored, and the mail, sent through the outbox
  after commit (`MAIL_KIND`), derives the token again. Without the secret key the database
  alone gives no working link;
- a link works once, until it expires (invitations after `INVITE_LIFETIME`, resets after
  `RESET_LIFETIME`); a new link for the same person and purpose revokes the earlier ones
  (resend); an invitation can be revoked, which removes the person who never joined;
- using it sets the password and, for an invitation, makes the person an active user; a
  reset ends every login session of the user. Every other live link of theirs dies too.

Whether a link still works is one pure decision (`link_state`). Every function takes the
caller's session and never commits; the password comes hashed
(`accounts.passwords.hash_new_password`, before the transaction).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service
from accounts.models import LoginSession, PasswordLink, TeamMember, User
from accounts.security import hash_token
from core import clock, outbox
from core.errors import Conflict, NotFound

INVITE_LIFETIME = timedelta(hours=72)
RESET_LIFETIME = timedelta(hours=2)
MAIL_KIND = "password_link_mail"
"""The outbox kind of the mail carrying a link (`connectors.email.account_mail`)."""

Purpose = Literal["invite", "reset"]
LinkState = Literal["live", "used", "expired", "revoked"]


# ----------------------------------------------------------------------------- pure


def link_token(secret_key: str, nonce: str) -> str:
    """The token of the link with `nonce`: an HMAC of it under the service's secret key
    (256 bits, URL-safe). Pure."""
    digest = hmac.new(secret_key.encode(), f"password-link:{nonce}".encode(),
                      hashlib.sha256).digest()
    return "fdp_" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_state(*, used_at: datetime | None, revoked_at: datetime | None,
               expires_at: datetime, now: datetime) -> LinkState:
    """Whether a link still works at `now`: `used` once used, `revoked` once replaced or
    withdrawn, `expired` from `expires_at` on, else `live`. Pure."""
    if used_at is not None:
        return "used"
    if revoked_at is not None:
        return "revoked"
    if expires_at <= now:
        return "expired"
    return "live"


def user_status(user: User) -> Literal["active", "invited", "deactivated"]:
    """How the people list shows a user. Pure."""
    if user.invitation_pending:
        return "invited"
    return "active" if user.active else "deactivated"


# ----------------------------------------------------------------------------- issuing


@dataclass(frozen=True)
class Issued:
    """A link just made: its row (the token itself only goes out by mail)."""

    link: PasswordLink
    user: User


async def _revoke_live(session: AsyncSession, user_id: int, purpose: str | None) -> None:
    """Revoke every live link of the user (of `purpose` only, when given)."""
    now = clock.now()
    query = (update(PasswordLink)
             .where(PasswordLink.user_id == user_id, PasswordLink.used_at.is_(None),
                    PasswordLink.revoked_at.is_(None))
             .values(revoked_at=now))
    if purpose is not None:
        query = query.where(PasswordLink.purpose == purpose)
    await session.execute(query)


async def _issue(session: AsyncSession, user: User, purpose: Purpose, *, actor: User | None,
                 secret_key: str, lifetime: timedelta) -> Issued:
    """Revoke the user's live links of `purpose`, make a new one and queue its mail."""
    await _revoke_live(session, user.id, purpose)
    nonce = secrets.token_hex(32)
    now = clock.now()
    link = PasswordLink(user_id=user.id, purpose=purpose,
                        token_hash=hash_token(link_token(secret_key, nonce)), nonce=nonce,
                        created_by_id=actor.id if actor is not None else None,
                        created_at=now, expires_at=now + lifetime)
    session.add(link)
    await session.flush()
    await outbox.add(session, MAIL_KIND, {"link_id": link.id})
    return Issued(link, user)


async def invite(session: AsyncSession, *, email: str, name: str, role: str,
                 team_ids: Sequence[int], actor: User | None, secret_key: str,
                 lifetime: timedelta = INVITE_LIFETIME) -> Issued:
    """Add a person who has not joined yet (not active, no password) as `role`, member of
    `team_ids` (active teams; InvalidInput naming `team_ids` otherwise), and mail them a
    link to set their password. Conflict when the email is taken (by an invitation too:
    resend that one instead)."""
    email = service.normalize_email(email)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None and existing.invitation_pending:
        raise Conflict(f"{email} is invited already; resend the invitation instead",
                       field="email", code="already_invited")
    teams = [await service.require_team(session, team_id, field="team_ids")
             for team_id in sorted(set(team_ids))]
    user = await service.create_user(session, email=email, name=name, role=role,
                                     password_hash="")
    user.active, user.invitation_pending = False, True
    session.add_all(TeamMember(team_id=team.id, user_id=user.id) for team in teams)
    await session.flush()
    return await _issue(session, user, "invite", actor=actor, secret_key=secret_key,
                        lifetime=lifetime)


async def _invited(session: AsyncSession, user_id: int) -> User:
    user = await service.get_user(session, user_id)
    if not user.invitation_pending:
        raise Conflict(f"{user.email} has no open invitation: they joined already",
                       code="not_invited")
    return user


async def resend_invitation(session: AsyncSession, user_id: int, *, actor: User | None,
                            secret_key: str, lifetime: timedelta = INVITE_LIFETIME) -> Issued:
    """Mail the invited user a new link; the earlier one stops working. NotFound for no
    such user, Conflict when they joined already."""
    user = await _invited(session, user_id)
    return await _issue(session, user, "invite", actor=actor, secret_key=secret_key,
                        lifetime=lifetime)


async def revoke_invitation(session: AsyncSession, user_id: int) -> User:
    """Withdraw the invitation of a person who has not joined: they are removed, with
    their links and team memberships (the email can be invited again). Returns the removed
    user (detached). NotFound for no such user, Conflict when they joined already."""
    user = await _invited(session, user_id)
    await session.execute(delete(PasswordLink).where(PasswordLink.user_id == user.id))
    await session.execute(delete(TeamMember).where(TeamMember.user_id == user.id))
    await session.delete(user)
    await session.flush()
    return user


async def send_password_reset(session: AsyncSession, user_id: int, *, actor: User | None,
                              secret_key: str, lifetime: timedelta = RESET_LIFETIME) -> Issued:
    """Mail an active user a link to set a new password; an earlier reset link stops
    working. NotFound for no such user, Conflict for one who is not active (an invited
    person gets their invitation again instead)."""
    user = await service.get_user(session, user_id)
    if user.invitation_pending:
        raise Conflict(f"{user.email} has not joined yet; resend the invitation instead",
                       code="not_joined")
    if not user.active:
        raise Conflict(f"{user.email} is deactivated; reactivate them first",
                       code="user_inactive")
    return await _issue(session, user, "reset", actor=actor, secret_key=secret_key,
                        lifetime=lifetime)


async def revoke_links(session: AsyncSession, user_id: int) -> None:
    """Every live link of the user stops working (when they are deactivated)."""
    await _revoke_live(session, user_id, None)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class FoundLink:
    """A link someone opened: its row, its user and whether it still works."""

    link: PasswordLink
    user: User
    state: LinkState


def _eligible(link: PasswordLink, user: User) -> bool:
    """Whether the user may still use a link of this purpose (an invitation: still
    invited; a reset: still active)."""
    return user.invitation_pending if link.purpose == "invite" else user.active


async def find_link(session: AsyncSession, token: str) -> FoundLink | None:
    """The link behind `token` and its state now, or None for a token that was never
    issued. A link whose user can no longer use it (an invitation accepted, a user
    deactivated) reads as revoked."""
    link = await session.scalar(select(PasswordLink).where(
        PasswordLink.token_hash == hash_token(token)))
    if link is None:
        return None
    user = await session.get(User, link.user_id)
    if user is None:
        return None
    state = link_state(used_at=link.used_at, revoked_at=link.revoked_at,
                       expires_at=link.expires_at, now=clock.now())
    if state == "live" and not _eligible(link, user):
        state = "revoked"
    return FoundLink(link, user, state)


async def live_link(session: AsyncSession, user_id: int, purpose: Purpose
                    ) -> PasswordLink | None:
    """The user's newest live link of `purpose`, or None."""
    link = await session.scalar(
        select(PasswordLink).where(PasswordLink.user_id == user_id,
                                   PasswordLink.purpose == purpose)
        .order_by(PasswordLink.id.desc()).limit(1))
    if link is None or link_state(used_at=link.used_at, revoked_at=link.revoked_at,
                                  expires_at=link.expires_at, now=clock.now()) != "live":
        return None
    return link


async def pending_invitations(session: AsyncSession) -> list[tuple[User, PasswordLink | None]]:
    """Everyone invited who has not joined, by name, with their newest invitation link
    (None when it was revoked; it may have expired)."""
    users = (await session.scalars(select(User).where(User.invitation_pending.is_(True))
                                   .order_by(User.name, User.id))).all()
    result: list[tuple[User, PasswordLink | None]] = []
    for user in users:
        link = await session.scalar(
            select(PasswordLink).where(PasswordLink.user_id == user.id,
                                       PasswordLink.purpose == "invite",
                                       PasswordLink.revoked_at.is_(None))
            .order_by(PasswordLink.id.desc()).limit(1))
        result.append((user, link))
    return result


# ----------------------------------------------------------------------------- using


class LinkDead(Conflict):
    """The link was used, expired or was revoked (`state` says which)."""

    def __init__(self, state: LinkState):
        super().__init__(_DEAD_MESSAGES[state], code=f"link_{state}")
        self.state = state


_DEAD_MESSAGES: dict[LinkState, str] = {
    "used": "this link was used already",
    "expired": "this link has expired",
    "revoked": "this link no longer works: a newer one was sent, or it was withdrawn",
    "live": "this link works",
}


async def use_link(session: AsyncSession, token: str, password_hash: str) -> FoundLink:
    """Set the password through the link behind `token`, once: the link is marked used in
    the same statement that checks it is live, so two submissions cannot both succeed.
    An invitation makes the person an active user; a reset ends their login sessions.
    Every other live link of the user stops working. NotFound for an unknown token,
    LinkDead for one that no longer works."""
    found = await find_link(session, token)
    if found is None:
        raise NotFound("no such link")
    if found.state != "live":
        raise LinkDead(found.state)
    now = clock.now()
    claimed = cast(CursorResult[Any], await session.execute(
        update(PasswordLink)
        .where(PasswordLink.id == found.link.id, PasswordLink.used_at.is_(None),
               PasswordLink.revoked_at.is_(None), PasswordLink.expires_at > now)
        .values(used_at=now)))
    if claimed.rowcount != 1:
        raise LinkDead("used")
    await _revoke_live(session, found.user.id, None)
    user = found.user
    user.password_hash = password_hash
    if found.link.purpose == "invite":
        user.active, user.invitation_pending = True, False
    else:
        await session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    await session.flush()
    await session.refresh(found.link)
    return FoundLink(found.link, user, "used")
