"""The ticket card's entitlement and status reason: what the conversation page shows of
them (`gather_case_entitlement`), the timeline's words for their history rows, and the two
forms it posts. The same services as `/api/tickets/{id}/entitlement` and the ticket PATCH's
`status_reason`, with the same checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.errors import UserError
from tickets import entitlements, status_reasons
from tickets import service as tickets
from tickets.entitlement_terms import format_terms
from tickets.models import Ticket
from tickets.queries import visible_ticket
from tickets.reasons import Reason
from web.api.common import RuntimeDep
from web.pages.common import CurrentPageCaller, see_other

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class ReasonGroup:
    status: str
    label: str
    reasons: list[Reason]


@dataclass(frozen=True)
class CaseEntitlementCard:
    """The card's entitlement part: the case's entitlement and the customer's others, the
    default offered, the status reasons the case may take, and labels for the timeline."""

    offered: entitlements.CaseEntitlements
    remaining: str | None
    reason_groups: list[ReasonGroup]
    reason_label: str | None
    labels: dict[str, str]


async def gather_case_entitlement(session: AsyncSession, ticket: Ticket) -> CaseEntitlementCard:
    """What the card shows of the case's entitlement and status reason."""
    offered = await entitlements.options_for(session, ticket)
    allowed = await status_reasons.allowed_for(session, ticket)
    statuses = await status_reasons.status_choices(session)
    every = await status_reasons.list_reasons(session)
    labels = {f"entitlement:{o.entitlement.id}": o.entitlement.name for o in offered.options}
    if offered.current is not None:
        labels[f"entitlement:{offered.current.id}"] = offered.current.name
    labels |= {f"reason:{r.key}": r.label for r in reversed(every)}
    kept = next((r for r in every if r.status == ticket.status
                 and r.key == ticket.status_reason), None)
    if kept is not None and all(r.key != kept.key for r in allowed.get(ticket.status, [])):
        # Keeping the current reason is always allowed.
        allowed[ticket.status] = [status_reasons.as_value(kept), *allowed[ticket.status]]
    current = offered.current
    return CaseEntitlementCard(
        offered=offered,
        remaining=format_terms(current.terms_kind, current.terms_remaining) if current else None,
        reason_groups=[ReasonGroup(key, label, allowed[key]) for key, label, _ in statuses
                       if allowed.get(key)],
        reason_label=labels.get(f"reason:{ticket.status_reason}", ticket.status_reason)
        if ticket.status_reason else None,
        labels=labels)


def history_text(h: Any, who: str, labels: dict[str, str]) -> str | None:
    """The timeline's words for an entitlement or status-reason row (None: not one)."""
    if h.action == entitlements.USED:
        return f"Entitlement terms: {h.new_value}"
    if h.action == entitlements.SHORT:
        return f"Entitlement warning: {h.new_value}"
    if h.action != "changed" or h.field not in ("entitlement_id", "status_reason"):
        return None
    prefix, what = ("entitlement:", "entitlement") if h.field == "entitlement_id" else (
        "reason:", "status reason")
    old = labels.get(prefix + (h.old_value or ""), h.old_value) if h.old_value else None
    new = labels.get(prefix + (h.new_value or ""), h.new_value) if h.new_value else None
    return f"{who} changed {what} from {old or 'none'} to {new or 'none'}"


def _back(conversation_id: int, key: str, text: str) -> Response:
    return see_other(f"/conversations/{conversation_id}?{urlencode({key: text})}")


@router.post("/tickets/{ticket_id}/entitlement")
async def choose_entitlement(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                             conversation_id: Annotated[int, Form()],
                             entitlement_id: Annotated[str, Form(max_length=12)] = ""
                             ) -> Response:
    """Set the case's entitlement (an empty choice takes it off), as the API's PUT does."""
    chosen = int(entitlement_id) if entitlement_id.isdigit() else None
    try:
        async with transaction(runtime.sessions) as session:
            await visible_ticket(session, ticket_id, scope=caller.scope)
            await tickets.update_ticket(session, ticket_id, {"entitlement_id": chosen},
                                        actor_id=caller.user.id, cause="agent")
    except UserError as exc:
        return _back(conversation_id, "problem", exc.message)
    return _back(conversation_id, "notice",
                 "Entitlement applied" if chosen else "Entitlement taken off")


@router.post("/tickets/{ticket_id}/status-reason")
async def set_status_reason(ticket_id: int, caller: CurrentPageCaller, runtime: RuntimeDep,
                            conversation_id: Annotated[int, Form()],
                            reason: Annotated[str, Form(max_length=140)] = "") -> Response:
    """Move the case to a status and reason (`status|key`; `status|` for no reason), as the
    API's PATCH does: a reason not allowed is refused, naming the allowed ones."""
    status, _, key = reason.partition("|")
    try:
        async with transaction(runtime.sessions) as session:
            ticket = await visible_ticket(session, ticket_id, scope=caller.scope)
            changes: dict[str, Any] = {"status_reason": key or None}
            if status and status != ticket.status:
                changes["status"] = status
            await tickets.update_ticket(session, ticket_id, changes, actor_id=caller.user.id,
                                        cause="agent")
    except UserError as exc:
        return _back(conversation_id, "problem", exc.message)
    return _back(conversation_id, "notice", "Status reason saved")
