"""Who may see what: access per inbox.

An admin sees every inbox. Anyone else sees the inboxes they are a member of: directly, or
through a team that is active. What a person sees of conversations, messages, attachments,
contacts and tickets follows from the inboxes they see: every query that lists, counts,
searches or fetches them takes a `Scope`, and an object out of scope is answered exactly
like one that does not exist (NotFound, a 404), so ids cannot be probed.

`visible_inboxes(session, user)` is the one function that says which inboxes a user sees;
`set_members` is the one writer of who belongs to an inbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, delete, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Team, TeamMember, User
from core.errors import InvalidInput, NotFound
from inbox.models import Conversation, Inbox, InboxMember


@dataclass(frozen=True)
class Scope:
    """The inboxes someone may see: every one (`inbox_ids` is None) or those ids."""

    inbox_ids: frozenset[int] | None

    def allows(self, inbox_id: int) -> bool:
        """Whether the inbox `inbox_id` is in scope."""
        return self.inbox_ids is None or inbox_id in self.inbox_ids

    def covers(self, column: SQLColumnExpression[int]) -> ColumnElement[bool]:
        """A SQL condition: `column` (an inbox id) is in scope."""
        if self.inbox_ids is None:
            return true()
        return column.in_(sorted(self.inbox_ids))


EVERY_INBOX = Scope(None)
"""The scope of admins and of the system itself (jobs, channel connectors)."""


def _member_inbox_ids(user_id: int) -> Select[int]:
    """SELECT of the inbox ids `user_id` belongs to, directly or through an active team."""
    through_team = (select(TeamMember.team_id)
                    .join(Team, Team.id == TeamMember.team_id)
                    .where(TeamMember.user_id == user_id, Team.active.is_(True)))
    return select(InboxMember.inbox_id).where(or_(InboxMember.user_id == user_id,
                                                  InboxMember.team_id.in_(through_team)))


async def visible_inboxes(session: AsyncSession, user: User) -> Scope:
    """The inboxes `user` may see: all for an admin, else those they are a member of
    (directly or through an active team). An inactive user sees none."""
    if not user.active:
        return Scope(frozenset())
    if user.is_admin:
        return EVERY_INBOX
    return Scope(frozenset((await session.scalars(_member_inbox_ids(user.id))).all()))


async def user_sees_inbox(session: AsyncSession, user_id: int, inbox_id: int) -> bool:
    """Whether the user `user_id` (active or not) may see the inbox `inbox_id`."""
    user = await session.get(User, user_id)
    return user is not None and (await visible_inboxes(session, user)).allows(inbox_id)


async def require_assignable(session: AsyncSession, user_id: int,
                             inbox_ids: Iterable[int], *, field: str = "owner_id") -> None:
    """Refuse (InvalidInput naming `field`) to give work in the inboxes `inbox_ids` to a
    user who sees none of them: an owner must be able to open what they own."""
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"no active user with id {user_id}", field=field)
    scope = await visible_inboxes(session, user)
    if not any(scope.allows(inbox_id) for inbox_id in inbox_ids):
        raise InvalidInput(f"user {user_id} is not a member of this inbox", field=field)


async def require_conversation(session: AsyncSession, scope: Scope,
                               conversation_id: int) -> Conversation:
    """The live conversation `conversation_id` when it is in `scope`; NotFound otherwise
    (the same answer as for one that does not exist)."""
    conversation = await session.get(Conversation, conversation_id)
    if (conversation is None or conversation.deleted_at is not None
            or not scope.allows(conversation.inbox_id)):
        raise NotFound(f"no conversation {conversation_id}")
    return conversation


async def require_inbox(session: AsyncSession, scope: Scope, slug: str) -> Inbox:
    """The inbox `slug` when it is in `scope`; NotFound otherwise."""
    inbox = await session.scalar(select(Inbox).where(Inbox.slug == slug))
    if inbox is None or not scope.allows(inbox.id):
        raise NotFound(f"no inbox {slug!r}")
    return inbox


async def list_inboxes(session: AsyncSession, scope: Scope) -> list[Inbox]:
    """The inboxes in `scope`, by name."""
    return list((await session.scalars(
        select(Inbox).where(scope.covers(Inbox.id)).order_by(Inbox.name, Inbox.id))).all())


@dataclass(frozen=True)
class Members:
    """Who belongs to an inbox besides the admins."""

    team_ids: tuple[int, ...]
    user_ids: tuple[int, ...]


async def members_of(session: AsyncSession, inbox_ids: Sequence[int]) -> dict[int, Members]:
    """The members of each inbox of `inbox_ids` (teams and users, by id)."""
    rows = (await session.execute(
        select(InboxMember.inbox_id, InboxMember.team_id, InboxMember.user_id)
        .where(InboxMember.inbox_id.in_(inbox_ids)).order_by(InboxMember.id))).all()
    teams: dict[int, list[int]] = {inbox_id: [] for inbox_id in inbox_ids}
    users: dict[int, list[int]] = {inbox_id: [] for inbox_id in inbox_ids}
    for inbox_id, team_id, user_id in rows:
        if team_id is not None:
            teams[inbox_id].append(team_id)
        if user_id is not None:
            users[inbox_id].append(user_id)
    return {inbox_id: Members(tuple(teams[inbox_id]), tuple(users[inbox_id]))
            for inbox_id in inbox_ids}


async def set_members(session: AsyncSession, inbox_id: int, *, team_ids: Sequence[int],
                      user_ids: Sequence[int]) -> Members:
    """Make the inbox's members exactly these teams and users (InvalidInput naming the
    field for an unknown team or user); returns them."""
    teams, users = sorted(set(team_ids)), sorted(set(user_ids))
    known_teams = set((await session.scalars(select(Team.id).where(Team.id.in_(teams)))).all())
    known_users = set((await session.scalars(select(User.id).where(User.id.in_(users)))).all())
    for wanted, known, field, kind in ((teams, known_teams, "team_ids", "team"),
                                       (users, known_users, "user_ids", "user")):
        missing = [item for item in wanted if item not in known]
        if missing:
            raise InvalidInput(f"no {kind} with id {missing[0]}", field=field)
    await session.execute(delete(InboxMember).where(InboxMember.inbox_id == inbox_id))
    rows = ([{"inbox_id": inbox_id, "team_id": team_id, "user_id": None} for team_id in teams]
            + [{"inbox_id": inbox_id, "team_id": None, "user_id": user_id} for user_id in users])
    if rows:
        await session.execute(insert(InboxMember.__table__), rows)
    return Members(tuple(teams), tuple(users))
