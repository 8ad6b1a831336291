"""Resolve, cancel and reactivate a case.

Resolving writes a `CaseResolution` (type, text, total time from the completed
activities, billable time), closes the ticket through `tickets.service.update_ticket` (so
the sync rules and SLA clocks follow), sets its status reason to the resolved reason
chosen, records "resolved" on the timeline and publishes CaseResolved. It is refused
(Conflict naming what is in the way) while activities are open, unless the same request
cancels them, and while child cases are open, unless the settings close children with
their parent (see `tickets.resolution_rules`). Canceling closes with reason Canceled;
reactivating moves a closed case back to the reopen status and publishes CaseReactivated.

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput
from core.events import publish
from tickets import service, state
from tickets.activities import activities_of, cancel_open_activities, record
from tickets.case_settings import read_case_settings
from tickets.events import CaseReactivated, CaseResolved
from tickets.models import CaseResolution, StatusReason, Ticket
from tickets.resolution_rules import MAX_MINUTES, ResolveFacts, decide_resolve, total_minutes


@dataclass(frozen=True)
class ResolveInput:
    resolution_type: str = "problem_solved"
    """A resolved reason of the closed status (its key); it becomes the status reason."""
    text: str = ""
    billable_minutes: int = 0
    cancel_open_activities: bool = False


async def resolved_reasons(session: AsyncSession) -> list[tuple[str, str]]:
    """(key, label) of the reasons a case can be resolved with: the closed status's active
    reasons whose outcome is `resolved`, or the default ones when none are defined."""
    rows = (await session.execute(
        select(StatusReason.key, StatusReason.label)
        .where(StatusReason.status == state.CLOSED_STATUS,
               StatusReason.outcome == state.RESOLVED_OUTCOME, StatusReason.active.is_(True))
        .order_by(StatusReason.position, StatusReason.id))).all()
    return [(key, label) for key, label in rows] or list(state.DEFAULT_RESOLVED_REASONS)


async def case_total_minutes(session: AsyncSession, ticket_id: int) -> int:
    """The time the case took so far: its completed activities' durations summed."""
    return total_minutes((a.state, a.duration_minutes)
                         for a in await activities_of(session, ticket_id))


async def open_children(session: AsyncSession, ticket_id: int) -> list[Ticket]:
    """The live child cases of `ticket_id` whose status is not closed."""
    children = await session.scalars(select(Ticket).where(
        Ticket.parent_id == ticket_id, Ticket.deleted_at.is_(None)).order_by(Ticket.id))
    return [c for c in children if not await service.is_closed_status(session, c)]


async def _facts(session: AsyncSession, ticket: Ticket, given: ResolveInput) -> ResolveFacts:
    activities = await activities_of(session, ticket.id)
    settings = await read_case_settings(session)
    return ResolveFacts(
        open_activities=sum(a.state == "open" for a in activities),
        cancel_open_activities=given.cancel_open_activities,
        open_children=len(await open_children(session, ticket.id)),
        close_children_with_parent=settings.close_children_with_parent,
        is_closed=await service.is_closed_status(session, ticket))


async def _check_input(session: AsyncSession, given: ResolveInput) -> None:
    if given.resolution_type not in dict(await resolved_reasons(session)):
        known = ", ".join(key for key, _ in await resolved_reasons(session))
        raise InvalidInput(f"resolution_type must be one of {known}", field="resolution_type")
    if not 0 <= given.billable_minutes <= MAX_MINUTES:
        raise InvalidInput(f"billable time must be between 0 and {MAX_MINUTES} minutes",
                           field="billable_minutes")


async def _close(session: AsyncSession, ticket: Ticket, reason: str,
                 actor_id: int | None) -> None:
    """Closed status through the ticket write path, then the status reason."""
    await service.update_ticket(session, ticket.id, {"status": state.CLOSED_STATUS},
                                actor_id=actor_id, cause="agent")
    await set_status_reason(session, ticket, reason, actor_id)


async def set_status_reason(session: AsyncSession, ticket: Ticket, reason: str | None,
                            actor_id: int | None) -> None:
    """Set the ticket's status reason as resolving, canceling or reactivating decides it,
    recorded on its history."""
    if ticket.status_reason != reason:
        record(session, ticket.id, "changed", actor_id, "status_reason", ticket.status_reason,
               reason)
        ticket.status_reason = reason
        await session.flush()


async def resolve_case(session: AsyncSession, ticket_id: int, given: ResolveInput, *,
                       actor_id: int | None) -> CaseResolution:
    """Resolve the case (see the module's docstring); returns its resolution."""
    ticket = await service.get_ticket(session, ticket_id)
    await _check_input(session, given)
    decision = decide_resolve(await _facts(session, ticket, given))
    if decision.refusal is not None:
        raise Conflict(decision.refusal, field=decision.field)
    if decision.cancel_activities:
        await cancel_open_activities(session, ticket_id, actor_id=actor_id)
    if decision.resolve_children:
        for child in await open_children(session, ticket_id):
            await resolve_case(session, child.id, ResolveInput(
                given.resolution_type, f"Resolved with its parent case #{ticket_id}",
                cancel_open_activities=True), actor_id=actor_id)
    total = await case_total_minutes(session, ticket_id)
    await _close(session, ticket, given.resolution_type, actor_id)
    resolution = CaseResolution(
        ticket_id=ticket_id, resolution_type=given.resolution_type, text=given.text,
        total_minutes=total, billable_minutes=given.billable_minutes,
        resolved_by_id=actor_id, resolved_at=clock.now())
    session.add(resolution)
    label = dict(await resolved_reasons(session)).get(given.resolution_type, "")
    record(session, ticket_id, "resolved", actor_id, "resolution", None,
           f"{label}; {total} min in all, {given.billable_minutes} min billable")
    await session.flush()
    await publish(session, CaseResolved(ticket_id, resolution.id, given.billable_minutes,
                                        actor_id))
    return resolution


async def cancel_case(session: AsyncSession, ticket_id: int, *, actor_id: int | None) -> None:
    """Close the case with the reason Canceled; its open activities are canceled too.
    Conflict when it is already closed."""
    ticket = await service.get_ticket(session, ticket_id)
    if await service.is_closed_status(session, ticket):
        raise Conflict("the case is already closed; reactivate it first")
    await cancel_open_activities(session, ticket_id, actor_id=actor_id)
    await _close(session, ticket, state.CANCELED_REASON, actor_id)
    record(session, ticket_id, "canceled", actor_id)
    await session.flush()


async def reactivate_case(session: AsyncSession, ticket_id: int, *,
                          actor_id: int | None) -> Ticket:
    """Move a closed (resolved or canceled) case back to the reopen status; its latest
    resolution is marked reactivated. Conflict when the case is not closed."""
    ticket = await service.get_ticket(session, ticket_id)
    if not await service.is_closed_status(session, ticket):
        raise Conflict("the case is active; only a resolved or canceled case is reactivated")
    statuses = await service.pipeline_statuses(session, ticket.pipeline_id)
    await service.update_ticket(session, ticket_id, {"status": state.reopen_status(statuses)},
                                actor_id=actor_id, cause="agent")
    await set_status_reason(session, ticket, None, actor_id)
    latest = await latest_resolution(session, ticket_id)
    if latest is not None and latest.reactivated_at is None:
        latest.reactivated_at = clock.now()
    record(session, ticket_id, "reactivated", actor_id)
    await session.flush()
    await publish(session, CaseReactivated(ticket_id, actor_id))
    return ticket


async def latest_resolution(session: AsyncSession, ticket_id: int) -> CaseResolution | None:
    """The case's newest resolution, if it was ever resolved."""
    newest = select(func.max(CaseResolution.id)).where(CaseResolution.ticket_id == ticket_id)
    return await session.scalar(select(CaseResolution).where(
        CaseResolution.id == newest.scalar_subquery()))


async def resolutions_of(session: AsyncSession, ticket_ids: list[int]
                         ) -> dict[int, CaseResolution]:
    """ticket id -> its newest resolution, for those resolved at least once."""
    if not ticket_ids:
        return {}
    rows = await session.scalars(select(CaseResolution).where(
        CaseResolution.ticket_id.in_(ticket_ids)).order_by(CaseResolution.id))
    return {r.ticket_id: r for r in rows}
