"""The inbox's view counts: a capped count stops at its cap, and the rail shows the cap as
"999+"."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox import queries
from inbox.access import EVERY_INBOX
from inbox.messages import InboundMessage
from inbox.service import ingest
from web.pages.inbox import RailEntry
from web.pages.views import VIEWS


async def receive(runtime, n: int) -> None:
    message = InboundMessage(inbox="support", channel="email", sender_email=f"c{n}@example.org",
                             sender_name=f"Customer {n}", subject=f"Question {n}",
                             text="Hello", external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        await ingest(session, message)


@pytest.mark.parametrize(("cap", "expected"), [(None, 5), (10, 5), (5, 5), (3, 3), (1, 1)])
async def test_a_capped_count_stops_at_its_cap(runtime, cap, expected):
    for n in range(5):
        await receive(runtime, n)
    async with transaction(runtime.sessions) as session:
        counted = await queries.count_conversations(
            session, queries.ConversationFilter(status="open"), scope=EVERY_INBOX, cap=cap)
    assert counted == expected


@pytest.mark.parametrize(("count", "label"), [
    (0, "0"), (7, "7"), (queries.COUNT_CAP - 1, "999"), (queries.COUNT_CAP, "999+")])
def test_the_rail_shows_the_cap_as_more(count, label):
    assert queries.COUNT_CAP == 1000
    assert RailEntry(VIEWS["open"], count, current=False).count_label == label
