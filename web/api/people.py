"""Users and teams: anyone signed in may list them; only admins add, change or
deactivate them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import ConfigDict, Field
from sqlalchemy import select

from accounts import console, passwords
from accounts import service as accounts
from accounts.invites import user_status
from accounts.models import Team, User
from core.db import transaction
from core.errors import InvalidInput
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentAdmin,
    CurrentUser,
    IdPath,
    IdQuery,
    IdValue,
    Limit,
    RequestModel,
    RuntimeDep,
    Text,
    id_page,
    page,
)

router = APIRouter(tags=["people"])


def user_json(user: User) -> JSON:
    """A user; `status` is `active`, `invited` (has not joined yet) or `deactivated`."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "active": user.active, "can_share_views": user.can_share_views,
            "status": user_status(user)}


def team_json(team: Team, member_ids: list[int]) -> JSON:
    return {"id": team.id, "name": team.name, "member_ids": member_ids, "active": team.active}


class NewUser(RequestModel):
    email: Annotated[Text, Field(min_length=3, max_length=254,
                                 json_schema_extra={"format": "email"})]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    role: Literal["admin", "agent"] = "agent"
    password: Annotated[str, Field(min_length=8, max_length=1024)]


class UserPatch(RequestModel):
    email: Annotated[Text, Field(min_length=3, max_length=254)] | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    role: Literal["admin", "agent"] | None = None
    active: bool | None = None
    can_share_views: bool | None = None


class NewTeam(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    member_ids: Annotated[list[IdValue], Field(max_length=1000)] = []


class TeamPatch(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    member_ids: Annotated[list[IdValue], Field(max_length=1000)] | None = None
    active: bool | None = None


class MePatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    notify_by_email: bool
    """Mail me my notifications too (assigned, mentioned, SLA due soon or breached)."""


@router.get("/api/me")
async def me(user: CurrentUser) -> JSON:
    """The signed-in agent, and their own settings (`notify_by_email`)."""
    return user_json(user) | {"notify_by_email": user.notify_by_email}


@router.patch("/api/me")
async def patch_me(body: MePatch, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Change the signed-in agent's own settings: `notify_by_email`."""
    async with transaction(runtime.sessions) as session:
        changed = await accounts.set_notify_by_email(session, user.id, body.notify_by_email)
    return user_json(changed) | {"notify_by_email": changed.notify_by_email}


@router.get("/api/users")
async def list_users(user: CurrentUser, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                     cursor: IdQuery = None) -> JSON:
    """Users by id; `cursor` is the last id of the previous page."""
    async with transaction(runtime.sessions) as session:
        items, next_cursor = await id_page(session, select(User), User.id, limit, cursor)
    return page([user_json(u) for u in items], next_cursor)


@router.post("/api/users", status_code=201)
async def add_user(body: NewUser, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Add an agent or admin (admins only)."""
    password_hash = await passwords.hash_new_password(body.password)
    async with transaction(runtime.sessions) as session:
        user = await console.create_user(session, actor=admin, email=body.email,
                                         name=body.name, role=body.role,
                                         password_hash=password_hash)
    return user_json(user)


@router.get("/api/users/{user_id}")
async def get_user(user_id: IdPath, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """One user, active or not."""
    async with transaction(runtime.sessions) as session:
        found = await accounts.get_user(session, user_id)
    return user_json(found)


@router.patch("/api/users/{user_id}")
async def patch_user(user_id: IdPath, body: UserPatch, admin: CurrentAdmin,
                     runtime: RuntimeDep) -> JSON:
    """Change a user's email, name, role, active flag or whether they may share custom
    views of the inbox (admins only). Deactivating ends their sessions and tokens at once;
    an admin cannot deactivate themselves, and the last active admin stays one (409)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    async with transaction(runtime.sessions) as session:
        found = await console.update_user(session, user_id, changes, actor=admin)
    return user_json(found)


@router.get("/api/teams")
async def list_teams(user: CurrentUser, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                     cursor: IdQuery = None) -> JSON:
    """Teams by id with their member ids."""
    async with transaction(runtime.sessions) as session:
        items, next_cursor = await id_page(session, select(Team), Team.id, limit, cursor)
        members = await accounts.team_members(session, [t.id for t in items])
    return page([team_json(t, members[t.id]) for t in items], next_cursor)


@router.post("/api/teams", status_code=201)
async def add_team(body: NewTeam, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Add a team with members (admins only)."""
    async with transaction(runtime.sessions) as session:
        team = await console.create_team(session, body.name, body.member_ids, actor=admin)
        members = await accounts.team_members(session, [team.id])
    return team_json(team, members[team.id])


@router.get("/api/teams/{team_id}")
async def get_team(team_id: IdPath, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """One team with its member ids, active or not."""
    async with transaction(runtime.sessions) as session:
        team = await accounts.get_team(session, team_id)
        members = await accounts.team_members(session, [team.id])
    return team_json(team, members[team.id])


@router.patch("/api/teams/{team_id}")
async def patch_team(team_id: IdPath, body: TeamPatch, admin: CurrentAdmin,
                     runtime: RuntimeDep) -> JSON:
    """Rename a team, set its members (`member_ids`: all of them) or (de)activate it
    (admins only). An inactive team gives no access to its inboxes."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    async with transaction(runtime.sessions) as session:
        team = await console.update_team(session, team_id, changes, actor=admin)
        members = await accounts.team_members(session, [team.id])
    return team_json(team, members[team.id])
