"""What the inbox and the tickets do, told to the browsers that show it.

`LiveFeed` subscribes to the domain events and announces one live event per conversation
touched (`core.live.announce`: sent only once the transaction commits). A live event names
the conversation's inbox, so the hub gives it only to people who see that inbox, and holds
ids and the kind of change, never text: a browser fetches what it shows through the same
access checks as any page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import EventBus
from core.live import LiveEvent, announce
from inbox.events import (
    ConversationDeleted,
    ConversationMoved,
    ConversationOwnerChanged,
    ConversationStatusChanged,
    MessageAdded,
    MessageAmended,
)
from inbox.models import Conversation
from tickets.events import TicketChanged, TicketDeleted, TicketsMerged
from tickets.models import TicketConversation


async def _inboxes_of(session: AsyncSession, conversation_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    rows = await session.execute(select(Conversation.id, Conversation.inbox_id)
                                 .where(Conversation.id.in_(ids)))
    return {conversation_id: inbox_id for conversation_id, inbox_id in rows}


async def _announce(session: AsyncSession, changes: Sequence[tuple[int, str, dict[str, Any]]]
                    ) -> None:
    """Announce (conversation id, change, extra data) for each conversation that exists."""
    inboxes = await _inboxes_of(session, (conversation_id for conversation_id, _, _ in changes))
    announce(session, *(
        LiveEvent("conversation", inbox_id=inboxes[conversation_id],
                  data={"conversation_id": conversation_id, "change": change, **extra})
        for conversation_id, change, extra in changes if conversation_id in inboxes))


def _live(session: AsyncSession) -> bool:
    """Whether anyone could hear: without a hub, or with nobody listening, the queries
    are skipped."""
    hub = session.info.get("live")
    return hub is not None and bool(hub.listened_to)


class LiveFeed:
    """Subscriber: domain events in, live events out (after commit)."""

    def install(self, bus: EventBus) -> None:
        bus.subscribe_many(MessageAdded, self.on_messages)
        bus.subscribe(MessageAmended, self.on_amended)
        bus.subscribe(ConversationOwnerChanged, self.on_owner)
        bus.subscribe(ConversationStatusChanged, self.on_status)
        bus.subscribe(ConversationDeleted, self.on_deleted)
        bus.subscribe(ConversationMoved, self.on_moved)
        bus.subscribe(TicketChanged, self.on_ticket)
        bus.subscribe(TicketDeleted, self.on_ticket)
        bus.subscribe(TicketsMerged, self.on_ticket)

    async def on_messages(self, session: AsyncSession, events: list[MessageAdded]) -> None:
        if _live(session):
            await _announce(session, [
                (e.conversation_id, "opened" if e.opened else "message",
                 {"direction": e.direction}) for e in events])

    async def on_amended(self, session: AsyncSession, e: MessageAmended) -> None:
        """The page showing the message reads it again (its id is told, not its text)."""
        if _live(session):
            await _announce(session, [(e.conversation_id, "amended",
                                       {"message_id": e.message_id})])

    async def on_owner(self, session: AsyncSession, e: ConversationOwnerChanged) -> None:
        if _live(session):
            await _announce(session, [(e.conversation_id, "owner",
                                       {"owner_id": e.new_owner_id})])

    async def on_status(self, session: AsyncSession, e: ConversationStatusChanged) -> None:
        if _live(session):
            await _announce(session, [(e.conversation_id, "status", {"status": e.new_status})])

    async def on_deleted(self, session: AsyncSession, e: ConversationDeleted) -> None:
        if _live(session):
            await _announce(session, [(e.conversation_id, "deleted", {})])

    async def on_moved(self, session: AsyncSession, e: ConversationMoved) -> None:
        """Those who see either inbox hear of it: it left one list, joined another."""
        data = {"conversation_id": e.conversation_id, "change": "moved"}
        announce(session, *(LiveEvent("conversation", inbox_id=inbox_id, data=data)
                            for inbox_id in (e.old_inbox_id, e.new_inbox_id)))

    async def on_ticket(self, session: AsyncSession,
                        e: TicketChanged | TicketDeleted | TicketsMerged) -> None:
        if not _live(session):
            return
        ticket_id = e.primary_id if isinstance(e, TicketsMerged) else e.ticket_id
        conversation_ids = (await session.scalars(
            select(TicketConversation.conversation_id)
            .where(TicketConversation.ticket_id == ticket_id))).all()
        await _announce(session, [(conversation_id, "ticket", {"ticket_id": ticket_id})
                                  for conversation_id in conversation_ids])
