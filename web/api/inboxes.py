"""Inboxes and who may see them: everyone lists the inboxes they see; admins set members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from core.db import transaction
from inbox import access
from inbox.channels import set_inbox_members
from inbox.models import Inbox
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdValue,
    RequestModel,
    RuntimeDep,
    page,
)

router = APIRouter(tags=["inboxes"])

Slug = Annotated[str, Path(min_length=1, max_length=64)]


def inbox_json(inbox: Inbox, members: access.Members | None) -> JSON:
    """An inbox; its members only for admins (`members` None otherwise)."""
    body: JSON = {"id": inbox.id, "slug": inbox.slug, "name": inbox.name,
                  "addresses": list(inbox.addresses)}
    if members is not None:
        body["members"] = {"team_ids": list(members.team_ids),
                           "user_ids": list(members.user_ids)}
    return body


class MembersBody(RequestModel):
    team_ids: Annotated[list[IdValue], Field(max_length=1000)] = []
    user_ids: Annotated[list[IdValue], Field(max_length=1000)] = []


@router.get("/api/inboxes")
async def list_inboxes(caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The inboxes the caller sees, by name (with their members, for admins)."""
    async with transaction(runtime.sessions) as session:
        inboxes = await access.list_inboxes(session, caller.scope)
        members = (await access.members_of(session, [i.id for i in inboxes])
                   if caller.user.is_admin else {})
    return page([inbox_json(i, members.get(i.id)) for i in inboxes], None)


@router.get("/api/inboxes/{slug}")
async def get_inbox(slug: Slug, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """One inbox the caller sees (with its members, for admins)."""
    async with transaction(runtime.sessions) as session:
        inbox = await access.require_inbox(session, caller.scope, slug)
        members = (await access.members_of(session, [inbox.id]))[inbox.id] if (
            caller.user.is_admin) else None
    return inbox_json(inbox, members)


@router.put("/api/inboxes/{slug}/members")
async def put_members(slug: Slug, body: MembersBody, admin: CurrentAdmin,
                      runtime: RuntimeDep) -> JSON:
    """Make these teams and users the inbox's members, replacing the ones it had (admins
    only). Members see the inbox's conversations, tickets and attachments; nobody else
    but admins does."""
    async with transaction(runtime.sessions) as session:
        inbox = await access.require_inbox(session, access.EVERY_INBOX, slug)
        members = await set_inbox_members(session, admin, slug, team_ids=body.team_ids,
                                          user_ids=body.user_ids)
    return inbox_json(inbox, members)
