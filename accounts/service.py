"""The write path for agents, teams, tokens and login sessions.

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import ROLES, ApiToken, LoginSession, Team, TeamMember, User
from accounts.security import hash_token, new_token
from core import clock
from core.errors import Conflict, InvalidInput

TOKEN_TOUCH_EVERY = timedelta(minutes=5)
"""A token's last use is recorded at most this often (a write per request would not scale)."""


def normalize_email(email: str, *, field: str = "email") -> str:
    """Validate an address's syntax and return it lower-cased; InvalidInput otherwise."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"not a valid email address: {exc}", field=field) from None
    return result.normalized.lower()


async def create_user(
    session: AsyncSession, *, email: str, name: str, role: str, password_hash: str
) -> User:
    """Add an active user; Conflict when the email is taken. The password comes hashed
    (`accounts.passwords.hash_new_password`, before the transaction)."""
    email = normalize_email(email)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name.strip():
        raise InvalidInput("name is required", field="name")
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with email {email} exists", field="email")
    user = User(email=email, name=name.strip(), role=role, password_hash=password_hash,
                active=True, created_at=clock.now())
    session.add(user)
    await session.flush()
    return user


async def login_candidate(session: AsyncSession, email: str) -> User | None:
    """The active user who logs in with `email`, or None (the password is checked by
    `accounts.passwords.authenticate`, outside any transaction)."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    return user if user is not None and user.active else None


async def replace_password_hash(session: AsyncSession, user_id: int, old_hash: str,
                                new_hash: str) -> None:
    """Store `new_hash` for the user, unless the password changed meanwhile (the stored
    hash is no longer `old_hash`)."""
    await session.execute(update(User).where(User.id == user_id, User.password_hash == old_hash)
                          .values(password_hash=new_hash))


async def get_active_user(session: AsyncSession, user_id: int, *, field: str = "owner_id") -> User:
    """The active user `user_id`; InvalidInput naming `field` when there is none."""
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"no active user with id {user_id}", field=field)
    return user


async def create_api_token(session: AsyncSession, user: User, name: str = "api") -> str:
    """Create a bearer token for `user`; returns the token (the only time it is seen)."""
    token = new_token("fdt")
    session.add(ApiToken(user_id=user.id, name=name, token_hash=hash_token(token),
                         created_at=clock.now()))
    await session.flush()
    return token


async def user_for_api_token(session: AsyncSession, token: str) -> User | None:
    """The active user a bearer token belongs to, or None."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = clock.now()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY:
        row.last_used_at = now
    return user


async def start_login_session(session: AsyncSession, user: User, days: int) -> tuple[str, str]:
    """Open a browser session; returns (cookie token, CSRF token)."""
    token, csrf = new_token("fds"), new_token("csrf")
    now = clock.now()
    session.add(LoginSession(user_id=user.id, token_hash=hash_token(token), csrf_token=csrf,
                             created_at=now, expires_at=now + timedelta(days=days)))
    await session.flush()
    return token, csrf


async def resolve_login_session(
    session: AsyncSession, token: str
) -> tuple[User, LoginSession] | None:
    """The user and login session behind a cookie token, if it is live."""
    row = await session.scalar(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    )
    if row is None or row.expires_at <= clock.now():
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


async def end_login_session(session: AsyncSession, token: str) -> None:
    """Log out: forget the session behind `token`."""
    await session.execute(delete(LoginSession).where(LoginSession.token_hash == hash_token(token)))


async def create_team(session: AsyncSession, name: str, member_ids: Sequence[int]) -> Team:
    """Add a team with members; Conflict on a taken name, InvalidInput on unknown users."""
    name = name.strip()
    if not name:
        raise InvalidInput("name is required", field="name")
    if await session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower())):
        raise Conflict(f"a team named {name!r} exists", field="name")
    for user_id in set(member_ids):
        await get_active_user(session, user_id, field="member_ids")
    team = Team(name=name, created_at=clock.now())
    session.add(team)
    await session.flush()
    session.add_all(TeamMember(team_id=team.id, user_id=uid) for uid in sorted(set(member_ids)))
    await session.flush()
    return team


async def team_members(session: AsyncSession, team_ids: Sequence[int]) -> dict[int, list[int]]:
    """Member user ids per team id."""
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id).where(TeamMember.team_id.in_(team_ids))
    )
    members: dict[int, list[int]] = {tid: [] for tid in team_ids}
    for team_id, user_id in rows:
        members[team_id].append(user_id)
    return members


async def require_team(session: AsyncSession, team_id: int, *, field: str = "team_id") -> Team:
    """The team `team_id`; InvalidInput naming `field` when there is none."""
    team = await session.get(Team, team_id)
    if team is None:
        raise InvalidInput(f"no team with id {team_id}", field=field)
    return team
