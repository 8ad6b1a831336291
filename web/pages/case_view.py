"""What the case-work part of the ticket card shows (gathered from the services the
`/api/tickets/{id}/...` case routes call), and how the timeline tells case actions."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import Scope
from tickets import activities, family, resolution, similar
from tickets.activities import KIND_LABELS
from tickets.models import CaseActivity, CaseResolution, Ticket, TicketHistory
from tickets.service import is_closed_status


@dataclass
class CaseView:
    """What the case-work part of the ticket card shows."""

    ticket: Ticket
    is_closed: bool
    activities: list[CaseActivity]
    total_minutes: int
    reasons: list[tuple[str, str]]
    latest: CaseResolution | None
    parent: Ticket | None
    children: list[Ticket]
    linked: list[similar.SimilarCase] = field(default_factory=list)
    keywords: str = ""


async def gather_case(session: AsyncSession, ticket: Ticket, scope: Scope) -> CaseView:
    """The case part of the card for the (visible, live) `ticket`; the cases it names
    (parent, children, similar) only those in `scope`."""
    items = await activities.activities_of(session, ticket.id)
    return CaseView(
        ticket=ticket, is_closed=await is_closed_status(session, ticket), activities=items,
        total_minutes=await resolution.case_total_minutes(session, ticket.id),
        reasons=await resolution.resolved_reasons(session),
        latest=await resolution.latest_resolution(session, ticket.id),
        parent=await family.parent_of(session, ticket, scope=scope),
        children=await family.children_of(session, ticket.id, scope=scope),
        linked=await similar.similar_links(session, ticket.id, scope=scope),
        keywords=await similar.default_keywords(session, ticket))


CASE_ACTIONS = {"activity_added": "added the {kind} “{value}”",
                "activity_changed": "changed the {kind} “{value}”",
                "activity_completed": "completed the {kind} “{value}”",
                "activity_canceled": "canceled the {kind} “{value}”",
                "resolved": "resolved the case ({value})",
                "canceled": "canceled the case", "reactivated": "reactivated the case",
                "child_added": "added child case #{value}",
                "parent_set": "made this a child of case #{value}",
                "similar_linked": "linked case #{value} as similar"}


def case_change_text(who: str, h: TicketHistory) -> str | None:
    """How the timeline tells a case action of the history (None: not one of them)."""
    pattern = CASE_ACTIONS.get(h.action)
    if pattern is None:
        return None
    kind = KIND_LABELS.get(h.field or "", h.field or "").lower()
    return f"{who} " + pattern.format(kind=kind, value=h.new_value or "")
