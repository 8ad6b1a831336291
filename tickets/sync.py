"""The ticket <-> conversation contract, in one place.

Subscribers on inbox and ticket events; each rule below is a method and has its own test.

- A new conversation gets exactly one ticket, unless it opened in spam. Marking it spam
  sends a ticket that holds only it to trash; marking it not spam restores or creates it.
- Conversation owner changed -> the ticket owner follows. Ticket owner changed -> the
  conversation owner does not change (nothing subscribes to that).
- Ticket closed -> every conversation of it closes. Ticket reopened -> its conversation
  reopens if it has exactly one; with several, none do.
- Conversation closed -> only that conversation; the ticket stays open. A conversation
  reopened while its ticket is closed reopens the ticket, so an open conversation never
  sits on a closed ticket.
- Conversation deleted -> its ticket is deleted; ticket deleted -> its conversations are.
- Merged into a closed ticket -> the moved conversations close.
- Every ticket's priority rank, team and status are kept on its conversations (what the
  listing sorts and filters by): when a ticket is created, one of them changes, or a merge
  brings it conversations.
- Automations (each can be switched off in `[automation]`): a customer message on a closed
  conversation reopens it; a customer message moves the ticket to `waiting_on_us`; an agent
  reply moves it to `waiting_on_contact`. Automatic mail (auto-replies, bounces) moves
  nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import EventBus
from core.settings import AutomationSettings
from inbox import service as inbox
from inbox.events import (
    ConversationDeleted,
    ConversationOpened,
    ConversationOwnerChanged,
    ConversationStatusChanged,
    MessageAdded,
)
from inbox.models import Conversation
from tickets import service as tickets
from tickets import state
from tickets.events import TicketChanged, TicketCreated, TicketDeleted, TicketsMerged
from tickets.models import Ticket, TicketConversation

FROM_TICKET = "ticket"
KEPT_ON_CONVERSATIONS = {"priority", "team_id", "status"}
"""The ticket's fields its conversations keep a copy of (`keep_ticket_keys`)."""


class TicketSync:
    """The sync rules for one runtime, with its automation switches."""

    def __init__(self, automation: AutomationSettings):
        self.automation = automation

    def install(self, bus: EventBus) -> None:
        """Subscribe every rule on `bus`."""
        bus.subscribe_many(ConversationOpened, self.on_conversations_opened)
        bus.subscribe_many(TicketCreated, self.on_tickets_created)
        bus.subscribe(MessageAdded, self.on_message_added)
        bus.subscribe(ConversationOwnerChanged, self.on_conversation_owner_changed)
        bus.subscribe(ConversationStatusChanged, self.on_conversation_status_changed)
        bus.subscribe(ConversationDeleted, self.on_conversation_deleted)
        bus.subscribe(TicketChanged, self.on_ticket_changed)
        bus.subscribe(TicketDeleted, self.on_ticket_deleted)
        bus.subscribe(TicketsMerged, self.on_tickets_merged)

    async def on_conversations_opened(self, session: AsyncSession,
                                      events: list[ConversationOpened]) -> None:
        opened = [e.conversation_id for e in events if not e.spam]
        await tickets.create_for_conversations(session, opened)

    async def on_conversation_owner_changed(
        self, session: AsyncSession, e: ConversationOwnerChanged
    ) -> None:
        ticket = await _live_ticket(session, e.conversation_id)
        if ticket is not None and e.cause != FROM_TICKET:
            await tickets.update_ticket(session, ticket.id, {"owner_id": e.new_owner_id},
                                        actor_id=e.actor_id, cause="conversation")

    async def on_conversation_status_changed(
        self, session: AsyncSession, e: ConversationStatusChanged
    ) -> None:
        if e.cause == FROM_TICKET:
            return
        if e.new_status == "spam":
            await self._spammed(session, e)
        elif e.old_status == "spam":
            await self._unspammed(session, e)
        elif e.old_status == "closed" and e.new_status == "open":
            ticket = await _live_ticket(session, e.conversation_id)
            if ticket is not None and await tickets.is_closed_status(session, ticket):
                await _reopen_ticket(session, ticket, e.actor_id)

    async def _spammed(self, session: AsyncSession, e: ConversationStatusChanged) -> None:
        ticket = await _live_ticket(session, e.conversation_id)
        if ticket is not None and await tickets.live_conversation_ids(session, ticket.id) == [
            e.conversation_id
        ]:
            await tickets.delete_ticket(session, ticket.id, actor_id=e.actor_id, cause="spam")

    async def _unspammed(self, session: AsyncSession, e: ConversationStatusChanged) -> None:
        ticket = await tickets.ticket_for_conversation(session, e.conversation_id)
        if ticket is None:
            await tickets.create_for_conversation(session, e.conversation_id)
        elif ticket.deleted_at is not None:
            await tickets.restore_ticket(session, ticket.id, actor_id=e.actor_id, cause="spam")

    async def on_conversation_deleted(self, session: AsyncSession, e: ConversationDeleted) -> None:
        ticket = await _live_ticket(session, e.conversation_id)
        if ticket is not None and e.cause != FROM_TICKET:
            await tickets.delete_ticket(session, ticket.id, actor_id=e.actor_id,
                                        cause="conversation")

    async def on_tickets_created(self, session: AsyncSession,
                                 events: list[TicketCreated]) -> None:
        await keep_ticket_keys(session, [e.ticket_id for e in events])

    async def on_ticket_changed(self, session: AsyncSession, e: TicketChanged) -> None:
        if KEPT_ON_CONVERSATIONS & e.changes.keys():
            await keep_ticket_keys(session, [e.ticket_id])
        if "status" not in e.changes:
            return
        ticket = await tickets.get_ticket(session, e.ticket_id)
        closed = dict(await tickets.pipeline_statuses(session, ticket.pipeline_id))
        move = state.classify(closed, *e.changes["status"])
        conversation_ids = await tickets.live_conversation_ids(session, ticket.id)
        if move is state.Transition.CLOSE:
            await _close_all(session, conversation_ids, e.actor_id)
        elif move is state.Transition.REOPEN and len(conversation_ids) == 1:
            conversation = await session.get(Conversation, conversation_ids[0])
            if conversation is not None and conversation.status == "closed":
                await inbox.set_status(session, conversation.id, "open", actor_id=e.actor_id,
                                       cause=FROM_TICKET)

    async def on_ticket_deleted(self, session: AsyncSession, e: TicketDeleted) -> None:
        if e.cause == "spam":
            return
        for conversation_id in await tickets.live_conversation_ids(session, e.ticket_id):
            await inbox.delete_conversation(session, conversation_id, actor_id=e.actor_id,
                                            cause=FROM_TICKET)

    async def on_tickets_merged(self, session: AsyncSession, e: TicketsMerged) -> None:
        await keep_ticket_keys(session, [e.primary_id])
        primary = await tickets.get_ticket(session, e.primary_id)
        if await tickets.is_closed_status(session, primary):
            await _close_all(session, await tickets.live_conversation_ids(session, primary.id),
                             e.actor_id)

    async def on_message_added(self, session: AsyncSession, e: MessageAdded) -> None:
        if e.automatic or e.opened:
            return
        if e.direction == "inbound":
            await self._customer_wrote(session, e.conversation_id)
        elif e.direction == "outbound":
            await self._agent_replied(session, e.conversation_id)

    async def _customer_wrote(self, session: AsyncSession, conversation_id: int) -> None:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.status == "spam":
            return
        if conversation.status == "closed" and self.automation.reopen_on_inbound:
            await inbox.set_status(session, conversation_id, "open", actor_id=None,
                                   cause="inbound")
        ticket = await _live_ticket(session, conversation_id)
        if (ticket is None or not self.automation.waiting_on_us_on_inbound
                or ticket.status in (state.NEW_STATUS, state.INBOUND_STATUS)):
            return
        if not await tickets.is_closed_status(session, ticket):
            await _move_if_known(session, ticket, state.INBOUND_STATUS, "inbound")

    async def _agent_replied(self, session: AsyncSession, conversation_id: int) -> None:
        ticket = await _live_ticket(session, conversation_id)
        if (ticket is None or not self.automation.waiting_on_contact_on_reply
                or await tickets.is_closed_status(session, ticket)):
            return
        await _move_if_known(session, ticket, state.REPLIED_STATUS, "reply")


async def keep_ticket_keys(session: AsyncSession, ticket_ids: list[int]) -> None:
    """Tell the inbox each ticket's priority rank, team and status, kept on its
    conversations for the listing's sorts and views (`inbox.service.set_ticket_keys`)."""
    rows = (await session.execute(
        select(TicketConversation.conversation_id, Ticket.priority, Ticket.team_id,
               Ticket.status)
        .join(Ticket, Ticket.id == TicketConversation.ticket_id)
        .where(TicketConversation.ticket_id.in_(ticket_ids)))).all()
    groups: dict[tuple[int, int | None, str], list[int]] = {}
    for conversation_id, priority, team_id, status in rows:
        key = (state.PRIORITY_RANK.get(priority, -1), team_id, status)
        groups.setdefault(key, []).append(conversation_id)
    for (rank, team_id, status), conversation_ids in groups.items():
        await inbox.set_ticket_keys(session, conversation_ids, priority_rank=rank,
                                    team_id=team_id, status=status)


async def _live_ticket(session: AsyncSession, conversation_id: int) -> Ticket | None:
    ticket = await tickets.ticket_for_conversation(session, conversation_id)
    return ticket if ticket is not None and ticket.deleted_at is None else None


async def _close_all(session: AsyncSession, conversation_ids: list[int],
                     actor_id: int | None) -> None:
    for conversation_id in conversation_ids:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is not None and conversation.status == "open":
            await inbox.set_status(session, conversation_id, "closed", actor_id=actor_id,
                                   cause=FROM_TICKET)


async def _reopen_ticket(session: AsyncSession, ticket: Ticket, actor_id: int | None) -> None:
    target = state.reopen_status(await tickets.pipeline_statuses(session, ticket.pipeline_id))
    await tickets.update_ticket(session, ticket.id, {"status": target}, actor_id=actor_id,
                                cause="conversation")


async def _move_if_known(session: AsyncSession, ticket: Ticket, status: str, cause: str) -> None:
    """Automations use the default pipeline's keys; other pipelines may lack them."""
    if status in dict(await tickets.pipeline_statuses(session, ticket.pipeline_id)):
        await tickets.update_ticket(session, ticket.id, {"status": status}, actor_id=None,
                                    cause=cause)
