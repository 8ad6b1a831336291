"""Invitations and password resets (admins only): mail someone a one-time link to set a
password. The link itself is never returned: it goes out by mail only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from accounts import console, invites
from accounts.models import PasswordLink, User
from core.db import transaction
from web.api.common import JSON, CurrentAdmin, IdPath, IdValue, RequestModel, RuntimeDep, Text
from web.api.people import user_json

router = APIRouter(tags=["people"])


class NewInvite(RequestModel):
    email: Annotated[Text, Field(min_length=3, max_length=254,
                                 json_schema_extra={"format": "email"})]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    role: Literal["admin", "agent"] = "agent"
    team_ids: Annotated[list[IdValue], Field(max_length=1000)] = []
    """Teams the person joins (active ones)."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def invite_json(user: User, link: PasswordLink | None) -> JSON:
    """An open invitation: who, and until when its newest link works (`expires_at`; null
    when it was withdrawn)."""
    return {"user": user_json(user),
            "sent_at": _iso(link.created_at if link else None),
            "expires_at": _iso(link.expires_at if link else None)}


def reset_json(link: PasswordLink) -> JSON:
    return {"user_id": link.user_id, "sent_at": _iso(link.created_at),
            "expires_at": _iso(link.expires_at)}


@router.get("/api/invites")
async def list_invites(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Everyone invited who has not joined yet, by name."""
    async with transaction(runtime.sessions) as session:
        pending = await invites.pending_invitations(session)
    return {"items": [invite_json(user, link) for user, link in pending]}


@router.post("/api/invites", status_code=201)
async def add_invite(body: NewInvite, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Invite someone: they are added as a user who has not joined yet (status
    `invited`), and mailed a link to set their password that works once, for 72 hours.
    409 when the email is taken (or invited already: resend that invitation instead)."""
    async with transaction(runtime.sessions) as session:
        issued = await console.invite(
            session, actor=admin, email=body.email, name=body.name, role=body.role,
            team_ids=body.team_ids, secret_key=runtime.settings.secret_key)
    return invite_json(issued.user, issued.link)


@router.post("/api/invites/{user_id}/resend")
async def resend_invite(user_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Mail the invited person a new link; the one sent before stops working. 409 when
    they joined already."""
    async with transaction(runtime.sessions) as session:
        issued = await console.resend_invitation(session, user_id, actor=admin,
                                                 secret_key=runtime.settings.secret_key)
    return invite_json(issued.user, issued.link)


@router.delete("/api/invites/{user_id}", status_code=204)
async def revoke_invite(user_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Withdraw an invitation: its link stops working and the person, who never joined,
    is removed. 409 when they joined already."""
    async with transaction(runtime.sessions) as session:
        await console.revoke_invitation(session, user_id, actor=admin)
    return Response(status_code=204)


@router.post("/api/users/{user_id}/password-reset", status_code=202)
async def reset_password(user_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Mail an active user a link to choose a new password, working once for 2 hours; an
    earlier reset link stops working. Using it ends the user's login sessions. Their
    password works until then. 409 for a user who is not active."""
    async with transaction(runtime.sessions) as session:
        issued = await console.send_password_reset(session, user_id, actor=admin,
                                                   secret_key=runtime.settings.secret_key)
    return reset_json(issued.link)
