"""The sort keys a conversation keeps of other rows (contact's name, owner's name, ticket
priority rank, soonest running SLA deadline) and the ticket's team and status its views
read follow every change of what they copy.

A table of changes, each made the way an agent or a customer makes it (the API, inbound
mail); after each, the changed conversation's key must have moved, and every conversation's
keys must equal what the tables they copy say now (the oracle below reads those tables).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select

from accounts.models import User
from connectors.ingest import accept
from core.db import transaction
from core.migrations import alembic_config
from inbox.messages import InboundMessage
from inbox.models import NO_DEADLINE, Contact, Conversation
from sla.models import SlaClock
from tests.support import run_jobs
from tickets.models import Ticket, TicketConversation
from tickets.state import PRIORITY_RANK

Keys = tuple[str, str, int, datetime, int | None, str | None]


def sla_settings(first_response_minutes: int = 60) -> dict[str, Any]:
    """Clocks running around the clock; a low priority has no goal at all."""
    return {"mode": "always", "calendars": [],
            "goals": {"first_response": {"minutes": first_response_minutes},
                      "next_response": {"minutes": 30}, "close": {"minutes": 2400}},
            "property": "priority",
            "values": {"urgent": {"first_response": {"minutes": 10}}, "low": None}}


async def stored_keys(runtime) -> dict[int, Keys]:
    async with transaction(runtime.sessions) as session:
        rows = await session.execute(select(
            Conversation.id, Conversation.sort_contact, Conversation.sort_owner,
            Conversation.sort_priority, Conversation.sort_due_at, Conversation.ticket_team_id,
            Conversation.ticket_status))
        return {row[0]: (row[1], row[2], row[3], row[4], row[5], row[6]) for row in rows}


async def expected_keys(runtime) -> dict[int, Keys]:
    """The oracle: each key from the rows it copies, read now."""
    async with transaction(runtime.sessions) as session:
        contacts = {c.id: c for c in (await session.scalars(select(Contact))).all()}
        names = dict((await session.execute(select(User.id, User.name))).all())
        tickets = dict((await session.execute(
            select(TicketConversation.conversation_id, Ticket)
            .join(Ticket, Ticket.id == TicketConversation.ticket_id))).all())
        running: dict[int, list[datetime]] = {}
        for clock_row in (await session.scalars(select(SlaClock))).all():
            if clock_row.stopped_at is None and clock_row.due_at is not None:
                running.setdefault(clock_row.ticket_id, []).append(clock_row.due_at)
        keys = {}
        for c in (await session.scalars(select(Conversation))).all():
            contact, ticket = contacts[c.contact_id], tickets.get(c.id)
            keys[c.id] = (
                contact.name or contact.email or "",
                names[c.owner_id] if c.owner_id is not None else "",
                PRIORITY_RANK.get(ticket.priority, -1) if ticket else -1,
                min(running.get(ticket.id, []), default=NO_DEADLINE) if ticket else NO_DEADLINE,
                ticket.team_id if ticket else None,
                ticket.status if ticket else None)
        return keys


@dataclass
class Scene:
    """Two tickets from the contact form (an SLA policy in force), an agent to assign."""

    client: Any
    runtime: Any
    headers: dict[str, str]
    agent_id: int
    conversations: list[int]
    tickets: list[int]
    clock: Any
    before: dict[int, Keys] | None = None
    """The keys just before the change's last step (its steps before prepare it)."""

    async def about_to_change(self) -> None:
        self.before = await stored_keys(self.runtime)

    async def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.patch(path, headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def post(self, path: str, body: dict[str, Any]) -> None:
        response = await self.client.post(path, headers=self.headers, json=body)
        assert response.status_code in (200, 201), response.text


def customer_message(email: str, name: str | None, *, thread: str) -> InboundMessage:
    return InboundMessage(inbox="support", channel="api", sender_email=email,
                          sender_name=name, subject="Help", text="Hello",
                          external_id=uuid.uuid4().hex, thread_key=thread)


@pytest.fixture
async def scene(client, runtime, admin, agent, manual_clock) -> Scene:
    _, headers = admin
    agent_id, _ = agent
    response = await client.put("/api/sla/settings", headers=headers, json=sla_settings())
    assert response.status_code == 200, response.text
    conversations, tickets = [], []
    for email, name in (("anna@example.org", "Anna"), ("bo@example.org", "Bo")):
        opened = await accept(runtime.sessions, customer_message(email, name, thread=email))
        conversation = (await client.get(f"/api/conversations/{opened.conversation_id}",
                                         headers=headers)).json()
        conversations.append(opened.conversation_id)
        tickets.append(conversation["ticket_id"])
    return Scene(client, runtime, headers, agent_id, conversations, tickets, manual_clock)


def mail(sender: str, name: str | None, subject: str) -> InboundMessage:
    return InboundMessage(inbox="support", channel="email", sender_email=sender,
                          sender_name=name, subject=subject, text="Hello",
                          external_id=f"{uuid.uuid4().hex}@example.org")


async def contact_named_by_a_later_message(s: Scene) -> int:
    first = await accept(s.runtime.sessions, mail("nameless@example.org", None, "First"))
    await s.about_to_change()
    s.clock.advance(timedelta(minutes=1))
    await accept(s.runtime.sessions, mail("nameless@example.org", "Nia Novak", "Second"))
    return first.conversation_id


async def owner_assigned(s: Scene) -> int:
    await s.patch(f"/api/conversations/{s.conversations[0]}", {"owner_id": s.agent_id})
    return s.conversations[0]


async def owner_unassigned(s: Scene) -> int:
    await owner_assigned(s)
    await s.about_to_change()
    await s.patch(f"/api/conversations/{s.conversations[0]}", {"owner_id": None})
    return s.conversations[0]


async def owner_renamed(s: Scene) -> int:
    await owner_assigned(s)
    await s.about_to_change()
    await s.patch(f"/api/users/{s.agent_id}", {"name": "Zoe Renamed"})
    return s.conversations[0]


async def priority_raised(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"priority": "urgent"})
    return s.conversations[0]


async def ticket_merged_into_an_urgent_one(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"priority": "urgent"})
    await s.about_to_change()
    await s.post(f"/api/tickets/{s.tickets[0]}/merge",
                 {"other_id": s.tickets[1], "primary_id": s.tickets[0]})
    return s.conversations[1]


async def clocks_dropped_by_a_priority_without_goals(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"priority": "low"})
    return s.conversations[0]


async def clocks_started_by_a_priority_with_goals(s: Scene) -> int:
    await clocks_dropped_by_a_priority_without_goals(s)
    await s.about_to_change()
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"priority": "high"})
    return s.conversations[0]


async def first_response_met_by_a_reply(s: Scene) -> int:
    await s.post(f"/api/conversations/{s.conversations[0]}/messages",
                 {"text": "On it", "kind": "reply"})
    return s.conversations[0]


async def next_response_started_by_the_customer(s: Scene) -> int:
    await first_response_met_by_a_reply(s)
    s.clock.advance(timedelta(minutes=5))
    await s.about_to_change()
    again = await accept(s.runtime.sessions,
                         customer_message("anna@example.org", "Anna", thread="anna@example.org"))
    assert again.conversation_id == s.conversations[0]
    return s.conversations[0]


async def new_team(s: Scene, name: str) -> int:
    response = await s.client.post("/api/teams", headers=s.headers,
                                   json={"name": name, "member_ids": [s.agent_id]})
    assert response.status_code == 201, response.text
    team_id: int = response.json()["id"]
    return team_id


async def team_set(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"team_id": await new_team(s, "Tier 1")})
    return s.conversations[0]


async def ticket_merged_into_one_of_a_team(s: Scene) -> int:
    await team_set(s)
    await s.about_to_change()
    await s.post(f"/api/tickets/{s.tickets[0]}/merge",
                 {"other_id": s.tickets[1], "primary_id": s.tickets[0]})
    return s.conversations[1]


async def ticket_waits_on_the_contact(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"status": "waiting_on_contact"})
    return s.conversations[0]


async def ticket_closed(s: Scene) -> int:
    await s.patch(f"/api/tickets/{s.tickets[0]}", {"status": "closed"})
    return s.conversations[0]


async def clocks_replanned_by_new_settings(s: Scene) -> int:
    response = await s.client.put("/api/sla/settings", headers=s.headers,
                                  json=sla_settings(first_response_minutes=15))
    assert response.status_code == 200, response.text
    await run_jobs(s.runtime)
    return s.conversations[0]


CONTACT, OWNER, PRIORITY, DUE, TEAM, STATUS = range(6)
KEY_NAMES = ("contact", "owner", "priority", "due", "team", "status")
CHANGES: list[tuple[Callable[[Scene], Awaitable[int]], int]] = [
    (contact_named_by_a_later_message, CONTACT),
    (owner_assigned, OWNER),
    (owner_unassigned, OWNER),
    (owner_renamed, OWNER),
    (priority_raised, PRIORITY),
    (priority_raised, DUE),  # urgent has a shorter first-response goal
    (ticket_merged_into_an_urgent_one, PRIORITY),
    (ticket_merged_into_an_urgent_one, DUE),
    (clocks_dropped_by_a_priority_without_goals, DUE),
    (clocks_started_by_a_priority_with_goals, DUE),
    (first_response_met_by_a_reply, DUE),
    (next_response_started_by_the_customer, DUE),
    (ticket_closed, DUE),
    (clocks_replanned_by_new_settings, DUE),
    (team_set, TEAM),
    (ticket_merged_into_one_of_a_team, TEAM),
    (ticket_waits_on_the_contact, STATUS),
    (ticket_closed, STATUS),
    (next_response_started_by_the_customer, STATUS),  # the customer wrote: waiting on us
]


@pytest.mark.parametrize("change, key", CHANGES,
                         ids=[f"{change.__name__}-{KEY_NAMES[key]}" for change, key in CHANGES])
async def test_sort_keys_follow_the_change(scene, change, key):
    before = await stored_keys(scene.runtime)
    assert before == await expected_keys(scene.runtime)
    changed = await change(scene)
    after = await stored_keys(scene.runtime)
    assert after == await expected_keys(scene.runtime)
    assert (scene.before or before)[changed][key] != after[changed][key], (
        "the change moved nothing")


async def test_migration_0014_fills_in_the_keys_of_existing_conversations(scene, database_url):
    """Keys written by the app, dropped by going back to 0013, are filled in again by 0014
    from the tables they copy."""
    await accept(scene.runtime.sessions, mail("nameless@example.org", None, "No name"))
    spam = mail("robot@example.org", "Robot", "Out of office")
    await accept(scene.runtime.sessions, replace(spam, automatic=True))  # no ticket
    await owner_assigned(scene)
    await clocks_dropped_by_a_priority_without_goals(scene)
    await first_response_met_by_a_reply(scene)
    await team_set(scene)
    written = await stored_keys(scene.runtime)
    assert written == await expected_keys(scene.runtime)
    assert {keys[PRIORITY] for keys in written.values()} == {-1, 0, 1}
    assert {keys[DUE] == NO_DEADLINE for keys in written.values()} == {True, False}
    assert {keys[TEAM] is None for keys in written.values()} == {True, False}
    assert {keys[STATUS] is None for keys in written.values()} == {True, False}
    await scene.runtime.engine.dispose()
    config = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "0013")
    finally:
        await asyncio.to_thread(command.upgrade, config, "head")
    assert await stored_keys(scene.runtime) == written
