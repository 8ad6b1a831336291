"""Status reasons: the one writer of reasons and their transitions, and the check the ticket
write path runs on a ticket's `status_reason`.

Admins keep the reasons of each status (ordered), and which reason may follow which; the
defaults are seeded on a fresh database. The decisions are `tickets.reasons` (pure).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import record_change
from core.errors import InvalidInput, NotFound
from tickets import reasons as rules
from tickets import state
from tickets.models import Pipeline, PipelineStatus, StatusReason, StatusReasonTransition, Ticket

DEFAULT_REASONS: tuple[tuple[str, str, str, str | None], ...] = (
    ("waiting_on_contact", "waiting_for_details", "Waiting for details", None),
    ("waiting_on_contact", "researching", "Researching", None),
    *((state.CLOSED_STATUS, key, label, state.RESOLVED_OUTCOME)
      for key, label in state.DEFAULT_RESOLVED_REASONS),
    (state.CLOSED_STATUS, state.CANCELED_REASON, "Canceled", state.CANCELED_OUTCOME),
    (state.CLOSED_STATUS, state.MERGED_REASON, "Merged", state.CANCELED_OUTCOME),
)
"""(status, key, label, outcome) seeded on a database that has no reason yet."""
OUTCOMES = (state.RESOLVED_OUTCOME, state.CANCELED_OUTCOME)
MAX_LABEL = 200


async def seed_default_reasons(session: AsyncSession) -> None:
    """Add the default reasons when there is none at all (a fresh database)."""
    if await session.scalar(select(func.count()).select_from(StatusReason)):
        return
    session.add_all(StatusReason(status=status, key=key, label=label, position=position,
                                 outcome=outcome, active=True)
                    for position, (status, key, label, outcome) in enumerate(DEFAULT_REASONS))
    await session.flush()


async def status_choices(session: AsyncSession) -> list[tuple[str, str, bool]]:
    """(key, label, is_closed) of the default pipeline's statuses, in order."""
    rows = await session.execute(
        select(PipelineStatus.key, PipelineStatus.label, PipelineStatus.is_closed)
        .join(Pipeline, Pipeline.id == PipelineStatus.pipeline_id)
        .where(Pipeline.is_default.is_(True)).order_by(PipelineStatus.position))
    return [(key, label, closed) for key, label, closed in rows]


async def list_reasons(session: AsyncSession) -> list[StatusReason]:
    """Every reason, by status and position."""
    return list((await session.scalars(select(StatusReason).order_by(
        StatusReason.status, StatusReason.position, StatusReason.id))).all())


async def list_transitions(session: AsyncSession) -> set[tuple[int, int]]:
    """Every (from reason id, to reason id) pair admins allowed."""
    rows = await session.execute(select(StatusReasonTransition.from_id,
                                        StatusReasonTransition.to_id))
    return {(frm, to) for frm, to in rows}


def as_value(row: StatusReason) -> rules.Reason:
    return rules.Reason(id=row.id, status=row.status, key=row.key, label=row.label,
                        active=row.active, outcome=row.outcome)


async def get_reason(session: AsyncSession, reason_id: int) -> StatusReason:
    """The reason `reason_id`; NotFound when there is none."""
    row = await session.get(StatusReason, reason_id)
    if row is None:
        raise NotFound(f"no status reason {reason_id}")
    return row


def _key_from(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:64]


async def _checked_outcome(session: AsyncSession, status: str, outcome: str | None
                           ) -> str | None:
    closed = {key: is_closed for key, _, is_closed in await status_choices(session)}
    if status not in closed:
        raise InvalidInput(f"status must be one of {', '.join(closed)}", field="status")
    if not closed[status]:
        if outcome:
            raise InvalidInput("only a closed status's reasons have an outcome",
                               field="outcome")
        return None
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
    return outcome


def _checked_label(label: str) -> str:
    label = (label or "").strip()
    if not 0 < len(label) <= MAX_LABEL:
        raise InvalidInput(f"label must be 1 to {MAX_LABEL} characters", field="label")
    return label


async def create_reason(session: AsyncSession, *, status: str, label: str,
                        key: str | None = None, outcome: str | None = None,
                        actor: User | None) -> StatusReason:
    """A new reason at the end of its status's list (audited). Its key is given or made
    from the label; InvalidInput names the field (unknown status, taken key, an outcome
    missing on a closed status or given on an open one)."""
    label = _checked_label(label)
    outcome = await _checked_outcome(session, status, outcome)
    key = _key_from(key or label)
    if not key:
        raise InvalidInput("key needs a letter or a digit", field="key")
    if await session.scalar(select(StatusReason.id).where(StatusReason.status == status,
                                                           StatusReason.key == key)):
        raise InvalidInput(f"status {status} already has a reason {key}", field="key")
    last = await session.scalar(select(func.max(StatusReason.position))
                                .where(StatusReason.status == status))
    row = StatusReason(status=status, key=key, label=label, outcome=outcome, active=True,
                       position=(last if last is not None else -1) + 1)
    session.add(row)
    await session.flush()
    await record_change(session, actor=actor, action="status_reason.created",
                        subject_type="status_reason", subject_id=row.id,
                        summary=f"Status reason {label!r} added to {status}",
                        after={"status": status, "key": key, "label": label,
                               "outcome": outcome})
    return row


async def update_reason(session: AsyncSession, reason_id: int, changes: dict[str, Any], *,
                        actor: User | None) -> StatusReason:
    """Change a reason's `label`, `active` or `outcome` (audited); its key stays (tickets
    hold it)."""
    row = await get_reason(session, reason_id)
    unknown = set(changes) - {"label", "active", "outcome"}
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)[0]}", field=sorted(unknown)[0])
    before = {"label": row.label, "active": row.active, "outcome": row.outcome}
    if "label" in changes:
        row.label = _checked_label(changes["label"])
    if "outcome" in changes:
        row.outcome = await _checked_outcome(session, row.status, changes["outcome"])
    if "active" in changes:
        row.active = bool(changes["active"])
    after = {"label": row.label, "active": row.active, "outcome": row.outcome}
    if after != before:
        await session.flush()
        await record_change(session, actor=actor, action="status_reason.updated",
                            subject_type="status_reason", subject_id=row.id,
                            summary=f"Status reason {row.label!r} of {row.status} changed",
                            before=before, after=after)
    return row


async def delete_reason(session: AsyncSession, reason_id: int, *, actor: User | None) -> None:
    """Remove a reason and its transitions (audited); tickets holding it keep the key."""
    row = await get_reason(session, reason_id)
    await session.execute(delete(StatusReasonTransition).where(
        (StatusReasonTransition.from_id == row.id) | (StatusReasonTransition.to_id == row.id)))
    await session.delete(row)
    await session.flush()
    await record_change(session, actor=actor, action="status_reason.deleted",
                        subject_type="status_reason", subject_id=reason_id,
                        summary=f"Status reason {row.label!r} of {row.status} deleted",
                        before={"status": row.status, "key": row.key, "label": row.label})


async def move_reason(session: AsyncSession, reason_id: int, offset: int, *,
                      actor: User | None) -> None:
    """Move a reason up (-1) or down (+1) among its status's reasons (audited)."""
    row = await get_reason(session, reason_id)
    siblings = [r for r in await list_reasons(session) if r.status == row.status]
    index = siblings.index(row)
    target = index + (1 if offset > 0 else -1)
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, sibling in enumerate(siblings):
        sibling.position = position
    await session.flush()
    await record_change(session, actor=actor, action="status_reason.moved",
                        subject_type="status_reason", subject_id=row.id,
                        summary=f"Status reason {row.label!r} moved to place {target + 1}",
                        after={"order": [s.key for s in siblings]})


async def set_transitions(session: AsyncSession, pairs: set[tuple[int, int]], *,
                          actor: User | None) -> None:
    """Replace every transition with `pairs` (from id, to id) (audited); InvalidInput for
    an unknown reason id."""
    known = {r.id for r in await list_reasons(session)}
    unknown = sorted({i for pair in pairs for i in pair} - known)
    if unknown:
        raise InvalidInput(f"no status reason {unknown[0]}", field="transitions")
    before = await list_transitions(session)
    if before == pairs:
        return
    await session.execute(delete(StatusReasonTransition))
    session.add_all(StatusReasonTransition(from_id=frm, to_id=to) for frm, to in sorted(pairs))
    await session.flush()
    await record_change(session, actor=actor, action="status_reason.transitions_saved",
                        subject_type="status_reason", subject_id=None,
                        summary=f"Status reason transitions saved ({len(pairs)} allowed)",
                        before={"pairs": sorted(before)}, after={"pairs": sorted(pairs)})


async def allowed_for(session: AsyncSession, ticket: Ticket) -> dict[str, list[rules.Reason]]:
    """For each status (in pipeline order), the reasons the ticket may take now."""
    values = [as_value(r) for r in await list_reasons(session)]
    transitions = await list_transitions(session)
    return {key: rules.allowed_reasons(values, transitions, status=ticket.status,
                                       reason_key=ticket.status_reason, target_status=key)
            for key, _, _ in await status_choices(session)}


async def with_reason_checked(session: AsyncSession, ticket: Ticket,
                              changes: dict[str, Any]) -> dict[str, Any]:
    """The ticket write path's check: a `status_reason` must be allowed for the ticket's
    (new) status, given its current reason (InvalidInput naming the allowed list); a status
    change that gives no reason clears the current one. Returns the changes to apply."""
    target_status = changes.get("status") or ticket.status
    if "status_reason" not in changes:
        if target_status != ticket.status and ticket.status_reason is not None:
            return {**changes, "status_reason": None}
        return changes
    key = changes["status_reason"]
    if key is None or (key == ticket.status_reason and target_status == ticket.status):
        return changes
    values = [as_value(r) for r in await list_reasons(session)]
    problem = rules.refusal(values, await list_transitions(session), status=ticket.status,
                            reason_key=ticket.status_reason, target_status=target_status,
                            target_key=key)
    if problem:
        raise InvalidInput(problem, field="status_reason")
    return changes
