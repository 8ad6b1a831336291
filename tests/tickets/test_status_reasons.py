"""Status reasons on the real database: the seeded defaults, admin changes (audited), and
the check in the ticket write path."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.db import transaction
from core.errors import InvalidInput
from tests.tickets.test_entitlements import new_case
from tickets import service, status_reasons
from tickets.models import Ticket


async def update(runtime, ticket_id: int, changes: dict) -> Ticket:
    async with transaction(runtime.sessions) as session:
        return await service.update_ticket(session, ticket_id, changes, actor_id=None,
                                           cause="agent")


async def reason_ids(runtime) -> dict[str, int]:
    async with transaction(runtime.sessions) as session:
        return {r.key: r.id for r in await status_reasons.list_reasons(session)}


async def test_defaults_are_seeded_with_outcomes_for_closed(runtime):
    async with transaction(runtime.sessions) as session:
        rows = await status_reasons.list_reasons(session)
    assert [(r.status, r.key, r.outcome) for r in rows] == [
        ("closed", "problem_solved", "resolved"), ("closed", "information_provided", "resolved"),
        ("closed", "canceled", "canceled"), ("closed", "merged", "canceled"),
        ("waiting_on_contact", "waiting_for_details", None),
        ("waiting_on_contact", "researching", None)]


async def test_reason_checked_in_the_write_path_and_cleared_by_a_status_change(runtime):
    ticket_id = await new_case(runtime)
    ticket = await update(runtime, ticket_id, {"status": "waiting_on_contact",
                                               "status_reason": "researching"})
    assert ticket.status_reason == "researching"
    with pytest.raises(InvalidInput) as refused:
        await update(runtime, ticket_id, {"status_reason": "problem_solved"})
    assert refused.value.message == (
        "status reason must be one of waiting_for_details, researching "
        "(for status waiting_on_contact)")
    assert refused.value.field == "status_reason"
    ticket = await update(runtime, ticket_id, {"status": "waiting_on_us"})
    assert ticket.status_reason is None
    ticket = await update(runtime, ticket_id, {"status": "closed",
                                               "status_reason": "problem_solved"})
    assert (ticket.status, ticket.status_reason) == ("closed", "problem_solved")


async def test_transitions_limit_what_follows_a_reason(runtime):
    ids = await reason_ids(runtime)
    async with transaction(runtime.sessions) as session:
        await status_reasons.set_transitions(
            session, {(ids["researching"], ids["information_provided"])}, actor=None)
    ticket_id = await new_case(runtime)
    await update(runtime, ticket_id, {"status": "waiting_on_contact",
                                      "status_reason": "researching"})
    with pytest.raises(InvalidInput, match="must be one of information_provided"):
        await update(runtime, ticket_id, {"status": "closed", "status_reason": "canceled"})
    async with transaction(runtime.sessions) as session:
        allowed = await status_reasons.allowed_for(session, await session.get(Ticket, ticket_id))
    assert [r.key for r in allowed["closed"]] == ["information_provided"]
    assert allowed["new"] == []
    await update(runtime, ticket_id, {"status": "closed",
                                      "status_reason": "information_provided"})


async def test_admin_changes_are_checked_ordered_and_audited(runtime):
    async with transaction(runtime.sessions) as session:
        added = await status_reasons.create_reason(session, status="waiting_on_us",
                                                   label="On hold", actor=None)
        assert (added.key, added.outcome) == ("on_hold", None)
        for values, field in [({"status": "nope", "label": "x"}, "status"),
                              ({"status": "closed", "label": "Done"}, "outcome"),
                              ({"status": "new", "label": "x", "outcome": "resolved"},
                               "outcome"),
                              ({"status": "waiting_on_us", "label": "On hold"}, "key"),
                              ({"status": "new", "label": " "}, "label")]:
            with pytest.raises(InvalidInput) as refused:
                await status_reasons.create_reason(session, **values, actor=None)
            assert refused.value.field == field
    ids = await reason_ids(runtime)
    async with transaction(runtime.sessions) as session:
        await status_reasons.move_reason(session, ids["researching"], -1, actor=None)
        order = [r.key for r in await status_reasons.list_reasons(session)
                 if r.status == "waiting_on_contact"]
        assert order == ["researching", "waiting_for_details"]
        actions = set((await session.scalars(select(AuditEntry.action))).all())
    assert {"status_reason.created", "status_reason.moved"} <= actions
