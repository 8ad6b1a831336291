"""What a custom view keeps, as a table: each filter alone and combined, on SQLite and on
PostgreSQL, through the listing and the count the inbox page uses — and always inside the
viewer's scope, whoever made the view."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from accounts.models import User
from accounts.service import create_team
from core import clock
from core.db import transaction
from inbox import queries
from inbox.access import visible_inboxes
from inbox.messages import InboundMessage
from inbox.service import ingest, set_owner, set_status
from tests.support import add_to_inbox, add_user
from tickets.service import ticket_for_conversation, update_ticket
from tickets.view_rules import ViewFilters
from tickets.views import categories_in_use
from web.listing import list_page, saved_view_filter

pytestmark = pytest.mark.usefixtures("manual_clock")


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "billing", "name": "Billing", "addresses": ["billing@example.com"]}]}


@dataclass
class Desk:
    runtime: object
    users: dict[str, int]
    teams: dict[str, int]
    inboxes: dict[str, int]
    conversations: dict[str, int]


async def _receive(runtime, inbox: str, channel: str, subject: str) -> int:
    key = uuid.uuid4().hex
    message = InboundMessage(inbox=inbox, channel=channel, sender_email=f"{key[:8]}@example.org",
                             sender_name="Cleo", subject=subject, text="Help",
                             external_id=f"{key}@example.org", thread_key=key)
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


async def _set(runtime, conversation_id: int, *, owner: int | None = None,
               status: str | None = None, **ticket) -> None:
    async with transaction(runtime.sessions) as session:
        if owner is not None:
            await set_owner(session, conversation_id, owner, actor_id=None, cause="agent")
        if ticket:
            found = await ticket_for_conversation(session, conversation_id)
            assert found is not None
            await update_ticket(session, found.id, ticket, actor_id=None, cause="agent")
        if status is not None:
            await set_status(session, conversation_id, status, actor_id=None, cause="agent")


@pytest.fixture
async def desk(runtime, client, manual_clock) -> Desk:
    """Two inboxes, three agents, and conversations that differ in every filter.

        name     inbox    channel  owner  status  priority  category  team     SLA at the end
        refund   billing  email    ann    open    urgent    Refund    billing  overdue
        card     billing  chat     -      open    urgent    -         -        due_soon
        invoice  billing  form     bo     open    low       Refund    billing  met
        printer  support  email    -      open    high      -         -        on_track
        login    support  chat     ann    closed  urgent    Refund    -        on_track
        junk     support  email    -      spam    medium    -         -        on_track
    """
    users = {}
    for name, role in (("ann", "agent"), ("bo", "agent"), ("otto", "agent"),
                       ("ada", "admin")):
        users[name], _ = await add_user(runtime, f"{name}@example.com", role, name.title())
    async with transaction(runtime.sessions) as session:
        billing_team = (await create_team(session, "Billing team", [users["ann"]])).id
    await add_to_inbox(runtime, "support", user_ids=(users["ann"], users["bo"], users["otto"]))
    await add_to_inbox(runtime, "billing", user_ids=(users["ann"], users["bo"]))
    _, admin_headers = await add_user(runtime, "boss@example.com", "admin")
    await client.put("/api/sla/settings", headers=admin_headers, json={
        "mode": "always", "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15}}})
    inboxes = {i["slug"]: i["id"] for i in
               (await client.get("/api/inboxes", headers=admin_headers)).json()["items"]}

    c = {"refund": await _receive(runtime, "billing", "email", "Refund please")}
    manual_clock.advance(timedelta(minutes=20))
    c["card"] = await _receive(runtime, "billing", "chat", "Card declined")
    c["invoice"] = await _receive(runtime, "billing", "form", "Invoice address")
    manual_clock.advance(timedelta(minutes=30))
    for name, inbox, channel in (("printer", "support", "email"), ("login", "support", "chat"),
                                 ("junk", "support", "email")):
        c[name] = await _receive(runtime, inbox, channel, name.title())
    answered = await client.post(f"/api/conversations/{c['invoice']}/messages",
                                 headers=admin_headers, json={"kind": "reply", "text": "Done"})
    assert answered.status_code == 201
    await _set(runtime, c["refund"], owner=users["ann"], priority="urgent", category="Refund",
               team_id=billing_team)
    await _set(runtime, c["card"], priority="urgent")
    await _set(runtime, c["invoice"], owner=users["bo"], priority="low", category="Refund",
               team_id=billing_team)
    await _set(runtime, c["printer"], priority="high")
    await _set(runtime, c["login"], owner=users["ann"], priority="urgent", category="Refund",
               status="closed")
    await _set(runtime, c["junk"], status="spam")
    manual_clock.advance(timedelta(minutes=20))  # refund: 90 min old, card: 70, the rest: 20
    return Desk(runtime, users, {"billing_team": billing_team}, inboxes, c)


EVERYTHING = {"refund", "card", "invoice", "printer", "login", "junk"}

TABLE = [
    # (filters, viewer, kept); "@x" is the id of user/team/inbox x, filled in per run.
    ({}, "ann", EVERYTHING),
    ({}, "otto", {"printer", "login", "junk"}),
    ({}, "ada", EVERYTHING),
    ({"owner_id": "me"}, "ann", {"refund", "login"}),
    ({"owner_id": "me"}, "bo", {"invoice"}),
    ({"owner_id": "@bo"}, "ann", {"invoice"}),
    ({"owner_id": "@ann"}, "otto", {"login"}),
    ({"unassigned": True}, "ann", {"card", "printer", "junk"}),
    ({"team_id": "@billing_team"}, "ann", {"refund", "invoice"}),
    ({"team_id": "@billing_team"}, "otto", set()),
    ({"inbox_id": "@billing"}, "ann", {"refund", "card", "invoice"}),
    ({"inbox_id": "@billing"}, "otto", set()),
    ({"channel": "chat"}, "ann", {"card", "login"}),
    ({"channel": "chat"}, "otto", {"login"}),
    ({"status": "open"}, "ann", {"refund", "card", "invoice", "printer"}),
    ({"status": "closed"}, "ann", {"login"}),
    ({"status": "spam"}, "ann", {"junk"}),
    ({"priority": "urgent"}, "ann", {"refund", "card", "login"}),
    ({"priority": "urgent"}, "otto", {"login"}),
    ({"priority": "low"}, "ann", {"invoice"}),
    ({"priority": "medium"}, "ann", {"junk"}),
    ({"category": "Refund"}, "ann", {"refund", "invoice", "login"}),
    ({"category": "Refund"}, "otto", {"login"}),
    ({"sla_status": "overdue"}, "ann", {"refund"}),
    ({"sla_status": "due_soon"}, "ann", {"card"}),
    ({"sla_status": "met"}, "ann", {"invoice"}),
    ({"sla_status": "on_track"}, "ann", {"printer", "login", "junk"}),
    ({"sla_status": "on_track"}, "otto", {"printer", "login", "junk"}),
    ({"sla_status": "on_track", "status": "open"}, "otto", {"printer"}),
    ({"sla_status": "overdue"}, "otto", set()),
    ({"priority": "urgent", "inbox_id": "@billing"}, "ann", {"refund", "card"}),
    ({"priority": "urgent", "inbox_id": "@billing"}, "otto", set()),
    ({"priority": "urgent", "status": "open", "unassigned": True}, "ann", {"card"}),
    ({"owner_id": "me", "status": "open", "category": "Refund"}, "ann", {"refund"}),
    ({"team_id": "@billing_team", "sla_status": "met", "channel": "form"}, "bo", {"invoice"}),
    ({"team_id": "@billing_team", "sla_status": "met", "channel": "email"}, "bo", set()),
    ({"inbox_id": "@support", "channel": "chat", "priority": "urgent", "owner_id": "@ann",
      "status": "closed", "category": "Refund", "sla_status": "on_track"}, "otto", {"login"}),
]


def _resolved(desk: Desk, filters: dict) -> ViewFilters:
    ids = {**desk.users, **desk.teams, **desk.inboxes}
    return ViewFilters.model_validate(
        {key: ids[value[1:]] if isinstance(value, str) and value.startswith("@") else value
         for key, value in filters.items()})


@pytest.mark.parametrize(("filters", "viewer", "kept"), TABLE,
                         ids=[f"{viewer}:{filters}" for filters, viewer, _ in TABLE])
async def test_a_view_keeps_what_its_filters_say_inside_the_viewers_scope(desk, filters,
                                                                          viewer, kept):
    names = {conversation_id: name for name, conversation_id in desk.conversations.items()}
    async with transaction(desk.runtime.sessions) as session:
        user = await session.get(User, desk.users[viewer])
        scope = await visible_inboxes(session, user)
        f = saved_view_filter(_resolved(desk, filters), user_id=user.id, now=clock.now())
        listing = await list_page(session, f, scope=scope, limit=50, cursor=None, now=clock.now())
        count = await queries.count_conversations(session, f, scope=scope)
    listed = {names[item.row.conversation.id] for item in listing.items}
    assert listed == kept
    assert count == len(kept)


async def test_a_view_sorts_and_pages_like_any_listing(desk):
    async with transaction(desk.runtime.sessions) as session:
        user = await session.get(User, desk.users["ann"])
        scope = await visible_inboxes(session, user)
        f = saved_view_filter(ViewFilters(status="open"), user_id=user.id, now=clock.now(),
                              sort="subject")
        first = await list_page(session, f, scope=scope, limit=2, cursor=None, now=clock.now())
        rest = await list_page(session, f, scope=scope, limit=2, cursor=first.next_cursor,
                               now=clock.now())
    subjects = [item.row.conversation.subject for item in first.items + rest.items]
    assert subjects == ["Card declined", "Invoice address", "Printer", "Refund please"]
    assert rest.next_cursor is None


@pytest.mark.parametrize("viewer, told", [("ann", ["Chargeback", "Refund"]),
                                          ("otto", ["Refund"]),
                                          ("ada", ["Chargeback", "Refund"])])
async def test_the_categories_offered_are_those_of_the_viewers_inboxes(desk, viewer, told):
    await _set(desk.runtime, desk.conversations["card"], category="Chargeback")  # billing
    async with transaction(desk.runtime.sessions) as session:
        user = await session.get(User, desk.users[viewer])
        assert await categories_in_use(session, await visible_inboxes(session, user)) == told
