"""Queues: admins make them; agents add cases, pick ("work on"), release and move them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from core.db import transaction
from inbox.access import Scope
from tickets import queries
from tickets import queues as queue_service
from tickets.models import Queue, QueueItem
from web.api.common import (
    JSON,
    CurrentAdmin,
    CurrentCaller,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    answers,
)

router = APIRouter(tags=["queues"])

QueueName = Annotated[Text, Field(min_length=1, max_length=200, examples=["Tier 2"])]
Description = Annotated[Text, Field(max_length=2000, examples=["Cases the first line passes on"])]
MemberIds = Annotated[list[IdValue], Field(max_length=500, examples=[[1, 2]])]


class QueueCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Tier 2", "description": "Cases the first line passes on",
         "is_private": False, "member_ids": [1, 2]}]})

    name: QueueName
    description: Description = ""
    is_private: Annotated[bool, Field(examples=[False])] = False
    member_ids: MemberIds = []


class QueuePatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"is_private": True, "member_ids": [1, 2, 5]}]})

    name: QueueName | None = None
    description: Description | None = None
    is_private: Annotated[bool | None, Field(examples=[True])] = None
    member_ids: MemberIds | None = None


class AddToQueue(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queue_id": 2}]})

    queue_id: IdValue


class MoveItem(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queue_id": 3}]})

    queue_id: IdValue


QUEUE_EXAMPLE: JSON = {"id": 2, "name": "Tier 2", "description": "Cases the first line passes on",
                       "is_private": False, "member_ids": [1, 2]}
QUEUES_EXAMPLE: JSON = {"items": [QUEUE_EXAMPLE | {"unclaimed": 4}]}
ITEM_EXAMPLE: JSON = {"id": 11, "queue_id": 2, "ticket_id": 42, "worked_by_id": None,
                      "entered_at": "2026-03-04T09:15:00+00:00", "picked_at": None}
QUEUE_ITEMS_EXAMPLE: JSON = {"items": [ITEM_EXAMPLE | {"ticket_name": "Printer on fire",
                                                       "priority": "high"}]}
TICKET_QUEUES_EXAMPLE: JSON = {"items": [ITEM_EXAMPLE | {"queue_name": "Tier 2"}]}


def queue_json(queue: Queue, members: list[int], unclaimed: int | None = None) -> JSON:
    body: JSON = {"id": queue.id, "name": queue.name, "description": queue.description,
                  "is_private": queue.is_private, "member_ids": members}
    if unclaimed is not None:
        body["unclaimed"] = unclaimed
    return body


def item_json(item: QueueItem) -> JSON:
    return {"id": item.id, "queue_id": item.queue_id, "ticket_id": item.ticket_id,
            "worked_by_id": item.worked_by_id, "entered_at": item.entered_at.isoformat(),
            "picked_at": item.picked_at.isoformat() if item.picked_at else None}


@router.get("/api/queues", responses=answers(QUEUES_EXAMPLE))
async def list_queues(caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The queues the caller sees (private ones only for members and admins), by name, with
    how many open cases the caller sees wait unclaimed in each."""
    async with transaction(runtime.sessions) as session:
        found = await queue_service.visible_queues(session, caller.user)
        ids = [q.id for q in found]
        members = await queue_service.members_of(session, ids)
        counts = await queue_service.unclaimed_counts(session, ids, scope=caller.scope)
    return {"items": [queue_json(q, members[q.id], counts[q.id]) for q in found]}


@router.post("/api/queues", status_code=201, responses=answers(QUEUE_EXAMPLE, 201))
async def create_queue(body: QueueCreate, admin: CurrentAdmin, runtime: RuntimeDep) -> JSON:
    """Make a queue (admins)."""
    async with transaction(runtime.sessions) as session:
        queue = await queue_service.create_queue(session, body.model_dump(), actor=admin)
        members = await queue_service.members_of(session, [queue.id])
    return queue_json(queue, members[queue.id])


@router.patch("/api/queues/{queue_id}", responses=answers(QUEUE_EXAMPLE))
async def patch_queue(queue_id: IdPath, body: QueuePatch, admin: CurrentAdmin,
                      runtime: RuntimeDep) -> JSON:
    """Change a queue's name, description, privacy or members (admins)."""
    async with transaction(runtime.sessions) as session:
        queue = await queue_service.update_queue(
            session, queue_id, body.model_dump(exclude_none=True), actor=admin)
        members = await queue_service.members_of(session, [queue.id])
    return queue_json(queue, members[queue.id])


@router.delete("/api/queues/{queue_id}", status_code=204)
async def delete_queue(queue_id: IdPath, admin: CurrentAdmin, runtime: RuntimeDep) -> Response:
    """Remove a queue and its items (admins); 409 while a routing rule adds cases to it."""
    async with transaction(runtime.sessions) as session:
        await queue_service.delete_queue(session, queue_id, actor=admin)
    return Response(status_code=204)


@router.get("/api/queues/{queue_id}/items", responses=answers(QUEUE_ITEMS_EXAMPLE))
async def queue_items(queue_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The open cases in the queue that the caller sees: unclaimed first, oldest first."""
    async with transaction(runtime.sessions) as session:
        await queue_service.visible_queue(session, queue_id, caller.user)
        found = await queue_service.entries(session, queue_id, scope=caller.scope)
    return {"items": [{**item_json(e.item), "ticket_name": e.ticket.name,
                       "priority": e.ticket.priority} for e in found]}


@router.get("/api/tickets/{ticket_id}/queues", responses=answers(TICKET_QUEUES_EXAMPLE))
async def ticket_queues(ticket_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The queues the case is in (those the caller sees), with its item in each."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        visible = {q.id for q in await queue_service.visible_queues(session, caller.user)}
        found = await queue_service.items_of_ticket(session, ticket_id)
    return {"items": [{**item_json(i), "queue_name": q.name} for i, q in found
                      if q.id in visible]}


@router.post("/api/tickets/{ticket_id}/queues", status_code=201,
             responses=answers(ITEM_EXAMPLE, 201))
async def add_to_queue(ticket_id: IdPath, body: AddToQueue, caller: CurrentCaller,
                       runtime: RuntimeDep) -> JSON:
    """Add the case to a queue the caller sees, unclaimed (a case already there stays)."""
    async with transaction(runtime.sessions) as session:
        await queries.visible_ticket(session, ticket_id, scope=caller.scope)
        await queue_service.visible_queue(session, body.queue_id, caller.user)
        item = await queue_service.add_to_queue(session, body.queue_id, ticket_id,
                                                actor_id=caller.user.id, cause="agent")
    return item_json(item)


async def visible_item(session: AsyncSession, item_id: int, user: User,
                       scope: Scope) -> QueueItem:
    """The queue item when the caller sees its queue and its ticket; NotFound otherwise."""
    item = await queue_service.get_item(session, item_id)
    await queue_service.visible_queue(session, item.queue_id, user)
    await queries.visible_ticket(session, item.ticket_id, scope=scope)
    return item


@router.post("/api/queue-items/{item_id}/pick", responses=answers(ITEM_EXAMPLE))
async def pick_item(item_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Work on the case: it becomes the caller's and leaves the unclaimed list; 409 when
    someone else works on it."""
    async with transaction(runtime.sessions) as session:
        await visible_item(session, item_id, caller.user, caller.scope)
        item = await queue_service.pick(session, item_id, user_id=caller.user.id)
    return item_json(item)


@router.post("/api/queue-items/{item_id}/release", responses=answers(ITEM_EXAMPLE))
async def release_item(item_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Put the case back in the queue's unclaimed list (its owner is cleared when it is
    the one who picked it)."""
    async with transaction(runtime.sessions) as session:
        await visible_item(session, item_id, caller.user, caller.scope)
        item = await queue_service.release(session, item_id, actor_id=caller.user.id)
    return item_json(item)


@router.post("/api/queue-items/{item_id}/move", responses=answers(ITEM_EXAMPLE))
async def move_item(item_id: IdPath, body: MoveItem, caller: CurrentCaller,
                    runtime: RuntimeDep) -> JSON:
    """Move the case to another queue the caller sees, unclaimed there."""
    async with transaction(runtime.sessions) as session:
        await visible_item(session, item_id, caller.user, caller.scope)
        await queue_service.visible_queue(session, body.queue_id, caller.user)
        item = await queue_service.move(session, item_id, body.queue_id,
                                        actor_id=caller.user.id)
    return item_json(item)
