"""Parent and child cases, one level deep: a parent is not a child, a child has no children.

A child made from a parent is a case like any other, so it has a conversation: one opened
by hand (`inbox.by_hand.open_conversation`) in the parent's first inbox, with the parent's
contact, on the phone channel as a phone case is, whose first entry is the internal note
"Child of #N" (its ticket is made by the sync rules as for every new conversation; its
origin is phone unless the inherited fields copy the parent's). It then copies the fields
`CaseSettings.inherited_fields` names. An existing case can also be attached as a child.
Resolving a parent while children are open is decided in `tickets.resolution`.

Every function takes the caller's session, never commits and records history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from inbox import by_hand
from inbox.access import Scope
from inbox.models import Conversation
from tickets import service
from tickets.activities import record
from tickets.case_settings import read_case_settings
from tickets.models import Ticket
from tickets.queries import in_scope, visible_ticket

COPIED_DIRECTLY: dict[str, tuple[str, ...]] = {
    "customer": ("customer_contact_id", "customer_company_id"),
    "product": ("product_id",), "subject": ("subject_id",), "case_type": ("case_type",),
    "origin": ("origin",)}
"""Inherited case fields and the ticket columns they copy (the entitlement goes through
the ticket write path: `_inherit_entitlement`)."""
COPIED_BY_UPDATE: dict[str, str] = {"priority": "priority", "team": "team_id",
                                     "category": "category"}
"""Inherited fields the ticket write path changes (the conversations' keys follow)."""


def inherited_values(parent: Ticket, fields: tuple[str, ...]) -> tuple[dict[str, Any],
                                                                      dict[str, Any]]:
    """(columns set directly, changes for update_ticket) a child copies from `parent`."""
    direct = {column: getattr(parent, column) for name in fields
              for column in COPIED_DIRECTLY.get(name, ())}
    changes = {column: getattr(parent, column) for name, column in COPIED_BY_UPDATE.items()
               if name in fields}
    return direct, changes


async def _first_conversation(session: AsyncSession, ticket_id: int) -> Conversation:
    ids = await service.live_conversation_ids(session, ticket_id)
    if not ids:
        raise Conflict(f"case #{ticket_id} has no conversation to start a child from")
    conversation = await session.get(Conversation, ids[0])
    assert conversation is not None
    return conversation


async def create_child(session: AsyncSession, parent_id: int, title: str, *,
                       actor_id: int | None) -> Ticket:
    """A new child case of `parent_id` named `title`, with the inherited fields copied;
    Conflict when the parent is itself a child."""
    if not title.strip():
        raise InvalidInput("give the child case a title", field="title")
    parent = await service.get_ticket(session, parent_id)
    if parent.parent_id is not None:
        raise Conflict(f"case #{parent_id} is a child of #{parent.parent_id}; "
                       "a child case has no children", field="parent_id")
    home = await _first_conversation(session, parent_id)
    opened, _ = await by_hand.open_conversation(
        session, inbox_id=home.inbox_id, contact_id=home.contact_id,
        channel=by_hand.PHONE_CHANNEL, subject=title, text=f"Child of #{parent_id}",
        author_id=actor_id, direction="comment")
    child = await service.ticket_for_conversation(session, opened.id)
    assert child is not None
    fields = (await read_case_settings(session)).inherited_fields
    direct, changes = inherited_values(parent, fields)
    for column, value in direct.items():
        setattr(child, column, value)
    if changes:
        await service.update_ticket(session, child.id, changes, actor_id=actor_id,
                                    cause="agent")
    if "entitlement" in fields and parent.entitlement_id is not None:
        await _inherit_entitlement(session, child.id, parent.entitlement_id, actor_id)
    await _link(session, parent, child, actor_id)
    return child


async def _inherit_entitlement(session: AsyncSession, child_id: int, entitlement_id: int,
                               actor_id: int | None) -> None:
    """The parent's entitlement on the child through the ticket write path (checked, on the
    child's timeline, its terms taken at creation when the settings say so) when it fits the
    child; one that does not (another customer, a channel or product it does not cover) is
    not copied, and the agent may choose another."""
    try:
        await service.update_ticket(session, child_id, {"entitlement_id": entitlement_id},
                                    actor_id=actor_id, cause="agent")
    except InvalidInput:
        return


async def attach_child(session: AsyncSession, parent_id: int, child_id: int, *,
                       actor_id: int | None) -> Ticket:
    """Make the existing case `child_id` a child of `parent_id`; Conflict when that would
    make more than one level, or when it already has a parent."""
    if parent_id == child_id:
        raise InvalidInput("a case cannot be its own child", field="child_id")
    parent = await service.get_ticket(session, parent_id)
    child = await service.get_ticket(session, child_id)
    if parent.parent_id is not None:
        raise Conflict(f"case #{parent_id} is a child of #{parent.parent_id}; "
                       "a child case has no children", field="child_id")
    if child.parent_id is not None:
        raise Conflict(f"case #{child_id} is already a child of #{child.parent_id}",
                       field="child_id")
    if await children_of(session, child_id, scope=None):
        raise Conflict(f"case #{child_id} has children of its own; it cannot be a child",
                       field="child_id")
    await _link(session, parent, child, actor_id)
    return child


async def _link(session: AsyncSession, parent: Ticket, child: Ticket,
                actor_id: int | None) -> None:
    child.parent_id = parent.id
    record(session, parent.id, "child_added", actor_id, "ticket", None, child.id)
    record(session, child.id, "parent_set", actor_id, "ticket", None, parent.id)
    await session.flush()


async def children_of(session: AsyncSession, parent_id: int, *,
                      scope: Scope | None) -> list[Ticket]:
    """The live child cases of `parent_id`, oldest first: those in `scope` (what a caller
    is shown), or every one with `None` (what a decision counts)."""
    query = select(Ticket).where(Ticket.parent_id == parent_id, Ticket.deleted_at.is_(None))
    if scope is not None:
        query = query.where(in_scope(scope))
    return list(await session.scalars(query.order_by(Ticket.id)))


async def parent_of(session: AsyncSession, ticket: Ticket, *, scope: Scope) -> Ticket | None:
    """The ticket's live parent case, if it has one in `scope`."""
    if ticket.parent_id is None:
        return None
    try:
        return await visible_ticket(session, ticket.parent_id, scope=scope)
    except NotFound:
        return None
