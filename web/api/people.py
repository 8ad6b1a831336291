"""Users and teams: anyone signed in may list them; only admins may add them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from accounts import passwords
from accounts import service as accounts
from accounts.models import Team, User
from core.db import transaction
from web.api.common import (
    DEFAULT_PAGE,
    CurrentAdmin,
    CurrentUser,
    IdQuery,
    IdValue,
    Limit,
    RuntimeDep,
    Text,
    id_page,
    page,
)

router = APIRouter(tags=["people"])


def user_json(user: User) -> dict:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "active": user.active}


def team_json(team: Team, member_ids: list[int]) -> dict:
    return {"id": team.id, "name": team.name, "member_ids": member_ids}


class NewUser(BaseModel):
    email: Annotated[Text, Field(min_length=3, max_length=254)]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    role: Literal["admin", "agent"] = "agent"
    password: Annotated[str, Field(min_length=8, max_length=1024)]


class NewTeam(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    member_ids: Annotated[list[IdValue], Field(max_length=1000)] = []


@router.get("/api/me")
async def me(user: CurrentUser) -> dict:
    """The signed-in agent."""
    return user_json(user)


@router.get("/api/users")
async def list_users(user: CurrentUser, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                     cursor: IdQuery = None) -> dict:
    """Users by id; `cursor` is the last id of the previous page."""
    async with transaction(runtime.sessions) as session:
        items, next_cursor = await id_page(session, select(User), User.id, limit, cursor)
    return page([user_json(u) for u in items], next_cursor)


@router.post("/api/users", status_code=201)
async def add_user(body: NewUser, admin: CurrentAdmin, runtime: RuntimeDep) -> dict:
    """Add an agent or admin (admins only)."""
    password_hash = await passwords.hash_new_password(body.password)
    async with transaction(runtime.sessions) as session:
        user = await accounts.create_user(session, email=body.email, name=body.name,
                                          role=body.role, password_hash=password_hash)
    return user_json(user)


@router.get("/api/teams")
async def list_teams(user: CurrentUser, runtime: RuntimeDep, limit: Limit = DEFAULT_PAGE,
                     cursor: IdQuery = None) -> dict:
    """Teams by id with their member ids."""
    async with transaction(runtime.sessions) as session:
        items, next_cursor = await id_page(session, select(Team), Team.id, limit, cursor)
        members = await accounts.team_members(session, [t.id for t in items])
    return page([team_json(t, members[t.id]) for t in items], next_cursor)


@router.post("/api/teams", status_code=201)
async def add_team(body: NewTeam, admin: CurrentAdmin, runtime: RuntimeDep) -> dict:
    """Add a team with members (admins only)."""
    async with transaction(runtime.sessions) as session:
        team = await accounts.create_team(session, body.name, body.member_ids)
        members = await accounts.team_members(session, [team.id])
    return team_json(team, members[team.id])
