"""Listings issue a fixed number of SQL statements per page, whatever the page's length:
the ticket list API, the conversation list API and the inbox page, each asked for a page of
10 rows and a page of 50, must send the database the same number of statements."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from core.db import transaction
from inbox import service as inbox
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.support import PASSWORD, add_to_inbox, add_user

CONVERSATIONS = 60


@contextmanager
def statements(runtime: Any) -> Iterator[list[str]]:
    """The SQL statements sent on the runtime's engine inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
async def desk(runtime, agent):
    """60 open conversations (each with a ticket and SLA clocks) in support, owned by
    three agents in turn or by no one, some with a reply and a comment."""
    owners = [agent[0]]
    for name in ("Bo", "Cy"):
        user_id, _ = await add_user(runtime, f"{name.lower()}@example.com", "agent", name)
        owners.append(user_id)
    await add_to_inbox(runtime, "support", user_ids=tuple(owners))
    for n in range(CONVERSATIONS):
        message = InboundMessage(
            inbox="support", channel="email", sender_email=f"c{n}@example.org",
            sender_name=f"Customer {n}", subject=f"Question {n}",
            text=f"Hello, a question about invoice {n}.",
            external_id=f"{uuid.uuid4().hex}@example.org")
        async with transaction(runtime.sessions) as session:
            conversation_id = (await ingest(session, message)).conversation_id
            if n % 4:
                await inbox.set_owner(session, conversation_id, owners[n % 3],
                                      actor_id=owners[0], cause="agent")
            if n % 5 == 0:
                await inbox.add_agent_message(session, conversation_id, author_id=owners[0],
                                              kind="comment", text="Looking into it")
    return owners


async def count_for(runtime: Any, client: Any, url: str, **kwargs: Any) -> tuple[int, Any]:
    """(statements sent while answering GET `url`, the answer)."""
    with statements(runtime) as sent:
        answer = await client.get(url, **kwargs)
    assert answer.status_code == 200, answer.text
    return len(sent), answer


@pytest.mark.parametrize("path", ["/api/tickets", "/api/conversations"])
async def test_api_listing_statements_do_not_grow_with_the_page(runtime, client, agent, desk,
                                                                path):
    headers = agent[1]
    await count_for(runtime, client, f"{path}?limit=1", headers=headers)  # caches filled
    small, small_answer = await count_for(runtime, client, f"{path}?limit=10",
                                          headers=headers)
    large, large_answer = await count_for(runtime, client, f"{path}?limit=50",
                                          headers=headers)
    assert len(small_answer.json()["items"]) == 10
    assert len(large_answer.json()["items"]) == 50
    assert small == large


async def test_inbox_page_statements_do_not_grow_with_the_page(runtime, client, agent, desk):
    login = await client.post("/login", data={"email": "agent@example.com",
                                              "password": PASSWORD, "next": "/"})
    assert login.status_code == 303
    await count_for(runtime, client, "/?view=closed")  # caches filled
    full, first = await count_for(runtime, client, "/")
    rows = re.compile(r'<tr class="row')
    assert len(rows.findall(first.text)) == 50
    cursor = re.search(r'href="([^"]*cursor=[^"]*)">Next page', first.text)
    assert cursor is not None
    partial, second = await count_for(runtime, client, cursor.group(1).replace("&amp;", "&"))
    assert len(rows.findall(second.text)) == CONVERSATIONS - 50
    assert full == partial
