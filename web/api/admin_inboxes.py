"""Inboxes and their email channel, for admins: list, create, read, change, delete.

A change takes effect at once on every server process and its SMTP receiver (the settings
version, `inbox.channels`). An address or catch-all domain belongs to one inbox: giving
one another inbox holds is a 422 naming it. An inbox that holds conversations cannot be
deleted (409): its history stays; removing its addresses stops new mail instead. Who may
see an inbox is `PUT /api/inboxes/{slug}/members`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from inbox import access, channels
from inbox.directory import DEFAULT_ACK_TEXT, DEFAULT_ACK_WINDOW_MINUTES
from inbox.models import Inbox
from web.api.common import JSON, CurrentAdmin, RequestModel, RuntimeDep, Text, page

router = APIRouter(tags=["admin"])

Slug = Annotated[str, Path(min_length=1, max_length=64, examples=["support"])]
Name = Annotated[Text, Field(min_length=1, max_length=200, examples=["Support"])]
Addresses = Annotated[list[Annotated[Text, Field(max_length=254)]],
                      Field(max_length=channels.MAX_ADDRESSES,
                            examples=[["help@example.com"]],
                            description="Exact addresses; the first is the one mail is "
                                        "sent from.")]
Domains = Annotated[list[Annotated[Text, Field(max_length=253)]],
                    Field(max_length=channels.MAX_ADDRESSES, examples=[["example.com"]],
                          description="Mail to any other address at these domains lands "
                                      "here.")]
FromName = Annotated[Text, Field(max_length=200, description="Display name on outgoing mail "
                                                            "(empty: the inbox's name).")]
Window = Annotated[int, Field(ge=1, le=channels.MAX_WINDOW_MINUTES,
                              description="At most one acknowledgment per sender in this "
                                          "many minutes.")]
AckText = Annotated[Text, Field(max_length=channels.MAX_ACK_TEXT)]


def inbox_channel_json(inbox: Inbox, members: access.Members | None = None,
                       conversations: int | None = None) -> JSON:
    """An inbox with its channel (and its members and conversation count when given)."""
    body: JSON = {"id": inbox.id, "slug": inbox.slug,
                  **asdict(channels.values_of(inbox))}
    body["addresses"] = list(body["addresses"])
    body["catch_all_domains"] = list(body["catch_all_domains"])
    if members is not None:
        body["members"] = {"team_ids": list(members.team_ids),
                           "user_ids": list(members.user_ids)}
    if conversations is not None:
        body["conversations"] = conversations
    return body


class NewInbox(RequestModel):
    slug: Annotated[Text, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$",
                                examples=["sales"])]
    name: Name
    addresses: Addresses = []
    catch_all_domains: Domains = []
    from_name: FromName = ""
    auto_ack: bool = False
    auto_ack_window_minutes: Window = DEFAULT_ACK_WINDOW_MINUTES
    auto_ack_text: AckText = DEFAULT_ACK_TEXT


class InboxPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Name | None = None
    addresses: Addresses | None = None
    catch_all_domains: Domains | None = None
    from_name: FromName | None = None
    auto_ack: bool | None = None
    auto_ack_window_minutes: Window | None = None
    auto_ack_text: AckText | None = None


async def _described(runtime: RuntimeDep, inbox: Inbox) -> JSON:
    async with transaction(runtime.sessions) as session:
        members = (await access.members_of(session, [inbox.id]))[inbox.id]
        count = await channels.conversation_count(session, inbox.id)
    return inbox_channel_json(inbox, members, count)


@router.get("/api/admin/inboxes")
async def list_inbox_channels(admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Every inbox with its channel and members, by name."""
    async with transaction(runtime.sessions) as session:
        rows = await channels.list_inbox_rows(session)
        members = await access.members_of(session, [row.id for row in rows])
    return page([inbox_channel_json(row, members[row.id]) for row in rows], None)


@router.post("/api/admin/inboxes", status_code=201)
async def create_inbox_channel(body: NewInbox, admin: CurrentAdmin,
                               runtime: RuntimeDep) -> JSON:
    """A new inbox; mail to its addresses is taken at once. 409 when the slug is taken,
    422 naming the field for a bad value or an address another inbox holds."""
    values = channels.ChannelValues(**body.model_dump(exclude={"slug"}))
    async with transaction(runtime.sessions) as session:
        inbox = await channels.create_inbox(session, admin, body.slug, values)
    return await _described(runtime, inbox)


@router.get("/api/admin/inboxes/{slug}")
async def get_inbox_channel(slug: Slug, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """One inbox with its channel, members and how many conversations it holds."""
    async with transaction(runtime.sessions) as session:
        inbox = await channels.get_inbox(session, slug)
    return await _described(runtime, inbox)


@router.patch("/api/admin/inboxes/{slug}")
async def update_inbox_channel(slug: Slug, body: InboxPatch, admin: CurrentAdmin,
                               runtime: RuntimeDep) -> JSON:
    """Change what the body names; the rest stays. `addresses` and `catch_all_domains`
    replace the lists they name (an address left out stops being taken at once)."""
    async with transaction(runtime.sessions) as session:
        inbox = await channels.get_inbox(session, slug)
        current = asdict(channels.values_of(inbox))
        wanted = channels.ChannelValues(**{**current, **body.model_dump(exclude_none=True)})
        inbox = await channels.update_inbox(session, admin, slug, wanted)
    return await _described(runtime, inbox)


@router.delete("/api/admin/inboxes/{slug}", status_code=204,
               responses={409: {"description": "The inbox holds conversations"}})
async def delete_inbox_channel(slug: Slug, admin: CurrentAdmin,
                               runtime: RuntimeDep) -> Response:
    """Delete an inbox that holds no conversation (409 otherwise)."""
    async with transaction(runtime.sessions) as session:
        await channels.delete_inbox(session, admin, slug)
    return Response(status_code=204)
