"""API tokens: everyone lists, creates and revokes their own; admins anyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from accounts import service as accounts
from accounts.models import ApiToken
from core.db import transaction
from core.errors import Forbidden
from web.api.common import (
    JSON,
    CurrentUser,
    IdPath,
    IdQuery,
    Moment,
    RequestModel,
    RuntimeDep,
    Text,
    page,
)

router = APIRouter(tags=["tokens"])


def token_json(row: ApiToken) -> JSON:
    return {"id": row.id, "user_id": row.user_id, "name": row.name,
            "created_at": row.created_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


class NewToken(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    expires_at: Moment | None = None
    """When the token stops working (with a time zone); never when left out."""


@router.get("/api/tokens")
async def list_tokens(user: CurrentUser, runtime: RuntimeDep, user_id: IdQuery = None) -> JSON:
    """The caller's tokens, newest first (never the tokens themselves); an admin may ask
    for another user's with `user_id`."""
    if user_id is not None and user_id != user.id and not user.is_admin:
        raise Forbidden("only admins may list other users' tokens")
    async with transaction(runtime.sessions) as session:
        rows = await accounts.list_api_tokens(session, user_id=user_id or user.id)
    return page([token_json(row) for row in rows], None)


@router.post("/api/tokens", status_code=201)
async def create_token(body: NewToken, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """A new bearer token of the caller's; the answer carries `token`, shown this once."""
    async with transaction(runtime.sessions) as session:
        issued = await accounts.create_api_token(session, user, body.name,
                                                 expires_at=body.expires_at)
    return token_json(issued.row) | {"token": issued.token}


@router.delete("/api/tokens/{token_id}")
async def revoke_token(token_id: IdPath, user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Revoke one of the caller's tokens (an admin: anyone's); it stops working at once."""
    async with transaction(runtime.sessions) as session:
        row = await accounts.revoke_api_token(session, token_id, actor=user)
    return token_json(row)
