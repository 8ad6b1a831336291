"""What admins change about people and teams, each change written to the audit log.

The admin pages and the JSON API both call these: a change and its audit entry are made in
the caller's transaction, the same way from either face. Secrets never reach the log: a
password link is recorded as sent, never its token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import invites, service
from accounts.models import Team, User
from audit.service import record_change


def _user_facts(user: User) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role, "active": user.active,
            "can_share_views": user.can_share_views}


async def invite(session: AsyncSession, *, actor: User, email: str, name: str, role: str,
                 team_ids: Sequence[int], secret_key: str) -> invites.Issued:
    """`accounts.invites.invite`, audited as `user.invited`."""
    issued = await invites.invite(session, email=email, name=name, role=role,
                                  team_ids=team_ids, actor=actor, secret_key=secret_key)
    user = issued.user
    await record_change(session, actor=actor, action="user.invited", subject_type="user",
                        subject_id=user.id, summary=f"Invited {user.email} as {user.role}",
                        after={"email": user.email, "name": user.name, "role": user.role,
                               "team_ids": sorted(set(team_ids))})
    return issued


async def resend_invitation(session: AsyncSession, user_id: int, *, actor: User,
                            secret_key: str) -> invites.Issued:
    """`accounts.invites.resend_invitation`, audited as `user.invitation_resent`."""
    issued = await invites.resend_invitation(session, user_id, actor=actor,
                                             secret_key=secret_key)
    await record_change(session, actor=actor, action="user.invitation_resent",
                        subject_type="user", subject_id=user_id,
                        summary=f"Sent {issued.user.email} a new invitation link")
    return issued


async def revoke_invitation(session: AsyncSession, user_id: int, *, actor: User) -> User:
    """`accounts.invites.revoke_invitation`, audited as `user.invitation_revoked`."""
    removed = await invites.revoke_invitation(session, user_id)
    await record_change(session, actor=actor, action="user.invitation_revoked",
                        subject_type="user", subject_id=user_id,
                        summary=f"Withdrew the invitation of {removed.email}",
                        before={"email": removed.email, "name": removed.name,
                                "role": removed.role})
    return removed


async def send_password_reset(session: AsyncSession, user_id: int, *, actor: User,
                              secret_key: str) -> invites.Issued:
    """`accounts.invites.send_password_reset`, audited as `user.password_reset_sent`."""
    issued = await invites.send_password_reset(session, user_id, actor=actor,
                                               secret_key=secret_key)
    await record_change(session, actor=actor, action="user.password_reset_sent",
                        subject_type="user", subject_id=user_id,
                        summary=f"Sent {issued.user.email} a link to reset their password",
                        after={"password": "(reset link sent)"})
    return issued


async def request_password_reset(session: AsyncSession, email: str, *,
                                 secret_key: str) -> bool:
    """Someone asked for a reset link for `email` (the login page's "Forgot password?"):
    mail one when it is an active user's, audited as `user.password_reset_requested` with
    no actor. Returns whether one was sent; the caller must not tell the asker."""
    user = await service.login_candidate(session, email)
    if user is None or user.invitation_pending:
        return False
    await invites.send_password_reset(session, user.id, actor=None, secret_key=secret_key)
    await record_change(session, actor=None, action="user.password_reset_requested",
                        subject_type="user", subject_id=user.id,
                        summary=f"A password reset link was requested for {user.email}",
                        after={"password": "(reset link sent)"})
    return True


async def update_user(session: AsyncSession, user_id: int, changes: dict[str, Any], *,
                      actor: User) -> User:
    """`accounts.service.update_user`, audited as `user.updated` with the fields that
    changed (nothing is logged when nothing did)."""
    before = _user_facts(await service.get_user(session, user_id))
    user = await service.update_user(session, user_id, changes, actor=actor)
    after = _user_facts(user)
    changed = sorted(key for key in after if after[key] != before[key])
    if changed:
        await record_change(
            session, actor=actor, action="user.updated", subject_type="user",
            subject_id=user.id, summary=f"Changed {', '.join(changed)} of {user.email}",
            before={key: before[key] for key in changed},
            after={key: after[key] for key in changed})
    return user


async def create_user(session: AsyncSession, *, actor: User, email: str, name: str,
                      role: str, password_hash: str) -> User:
    """`accounts.service.create_user`, audited as `user.created` (the password as
    "(set)")."""
    user = await service.create_user(session, email=email, name=name, role=role,
                                     password_hash=password_hash)
    await record_change(session, actor=actor, action="user.created", subject_type="user",
                        subject_id=user.id, summary=f"Added {user.email} as {user.role}",
                        after=_user_facts(user) | {"password": "(set)"})
    return user


async def _team_facts(session: AsyncSession, team: Team) -> dict[str, Any]:
    members = (await service.team_members(session, [team.id]))[team.id]
    return {"name": team.name, "active": team.active, "member_ids": sorted(members)}


async def create_team(session: AsyncSession, name: str, member_ids: Sequence[int], *,
                      actor: User) -> Team:
    """`accounts.service.create_team`, audited as `team.created`."""
    team = await service.create_team(session, name, member_ids)
    await record_change(session, actor=actor, action="team.created", subject_type="team",
                        subject_id=team.id, summary=f"Added the team {team.name}",
                        after=await _team_facts(session, team))
    return team


async def update_team(session: AsyncSession, team_id: int, changes: dict[str, Any], *,
                      actor: User) -> Team:
    """`accounts.service.update_team`, audited as `team.updated` with what changed."""
    before = await _team_facts(session, await service.get_team(session, team_id))
    team = await service.update_team(session, team_id, changes)
    after = await _team_facts(session, team)
    changed = sorted(key for key in after if after[key] != before[key])
    if changed:
        await record_change(
            session, actor=actor, action="team.updated", subject_type="team",
            subject_id=team.id, summary=f"Changed {', '.join(changed)} of the team {team.name}",
            before={key: before[key] for key in changed},
            after={key: after[key] for key in changed})
    return team
