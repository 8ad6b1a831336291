"""What a merge carries over of a case besides its conversations and history: its
activities and similar-case links go to the surviving case, and the merged one gives the
status reason Merged. Called by `tickets.service.merge_tickets` (it imports no service, so
the service may import it)."""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import CaseActivity, CaseLink, Ticket
from tickets.state import MERGED_REASON


async def carry_over(session: AsyncSession, merged: Ticket, primary_id: int) -> None:
    """Move `merged`'s activities and case links to `primary_id` and set its status
    reason to Merged. A link the primary already has, or one that would link the primary
    to itself, is dropped."""
    await session.execute(update(CaseActivity).where(CaseActivity.ticket_id == merged.id)
                          .values(ticket_id=primary_id))
    held = set((await session.scalars(
        select(CaseLink.similar_id).where(CaseLink.ticket_id == primary_id))).all())
    await session.execute(delete(CaseLink).where(
        CaseLink.ticket_id == merged.id,
        or_(CaseLink.similar_id == primary_id, CaseLink.similar_id.in_(held))))
    await session.execute(update(CaseLink).where(CaseLink.ticket_id == merged.id)
                          .values(ticket_id=primary_id))
    merged.status_reason = MERGED_REASON
