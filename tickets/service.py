"""The only writer of tickets, their links to conversations and their history.

Every function takes the caller's session, never commits, records history and publishes
its events on the session's bus. `cause` says what moved a ticket: `agent`,
`conversation` (the sync rules), `inbound`, `reply`, `spam` or `system`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import get_active_user, require_team
from core import clock
from core.db import insert_rows
from core.errors import InvalidInput, NotFound
from core.events import publish, publish_many
from inbox.models import Conversation
from tickets import entitlements as entitlement_rules
from tickets import state, status_reasons
from tickets.case_moves import carry_over
from tickets.events import TicketChanged, TicketCreated, TicketDeleted, TicketsMerged
from tickets.models import (
    Pipeline,
    PipelineStatus,
    Ticket,
    TicketConversation,
    TicketHistory,
)

DEFAULT_PIPELINE = ("Support", [
    ("new", "New", False),
    ("waiting_on_contact", "Waiting on contact", False),
    ("waiting_on_us", "Waiting on us", False),
    ("closed", "Closed", True),
])
EDITABLE = ("owner_id", "status", "priority", "category", "name", "description", "team_id",
            "status_reason", "entitlement_id")


async def ensure_default_pipeline(session: AsyncSession) -> int:
    """The default pipeline's id (cached per runtime), created with its statuses if missing."""
    cache = session.info.setdefault("cache", {})
    if "default_pipeline" in cache:
        cached: int = cache["default_pipeline"]
        return cached
    pipeline = await session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))
    if pipeline is not None:
        cache["default_pipeline"] = pipeline.id
        return pipeline.id
    name, statuses = DEFAULT_PIPELINE
    pipeline = Pipeline(name=name, is_default=True)
    session.add(pipeline)
    await session.flush()
    session.add_all(
        PipelineStatus(pipeline_id=pipeline.id, key=key, label=label, position=pos,
                       is_closed=closed)
        for pos, (key, label, closed) in enumerate(statuses)
    )
    await session.flush()
    return pipeline.id


async def pipeline_statuses(session: AsyncSession, pipeline_id: int) -> list[tuple[str, bool]]:
    """(key, is_closed) of a pipeline's statuses, in order."""
    rows = await session.execute(
        select(PipelineStatus.key, PipelineStatus.is_closed)
        .where(PipelineStatus.pipeline_id == pipeline_id).order_by(PipelineStatus.position))
    return [(key, closed) for key, closed in rows]


async def is_closed_status(session: AsyncSession, ticket: Ticket) -> bool:
    """Whether the ticket's current status counts as closed in its pipeline."""
    return dict(await pipeline_statuses(session, ticket.pipeline_id)).get(ticket.status, False)


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    """The live ticket `ticket_id`; NotFound for unknown, deleted or merged tickets."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.deleted_at is not None:
        merged = f"; it was merged into #{ticket.merged_into_id}" if (
            ticket is not None and ticket.merged_into_id) else ""
        raise NotFound(f"no ticket {ticket_id}{merged}")
    return ticket


async def ticket_for_conversation(session: AsyncSession, conversation_id: int) -> Ticket | None:
    """The ticket a conversation belongs to (deleted ones included), or None (spam)."""
    return await session.scalar(
        select(Ticket).join(TicketConversation, TicketConversation.ticket_id == Ticket.id)
        .where(TicketConversation.conversation_id == conversation_id))


async def live_conversation_ids(session: AsyncSession, ticket_id: int) -> list[int]:
    """Ids of the ticket's conversations that are not in trash, oldest first."""
    rows = await session.scalars(
        select(TicketConversation.conversation_id)
        .join(Conversation, Conversation.id == TicketConversation.conversation_id)
        .where(TicketConversation.ticket_id == ticket_id, Conversation.deleted_at.is_(None))
        .order_by(TicketConversation.conversation_id))
    return list(rows)


def _history(ticket_id: int, action: str, actor_id: int | None, cause: str,
             field: str | None = None, old: Any = None, new: Any = None) -> TicketHistory:
    return TicketHistory(**_history_row(ticket_id, action, actor_id, cause, field, old, new))


def _history_row(ticket_id: int, action: str, actor_id: int | None, cause: str,
                 field: str | None = None, old: Any = None, new: Any = None) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "at": clock.now(), "actor_id": actor_id, "action": action,
            "field": field, "old_value": None if old is None else str(old),
            "new_value": None if new is None else str(new), "cause": cause}


async def create_for_conversation(session: AsyncSession, conversation_id: int) -> Ticket:
    """Open the ticket of a new conversation (its owner, subject and channel carried over)."""
    [ticket_id] = await create_for_conversations(session, [conversation_id])
    return await get_ticket(session, ticket_id)


async def create_for_conversations(session: AsyncSession,
                                   conversation_ids: Sequence[int]) -> list[int]:
    """Open a ticket for each new conversation, together (one statement per table), and
    publish their TicketCreated events together; returns the ticket ids in order."""
    if not conversation_ids:
        return []
    found = {row.id: row for row in await session.execute(
        select(Conversation.id, Conversation.subject, Conversation.owner_id,
               Conversation.channel).where(Conversation.id.in_(conversation_ids)))}
    missing = [cid for cid in conversation_ids if cid not in found]
    if missing:
        raise NotFound(f"no conversation {missing[0]}")
    pipeline_id = await ensure_default_pipeline(session)
    now = clock.now()
    ticket_ids = await insert_rows(session, Ticket, [
        {"name": found[cid].subject or "(no subject)", "description": "",
         "pipeline_id": pipeline_id, "status": state.NEW_STATUS,
         "owner_id": found[cid].owner_id, "priority": state.DEFAULT_PRIORITY,
         "source_channel": found[cid].channel, "origin": found[cid].channel,
         "created_at": now, "updated_at": now}
        for cid in conversation_ids])
    pairs = list(zip(ticket_ids, conversation_ids, strict=True))
    await session.execute(insert(TicketConversation.__table__), [
        {"conversation_id": cid, "ticket_id": tid} for tid, cid in pairs])
    await session.execute(insert(TicketHistory.__table__), [
        _history_row(tid, "created", None, "conversation") for tid, _ in pairs])
    await publish_many(session, [TicketCreated(tid, cid) for tid, cid in pairs])
    return ticket_ids


async def _validated(session: AsyncSession, ticket: Ticket, changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)[0]}", field=sorted(unknown)[0])
    if changes.get("owner_id") is not None:
        await get_active_user(session, changes["owner_id"], field="owner_id")
    if changes.get("team_id") is not None:
        await require_team(session, changes["team_id"])
    if "status" in changes:
        known = dict(await pipeline_statuses(session, ticket.pipeline_id))
        if changes["status"] not in known:
            raise InvalidInput(f"status must be one of {', '.join(known)}", field="status")
    if "priority" in changes and changes["priority"] not in state.PRIORITIES:
        raise InvalidInput(f"priority must be one of {', '.join(state.PRIORITIES)}",
                           field="priority")
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("name cannot be empty", field="name")
    for key in ("name", "description", "status", "priority"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", field=key)


async def update_ticket(
    session: AsyncSession, ticket_id: int, changes: dict[str, Any], *,
    actor_id: int | None, cause: str,
) -> Ticket:
    """Apply `changes` (fields of EDITABLE), record history, emit TicketChanged."""
    ticket = await get_ticket(session, ticket_id)
    await _validated(session, ticket, changes)
    await entitlement_rules.with_entitlement_checked(session, ticket, changes)
    changes = await status_reasons.with_reason_checked(session, ticket, changes)
    applied = {k: (getattr(ticket, k), v) for k, v in changes.items() if getattr(ticket, k) != v}
    if not applied:
        return ticket
    now = clock.now()
    if "status" in applied:
        closed = dict(await pipeline_statuses(session, ticket.pipeline_id))
        move = state.classify(closed, *applied["status"])
        if move is state.Transition.CLOSE:
            ticket.closed_at = now
        elif move is state.Transition.REOPEN:
            ticket.closed_at = None
    for key, (old, new) in applied.items():
        setattr(ticket, key, new)
        session.add(_history(ticket.id, "changed", actor_id, cause, key, old, new))
    ticket.updated_at = now
    await session.flush()
    await publish(session, TicketChanged(ticket.id, applied, actor_id, cause))
    return ticket


async def delete_ticket(
    session: AsyncSession, ticket_id: int, *, actor_id: int | None, cause: str
) -> None:
    """Move the ticket to trash; emits TicketDeleted (the sync rules act on it)."""
    ticket = await get_ticket(session, ticket_id)
    ticket.deleted_at = ticket.updated_at = clock.now()
    session.add(_history(ticket.id, "deleted", actor_id, cause))
    await session.flush()
    await publish(session, TicketDeleted(ticket.id, actor_id, cause))


async def restore_ticket(session: AsyncSession, ticket_id: int, *, actor_id: int | None,
                         cause: str) -> Ticket:
    """Bring a ticket back from trash (a conversation marked not spam)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.merged_into_id is not None:
        raise NotFound(f"no ticket {ticket_id}")
    if ticket.deleted_at is not None:
        ticket.deleted_at = None
        ticket.updated_at = clock.now()
        session.add(_history(ticket.id, "restored", actor_id, cause))
        await session.flush()
    return ticket


async def merge_tickets(
    session: AsyncSession, first_id: int, second_id: int, *, primary_id: int,
    actor_id: int | None,
) -> Ticket:
    """Merge two tickets into the primary: its values win; the other's conversations and
    history move to it, and its activities and similar-case links (its status reason
    becomes Merged); the other is gone for good (there is no undo)."""
    if first_id == second_id:
        raise InvalidInput("cannot merge a ticket with itself", field="other_id")
    if primary_id not in (first_id, second_id):
        raise InvalidInput("primary_id must be one of the two tickets", field="primary_id")
    primary = await get_ticket(session, primary_id)
    merged = await get_ticket(session, second_id if primary_id == first_id else first_id)
    await session.execute(update(TicketConversation)
                          .where(TicketConversation.ticket_id == merged.id)
                          .values(ticket_id=primary.id))
    await session.execute(update(TicketHistory).where(TicketHistory.ticket_id == merged.id)
                          .values(ticket_id=primary.id))
    now = clock.now()
    await carry_over(session, merged, primary.id)
    merged.merged_into_id, merged.deleted_at, merged.updated_at = primary.id, now, now
    primary.updated_at = now
    session.add(_history(primary.id, "merged", actor_id, "agent", "ticket", merged.id,
                         primary.id))
    await session.flush()
    await publish(session, TicketsMerged(primary.id, merged.id, actor_id))
    return primary


async def pipeline_status_labels(session: AsyncSession, pipeline_id: int
                                 ) -> list[tuple[str, str]]:
    """(key, label) of a pipeline's statuses, in order."""
    rows = await session.execute(
        select(PipelineStatus.key, PipelineStatus.label)
        .where(PipelineStatus.pipeline_id == pipeline_id).order_by(PipelineStatus.position))
    return [(key, label) for key, label in rows]
