"""Canned replies: every agent lists them; admins create, edit and delete them. Their
placeholders are listed in `inbox.placeholders`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from inbox import snippets
from inbox.models import Snippet
from inbox.placeholders import PLACEHOLDERS
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentUser,
    IdPath,
    RequestModel,
    RuntimeDep,
    Text,
    page,
)

router = APIRouter(tags=["snippets"])

Name = Annotated[Text, Field(min_length=1, max_length=snippets.MAX_NAME)]
Body = Annotated[Text, Field(min_length=1, max_length=snippets.MAX_BODY)]


def snippet_json(row: Snippet) -> JSON:
    return {"id": row.id, "name": row.name, "body": row.body,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}


class NewSnippet(RequestModel):
    name: Name
    body: Body


class SnippetPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Name | None = None
    body: Body | None = None


@router.get("/api/snippets")
async def list_snippets(user: CurrentUser, runtime: RuntimeDep) -> JSON:
    """Every canned reply, by name, and the placeholders their bodies may hold
    (`{{contact.first_name}}`...), each filled in when an agent inserts one."""
    async with transaction(runtime.sessions) as session:
        rows = await snippets.list_snippets(session)
    return page([snippet_json(row) for row in rows], None) | {
        "placeholders": [f"{{{{{name}}}}}" for name in PLACEHOLDERS]}


@router.post("/api/snippets", status_code=201)
async def create_snippet(body: NewSnippet, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """A new canned reply (admins); 409 naming `name` when the name is taken."""
    async with transaction(runtime.sessions) as session:
        row = await snippets.create_snippet(session, name=body.name, body=body.body,
                                           actor=admin)
    return snippet_json(row)


@router.patch("/api/snippets/{snippet_id}")
async def update_snippet(snippet_id: IdPath, body: SnippetPatch, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> JSON:
    """Rename a canned reply and/or change its body (admins)."""
    async with transaction(runtime.sessions) as session:
        row = await snippets.update_snippet(session, snippet_id,
                                            body.model_dump(exclude_none=True), actor=admin)
    return snippet_json(row)


@router.delete("/api/snippets/{snippet_id}", status_code=204)
async def delete_snippet(snippet_id: IdPath, admin: CurrentAdmin,
                         runtime: RuntimeDep) -> Response:
    """Delete a canned reply (admins)."""
    async with transaction(runtime.sessions) as session:
        await snippets.delete_snippet(session, snippet_id, actor=admin)
    return Response(status_code=204)
