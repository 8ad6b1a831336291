"""Conversations: list, read, assign, close/reopen/spam, delete, reply and comment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypedDict

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import ConfigDict, Field

from core import clock
from core.db import transaction
from core.errors import InvalidInput
from inbox import access, queries
from inbox import service as inbox
from inbox.access import Scope
from inbox.models import Message, MessageAttachment
from tickets.queries import ticket_ids_for_conversations
from web.api.attachments import attachment_json
from web.api.common import (
    DEFAULT_PAGE,
    JSON,
    CurrentCaller,
    Cursor,
    IdPath,
    IdQuery,
    IdValue,
    Limit,
    RequestModel,
    RuntimeDep,
    SearchText,
    Text,
    page,
)
from web.api.tickets import SlaStatus
from web.listing import Listed, conversation_filter, list_page
from web.uploads import read_uploads

router = APIRouter(tags=["conversations"])


def conversation_json(row: queries.ConversationRow, tickets: dict[int, int]) -> JSON:
    """`tickets`: the ticket id of this conversation and of the one it replies to."""
    c, contact = row.conversation, row.contact
    return {
        "id": c.id, "inbox": row.inbox_slug, "channel": c.channel, "subject": c.subject,
        "status": c.status, "owner_id": c.owner_id, "ticket_id": tickets.get(c.id),
        "contact": {"id": contact.id, "name": contact.name, "email": contact.email},
        "created_at": c.created_at.isoformat(), "last_message_at": c.last_message_at.isoformat(),
        "replies_to": None if c.replies_to_id is None else {
            "conversation_id": c.replies_to_id, "ticket_id": tickets.get(c.replies_to_id)},
    }


def _replied_to(rows: list[queries.ConversationRow]) -> list[int]:
    """The ids of the conversations these reply to (`replies_to`)."""
    return [r.conversation.replies_to_id for r in rows
            if r.conversation.replies_to_id is not None]


class Author(TypedDict):
    """Who wrote a message: an agent (their user id), the contact, or the system (no id)."""

    type: Literal["agent", "contact", "system"]
    id: int | None


def _author(m: Message) -> Author:
    if m.author_id is not None:
        return {"type": "agent", "id": m.author_id}
    if m.direction == "inbound":
        return {"type": "contact", "id": m.contact_id}
    return {"type": "system", "id": None}  # sent by itself, e.g. an acknowledgment


def message_json(m: Message, attachments: Sequence[MessageAttachment] = ()) -> JSON:
    return {
        "id": m.id, "direction": m.direction, "text": m.text, "html": m.html,
        "author": _author(m),
        "created_at": m.created_at.isoformat(), "external_id": m.external_id,
        "automatic": m.automatic, "unverified_sender": m.unverified_sender,
        "quoted_text_start": m.quoted_text_start,
        "delivery_status": m.delivery_status, "delivery_error": m.delivery_error,
        "attachments": [attachment_json(a) for a in attachments],
        "truncated": m.truncated,
        "original_url": f"/api/messages/{m.id}/original"
        if m.channel == "email" and m.direction == "inbound" else None,
    }


class ConversationPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    owner_id: IdValue | None = None
    status: Literal["open", "closed", "spam"] | None = None
    inbox: Annotated[Text, Field(min_length=1, max_length=64)] | None = None


class NewMessage(RequestModel):
    kind: Literal["reply", "comment"]
    text: Annotated[Text, Field(min_length=1, max_length=100_000)]
    seen_message_id: IdValue | None = Field(
        None, description="The newest message the writer saw: a reply is refused (409 "
                          "`newer_messages`) when a newer non-comment message exists")
    send_anyway: bool = Field(False, description="Send despite newer messages")
    client_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = Field(
        None, description="The writer's key for this message: the same key again in this "
                          "conversation answers the message it made and sends nothing")


def listed_json(item: Listed) -> JSON:
    """A row of the listing: the conversation, and what the inbox list shows of it."""
    c = item.row.conversation
    tickets = {c.id: item.ticket.id} if item.ticket else {}
    if c.replies_to_id is not None and item.replies_to_ticket_id is not None:
        tickets[c.replies_to_id] = item.replies_to_ticket_id
    body = conversation_json(item.row, tickets)
    body.update({
        "owner_name": item.owner_name,
        "priority": item.ticket.priority if item.ticket else None,
        "ticket_status": item.ticket.status if item.ticket else None,
        "preview": None if item.preview is None else {
            "text": item.preview.text, "direction": item.preview.direction},
        "sla": item.sla,
    })
    if item.match_html is not None:
        body["match_html"] = item.match_html
    return body


ListSort = Literal[
    "last_message_at",
    "-last_message_at",
    "created_at",
    "-created_at",
    "subject",
    "-subject",
    "contact",
    "-contact",
    "channel",
    "-channel",
    "owner",
    "-owner",
    "sla_due_at",
    "-sla_due_at",
    "priority",
    "-priority",
]
"""What the listing sorts by (`web.listing.SORT_NAMES`; `-` first for descending)."""


@router.get("/api/conversations")
async def list_conversations(
    caller: CurrentCaller, runtime: RuntimeDep,
    status: Annotated[Literal["open", "closed", "spam", "all"] | None, Query()] = None,
    owner_id: IdQuery = None, inbox_slug: Annotated[str | None, Query(alias="inbox",
                                                                      max_length=64)] = None,
    channel: Annotated[Literal["email", "chat", "slack", "form", "api"] | None, Query()] = None,
    q: SearchText = None, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None,
    sla_status: Annotated[SlaStatus | None, Query()] = None,
    sort: Annotated[ListSort, Query()] = "-last_message_at",
) -> JSON:
    """Conversations of the inboxes the caller sees, most recent activity first; `sort`
    names a column (`-` first for descending; `sla_due_at`: soonest SLA deadline of their
    ticket, `priority`: their ticket's). `sla_status` keeps those whose ticket has a clock
    in that status. `q` searches the full text of messages, subjects and contacts (every
    word must be found; the last one as a prefix) and ticket numbers (`#1234`); each
    conversation found by its messages carries `match_html`, a fragment of the newest
    matching message with the words in `<mark>`. Each row also carries what the inbox list
    shows: owner name, ticket priority and status, the newest message's start, SLA clocks."""
    now = clock.now()
    f = conversation_filter(status=status, owner_id=owner_id, inbox=inbox_slug,
                            channel=channel, q=q, sla_status=sla_status, sort=sort, now=now)
    async with transaction(runtime.sessions) as session:
        listed = await list_page(session, f, scope=caller.scope, limit=limit, cursor=cursor,
                                 now=now)
    return page([listed_json(item) for item in listed.items], listed.next_cursor)


async def _detail(runtime: RuntimeDep, conversation_id: int, scope: Scope) -> JSON:
    async with transaction(runtime.sessions) as session:
        row = await queries.conversation_row(session, conversation_id, scope=scope)
        messages = await queries.messages_of(session, conversation_id)
        files = await queries.attachments_of(session, [m.id for m in messages])
        tickets = await ticket_ids_for_conversations(session, [conversation_id])
        tickets |= await ticket_ids_for_conversations(session, _replied_to([row]))
    body = conversation_json(row, tickets)
    body["messages"] = [message_json(m, files.get(m.id, [])) for m in messages]
    return body


@router.get("/api/conversations/{conversation_id}")
async def get_conversation(conversation_id: IdPath, caller: CurrentCaller,
                           runtime: RuntimeDep) -> JSON:
    """One conversation with its messages and its ticket id."""
    return await _detail(runtime, conversation_id, caller.scope)


@router.patch("/api/conversations/{conversation_id}")
async def patch_conversation(conversation_id: IdPath, body: ConversationPatch,
                             caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Assign (`owner_id`: a user who sees the inbox; null unassigns), change the `status`
    and/or move the conversation to another `inbox` (by slug; the caller must see both)."""
    fields = body.model_fields_set
    if not fields:
        raise InvalidInput("send owner_id, status and/or inbox")
    for name in ("status", "inbox"):
        if name in fields and getattr(body, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    actor_id = caller.user.id
    async with transaction(runtime.sessions) as session:
        conversation = await access.require_conversation(session, caller.scope,
                                                         conversation_id)
        if body.inbox is not None:
            target = await access.require_inbox(session, caller.scope, body.inbox)
            await inbox.move_conversation(session, conversation_id, target.id,
                                          actor_id=actor_id)
        if "owner_id" in fields:
            if body.owner_id is not None:
                await access.require_assignable(session, body.owner_id,
                                                [conversation.inbox_id])
            await inbox.set_owner(session, conversation_id, body.owner_id, actor_id=actor_id,
                                  cause="agent")
        if body.status is not None:
            await inbox.set_status(session, conversation_id, body.status, actor_id=actor_id,
                                   cause="agent")
    return await _detail(runtime, conversation_id, caller.scope)


@router.delete("/api/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: IdPath, caller: CurrentCaller,
                              runtime: RuntimeDep) -> Response:
    """Move the conversation to trash; its ticket goes with it."""
    async with transaction(runtime.sessions) as session:
        await access.require_conversation(session, caller.scope, conversation_id)
        await inbox.delete_conversation(session, conversation_id, actor_id=caller.user.id,
                                        cause="agent")
    return Response(status_code=204)


@router.post("/api/conversations/{conversation_id}/messages", status_code=201)
async def post_message(conversation_id: IdPath, body: NewMessage, caller: CurrentCaller,
                       runtime: RuntimeDep) -> JSON:
    """Reply to the contact (sent through the outbox) or add an internal comment. With
    `seen_message_id` a reply written against an older thread is refused (409
    `newer_messages`) unless `send_anyway`; with `client_key` the same post twice makes
    one message (the second answers the first's)."""
    async with transaction(runtime.sessions) as session:
        await access.require_conversation(session, caller.scope, conversation_id)
        message = await inbox.add_agent_message(
            session, conversation_id, author_id=caller.user.id, kind=body.kind,
            text=body.text, seen_message_id=body.seen_message_id,
            client_key=body.client_key, send_anyway=body.send_anyway)
    return message_json(message)


@router.post("/api/conversations/{conversation_id}/messages/multipart", status_code=201)
async def post_message_with_files(
    conversation_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep,
    kind: Annotated[Literal["reply", "comment"], Form()],
    text: Annotated[Text, Form(min_length=1, max_length=100_000)],
    attachments: Annotated[list[UploadFile] | None, File(
        description="files to attach (held to the `[limits]` of inbound mail)")] = None,
) -> JSON:
    """As `POST /api/conversations/{id}/messages`, as a `multipart/form-data` form whose
    `attachments` parts are files: a reply sends them with the mail. More files than
    `[limits] max_parts`, one larger than `max_attachment_bytes` or all together larger
    than `max_total_attachment_bytes` are a 422 naming `attachments`."""
    files = await read_uploads(attachments)
    async with transaction(runtime.sessions) as session:
        await access.require_conversation(session, caller.scope, conversation_id)
        message = await inbox.add_agent_message(session, conversation_id,
                                                author_id=caller.user.id, kind=kind,
                                                text=text, attachments=files)
        stored = await queries.attachments_of(session, [message.id])
    return message_json(message, stored.get(message.id, []))
