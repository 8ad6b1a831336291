"""The write path for agents, teams, tokens and login sessions.

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.events import UserRenamed
from accounts.models import ROLES, ApiToken, LoginSession, PasswordLink, Team, TeamMember, User
from accounts.security import hash_token, new_token
from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import publish

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


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token: its row, and the token itself (shown this once only)."""

    row: ApiToken
    token: str


async def create_api_token(session: AsyncSession, user: User, name: str = "api", *,
                           expires_at: datetime | None = None) -> IssuedToken:
    """Create a bearer token for `user`, valid until `expires_at` (never when None)."""
    if expires_at is not None and expires_at <= clock.now():
        raise InvalidInput("the expiry must be in the future", field="expires_at")
    token = new_token("fdt")
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token),
                   created_at=clock.now(), expires_at=expires_at)
    session.add(row)
    await session.flush()
    return IssuedToken(row, token)


async def user_for_api_token(session: AsyncSession, token: str) -> User | None:
    """The active user a live bearer token belongs to (not revoked, not expired), or
    None."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = clock.now()
    if row is None or row.revoked_at is not None or (
            row.expires_at is not None and row.expires_at <= now):
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY:
        row.last_used_at = now
    return user


async def list_api_tokens(session: AsyncSession, *, user_id: int | None) -> list[ApiToken]:
    """The tokens of `user_id` (every user's when None), newest first, revoked ones too."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list((await session.scalars(query)).all())


async def revoke_api_token(session: AsyncSession, token_id: int, *, actor: User) -> ApiToken:
    """Revoke a token of the actor's own (or anyone's, for an admin), at once; NotFound
    for a token the actor may not see. Revoking twice keeps the first time."""
    row = await session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and not actor.is_admin):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        await session.flush()
    return row


async def _end_access(session: AsyncSession, user_id: int) -> None:
    """End every login session of a user and revoke every token and password link, at
    once."""
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
    await session.execute(update(ApiToken).where(ApiToken.user_id == user_id,
                                                 ApiToken.revoked_at.is_(None))
                          .values(revoked_at=clock.now()))
    await session.execute(update(PasswordLink).where(PasswordLink.user_id == user_id,
                                                     PasswordLink.used_at.is_(None),
                                                     PasswordLink.revoked_at.is_(None))
                          .values(revoked_at=clock.now()))


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user `user_id`, active or not; NotFound when there is none."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def _keeps_an_admin(session: AsyncSession, user: User, changes: dict[str, Any]) -> None:
    stays_admin = changes.get("role", user.role) == "admin" and changes.get("active", user.active)
    if not user.is_admin or not user.active or stays_admin:
        return
    others = await session.scalar(select(func.count(User.id)).where(
        User.role == "admin", User.active.is_(True), User.id != user.id))
    if not others:
        raise Conflict("this is the last active admin; make another admin first",
                       field="role" if "role" in changes else "active")


def _known_and_set(changes: dict[str, Any], allowed: Sequence[str]) -> None:
    """Refuse (InvalidInput naming the field) a change of a field not in `allowed`, or
    one to null."""
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise InvalidInput(f"cannot change {unknown[0]}", field=unknown[0])
    for key in allowed:
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", field=key)


USER_FIELDS = ("name", "email", "role", "active", "can_share_views")


async def _user_changes(session: AsyncSession, user: User, changes: dict[str, Any]
                        ) -> dict[str, Any]:
    """`changes` to `user` checked and normalized (name stripped, email normalized)."""
    changes = dict(changes)
    _known_and_set(changes, USER_FIELDS)
    if "role" in changes and changes["role"] not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise InvalidInput("name is required", field="name")
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        if await session.scalar(select(User.id).where(User.email == changes["email"],
                                                      User.id != user.id)):
            raise Conflict(f"a user with email {changes['email']} exists", field="email")
    return changes


async def update_user(session: AsyncSession, user_id: int, changes: dict[str, Any], *,
                      actor: User) -> User:
    """Change a user's name, email, role or active flag (`changes`); a new name is
    announced (UserRenamed). Deactivating ends the user's login sessions and revokes their
    tokens at once; nobody deactivates themselves, and the last active admin stays one
    (Conflict)."""
    user = await get_user(session, user_id)
    changes = await _user_changes(session, user, changes)
    if changes.get("active") is False and user.id == actor.id:
        raise Conflict("you cannot deactivate yourself", field="active")
    if "active" in changes and user.invitation_pending:
        raise Conflict(f"{user.email} has not joined yet: resend or withdraw the invitation",
                       field="active")
    await _keeps_an_admin(session, user, changes)
    if changes.get("active") is False and user.active:
        await _end_access(session, user.id)
    renamed = "name" in changes and changes["name"] != user.name
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()
    if renamed:
        await publish(session, UserRenamed(user.id, user.name))
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


async def _team_name(session: AsyncSession, name: str, *, other_than: int | None = None) -> str:
    """`name` stripped, when no other team has it (case-insensitive)."""
    name = name.strip()
    if not name:
        raise InvalidInput("name is required", field="name")
    # The database folds both sides: SQLite's lower() leaves non-ASCII letters alone, so a
    # name folded in Python would miss its exact twin and hit the unique index instead.
    taken = select(Team.id).where(func.lower(Team.name) == func.lower(name))
    if other_than is not None:
        taken = taken.where(Team.id != other_than)
    if await session.scalar(taken):
        raise Conflict(f"a team named {name!r} exists", field="name")
    return name


async def _set_team_members(session: AsyncSession, team_id: int,
                            member_ids: Sequence[int]) -> None:
    """Make `member_ids` the team's members: active users, people invited who have not
    joined yet, or members already (deactivated since); InvalidInput naming `member_ids`
    for anyone else."""
    current = set((await team_members(session, [team_id]))[team_id])
    for user_id in set(member_ids) - current:
        user = await session.get(User, user_id)
        if user is None or not (user.active or user.invitation_pending):
            raise InvalidInput(f"no active user with id {user_id}", field="member_ids")
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    session.add_all(TeamMember(team_id=team_id, user_id=uid) for uid in sorted(set(member_ids)))
    await session.flush()


async def create_team(session: AsyncSession, name: str, member_ids: Sequence[int]) -> Team:
    """Add a team with members; Conflict on a taken name, InvalidInput on unknown users."""
    team = Team(name=await _team_name(session, name), active=True, created_at=clock.now())
    session.add(team)
    await session.flush()
    await _set_team_members(session, team.id, member_ids)
    return team


async def get_team(session: AsyncSession, team_id: int) -> Team:
    """The team `team_id`, active or not; NotFound when there is none."""
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team


async def update_team(session: AsyncSession, team_id: int, changes: dict[str, Any]) -> Team:
    """Change a team's name, members (`member_ids`, all of them) or active flag. A team
    that is not active gives its members no access to its inboxes and takes no tickets."""
    team = await get_team(session, team_id)
    _known_and_set(changes, ("name", "member_ids", "active"))
    if "name" in changes:
        team.name = await _team_name(session, changes["name"], other_than=team.id)
    if "member_ids" in changes:
        await _set_team_members(session, team.id, changes["member_ids"])
    if "active" in changes:
        team.active = changes["active"]
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
    """The active team `team_id`; InvalidInput naming `field` when there is none."""
    team = await session.get(Team, team_id)
    if team is None or not team.active:
        raise InvalidInput(f"no active team with id {team_id}", field=field)
    return team


async def user_names(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    """user id -> name, for those of `user_ids` that exist."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


async def team_ids_of(session: AsyncSession, user_id: int) -> list[int]:
    """The active teams `user_id` is a member of."""
    return list((await session.scalars(
        select(TeamMember.team_id).join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.user_id == user_id, Team.active.is_(True))
        .order_by(TeamMember.team_id))).all())


async def active_users(session: AsyncSession) -> list[User]:
    """Every active user, by name."""
    return list((await session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.id))).all())


async def active_teams(session: AsyncSession) -> list[Team]:
    """Every active team, by name."""
    return list((await session.scalars(
        select(Team).where(Team.active.is_(True)).order_by(Team.name, Team.id))).all())


async def set_notify_by_email(session: AsyncSession, user_id: int, on: bool) -> User:
    """Whether the user's notifications are also mailed to them (their own choice)."""
    user = await get_user(session, user_id)
    user.notify_by_email = on
    await session.flush()
    return user


async def everyone(session: AsyncSession) -> list[User]:
    """Every user, active, invited or deactivated, by name."""
    return list((await session.scalars(select(User).order_by(User.name, User.id))).all())


async def every_team(session: AsyncSession) -> list[Team]:
    """Every team, active or not, by name."""
    return list((await session.scalars(select(Team).order_by(Team.name, Team.id))).all())


async def teams_by_user(session: AsyncSession) -> dict[int, list[Team]]:
    """user id -> the teams (active or not) they are a member of, by name."""
    rows = await session.execute(
        select(TeamMember.user_id, Team).join(Team, Team.id == TeamMember.team_id)
        .order_by(Team.name, Team.id))
    found: dict[int, list[Team]] = {}
    for user_id, team in rows:
        found.setdefault(user_id, []).append(team)
    return found
