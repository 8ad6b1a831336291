"""The queue and routing pages pass axe-core in a real Chromium at both widths: a queue's
view, the ticket card with its queue part, and the admin pages for queues and rule sets."""

from __future__ import annotations

import pytest

from accounts.models import User
from core.db import transaction
from tests.support import CHROMIUM, add_user
from tests.web.site import WIDTHS, chromium, serving
from tests.web.test_accessibility import check, receive
from tickets import queues, routing_rules
from tickets import service as tickets

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")]


@pytest.fixture
async def routed(runtime) -> dict[str, int]:
    """An admin (who logs in as `check` does); two queues, an active rule set with a rule,
    and a case routed into the first queue."""
    admin_id, _ = await add_user(runtime, "ann@example.com", "admin", "Ann Admin")
    conversation_id = await receive(runtime, "Printer on fire", "It smokes.")
    await receive(runtime, "Cannot log in", "No reset mail.")
    async with transaction(runtime.sessions) as session:
        ann = await session.get(User, admin_id)
        assert ann is not None
        printers = await queues.create_queue(session, {"name": "Printers"}, actor=ann)
        await queues.create_queue(session, {"name": "Tier 2", "is_private": True,
                                            "member_ids": [admin_id]}, actor=ann)
        rule_set = await routing_rules.create_rule_set(session, "Main", actor=ann)
        await routing_rules.add_rule(session, rule_set.id, "Printers", [
            {"field": "subject", "value": "printer"}], {"kind": "queue", "id": printers.id},
            actor=ann)
        await routing_rules.set_active(session, rule_set.id, True, actor=ann)
        ticket = await tickets.ticket_for_conversation(session, conversation_id)
        assert ticket is not None
        decided = await routing_rules.route_tickets(session, [ticket.id], actor_id=admin_id)
        assert decided[ticket.id] is not None
    return {"queue": printers.id, "set": rule_set.id, "conversation": conversation_id}


@pytest.mark.parametrize("width", WIDTHS.values())
async def test_queue_and_routing_pages(runtime, routed, tmp_path, width):
    async with serving(runtime) as base, chromium() as browser:
        for path, name in ((f"/queues/{routed['queue']}", "axe-queue"),
                           (f"/conversations/{routed['conversation']}", "axe-card"),
                           ("/admin/queues", "axe-admin-queues"),
                           (f"/admin/routing/{routed['set']}", "axe-admin-rules")):
            await check(browser, base, path, width, tmp_path, name)
