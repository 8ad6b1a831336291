"""Similar cases: find resolved cases by keywords (the inbox's full-text search over their
conversations: subjects, messages, contacts) and link one to a case as similar, its
resolution shown beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput
from inbox import search
from inbox.access import Scope
from inbox.models import Conversation
from tickets import service
from tickets.activities import record
from tickets.models import CaseLink, CaseResolution, CaseSubject, Ticket, TicketConversation
from tickets.queries import in_scope
from tickets.resolution import resolutions_of

MAX_FOUND = 10


@dataclass(frozen=True)
class SimilarCase:
    ticket: Ticket
    resolution: CaseResolution | None
    linked_at: datetime | None = None


async def default_keywords(session: AsyncSession, ticket: Ticket) -> str:
    """What a search for cases like `ticket` starts from: its title (and subject's name)."""
    subject = (await session.get(CaseSubject, ticket.subject_id)) if ticket.subject_id else None
    return " ".join(part for part in (ticket.name, subject.name if subject else "") if part)


def _resolved() -> ColumnElement[bool]:
    return exists().where(CaseResolution.ticket_id == Ticket.id,
                          CaseResolution.reactivated_at.is_(None))


async def find_similar(session: AsyncSession, ticket_id: int, keywords: str, *,
                       scope: Scope, limit: int = MAX_FOUND) -> list[SimilarCase]:
    """Resolved cases (not reactivated since) other than `ticket_id`, in `scope`, one of
    whose conversations holds every word of `keywords`; newest first, at most `limit`."""
    words = search.terms(keywords)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    holding = exists().where(TicketConversation.ticket_id == Ticket.id,
                             Conversation.id == TicketConversation.conversation_id,
                             Conversation.deleted_at.is_(None),
                             search.matching(dialect, words))
    found = list(await session.scalars(
        select(Ticket).where(Ticket.id != ticket_id, Ticket.deleted_at.is_(None),
                             _resolved(), holding, in_scope(scope))
        .order_by(Ticket.id.desc()).limit(limit)))
    resolutions = await resolutions_of(session, [t.id for t in found])
    return [SimilarCase(t, resolutions.get(t.id)) for t in found]


async def link_similar(session: AsyncSession, ticket_id: int, similar_id: int, *,
                       actor_id: int | None) -> CaseLink:
    """Link `similar_id` to `ticket_id` as a similar case; Conflict when it already is."""
    if ticket_id == similar_id:
        raise InvalidInput("a case is not similar to itself", field="similar_id")
    await service.get_ticket(session, ticket_id)
    await service.get_ticket(session, similar_id)
    if await session.get(CaseLink, (ticket_id, similar_id)) is not None:
        raise Conflict(f"case #{similar_id} is already linked as similar", field="similar_id")
    link = CaseLink(ticket_id=ticket_id, similar_id=similar_id, linked_by_id=actor_id,
                    linked_at=clock.now())
    session.add(link)
    record(session, ticket_id, "similar_linked", actor_id, "ticket", None, similar_id)
    await session.flush()
    return link


async def similar_links(session: AsyncSession, ticket_id: int, *,
                        scope: Scope) -> list[SimilarCase]:
    """The cases linked to `ticket_id` as similar (live ones in `scope`), with their
    resolutions."""
    rows = (await session.execute(
        select(Ticket, CaseLink.linked_at).join(CaseLink, CaseLink.similar_id == Ticket.id)
        .where(CaseLink.ticket_id == ticket_id, Ticket.deleted_at.is_(None), in_scope(scope))
        .order_by(CaseLink.linked_at))).all()
    resolutions = await resolutions_of(session, [t.id for t, _ in rows])
    return [SimilarCase(t, resolutions.get(t.id), at) for t, at in rows]
