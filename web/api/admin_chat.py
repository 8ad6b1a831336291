"""The chat widget's settings per inbox (admins): `GET/PUT /api/admin/chat/{slug}`, with
the snippet a site embeds. The page `/admin/chat` uses the same service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.webchat import service
from core.db import transaction
from inbox.channels import get_inbox
from inbox.models import Inbox
from web.api.common import JSON, CurrentAdmin, RequestModel, RuntimeDep, Text
from web.api.inboxes import Slug
from web.widget.routes import embed_snippet

router = APIRouter(tags=["chat"])


class ChatBody(RequestModel):
    enabled: bool = False
    allowed_origins: Annotated[list[Annotated[Text, Field(max_length=300)]],
                               Field(max_length=service.MAX_ORIGINS)] = []
    ask_details: Literal["no", "optional", "yes"] = "optional"
    office_hours: bool = False
    transcript: bool = False
    greeting: Annotated[str, Field(max_length=service.MAX_GREETING)] = ""
    email_after_minutes: Annotated[int, Field(ge=1, le=service.MAX_EMAIL_AFTER)] = 10


def chat_json(inbox: Inbox, values: service.ChatValues, request: Request) -> JSON:
    """An inbox's chat settings as the API and the page show them; the snippet names this
    server by `[http] public_url`, else by the address the request came to."""
    public_url = request.app.state.runtime.settings.http.public_url or str(request.base_url)
    return {"inbox": inbox.slug, "name": inbox.name, **values.as_json(),
            "snippet": embed_snippet(public_url, inbox.slug)}


async def chat_of(session: AsyncSession, slug: str) -> tuple[Inbox, service.ChatValues]:
    """The inbox `slug` (NotFound when there is none) and its chat settings."""
    inbox = await get_inbox(session, slug)
    return inbox, await service.get_settings(session, inbox.id)


@router.get("/api/admin/chat/{slug}")
async def get_chat(slug: Slug, request: Request, admin: CurrentAdmin,
                   runtime: RuntimeDep) -> JSON:
    """The chat widget settings of inbox `slug` and its embed snippet (admins)."""
    async with transaction(runtime.sessions) as session:
        inbox, values = await chat_of(session, slug)
    return chat_json(inbox, values, request)


@router.put("/api/admin/chat/{slug}")
async def put_chat(slug: Slug, body: ChatBody, request: Request, admin: CurrentAdmin,
                   runtime: RuntimeDep) -> JSON:
    """Set the chat widget of inbox `slug` (admins); 422 naming the field of a bad value.
    The change is in the audit log."""
    async with transaction(runtime.sessions) as session:
        inbox = await get_inbox(session, slug)
        values = await service.save_settings(session, admin, inbox.id, inbox.slug,
                                             service.ChatValues(
                                                 enabled=body.enabled,
                                                 allowed_origins=tuple(body.allowed_origins),
                                                 ask_details=body.ask_details,
                                                 office_hours=body.office_hours,
                                                 transcript=body.transcript,
                                                 greeting=body.greeting,
                                                 email_after_minutes=body.email_after_minutes))
    return chat_json(inbox, values, request)
