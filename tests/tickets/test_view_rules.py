"""Who may see, change and publish a custom view: tables over the pure rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inbox.models import CHANNELS, CONVERSATION_STATUSES
from tickets import state
from tickets.view_rules import (
    Person,
    ViewFacts,
    ViewFilters,
    may_change,
    may_see,
    refusal_to_publish,
    visible_visibilities,
)

OWNER = Person(1, is_admin=False, can_share_views=False, team_ids=frozenset({10}))
SHARER = Person(1, is_admin=False, can_share_views=True, team_ids=frozenset({10}))
TEAMMATE = Person(2, is_admin=False, can_share_views=False, team_ids=frozenset({10}))
STRANGER = Person(3, is_admin=False, can_share_views=True, team_ids=frozenset({20}))
ADMIN = Person(4, is_admin=True, can_share_views=False, team_ids=frozenset())

PRIVATE = ViewFacts(owner_id=1, visibility="private", team_id=None)
TEAM = ViewFacts(owner_id=1, visibility="team", team_id=10)
SHARED = ViewFacts(owner_id=1, visibility="shared", team_id=None)


@pytest.mark.parametrize(("person", "view", "sees"), [
    (OWNER, PRIVATE, True), (TEAMMATE, PRIVATE, False), (STRANGER, PRIVATE, False),
    (ADMIN, PRIVATE, True),
    (OWNER, TEAM, True), (TEAMMATE, TEAM, True), (STRANGER, TEAM, False), (ADMIN, TEAM, True),
    (OWNER, SHARED, True), (TEAMMATE, SHARED, True), (STRANGER, SHARED, True),
    (ADMIN, SHARED, True),
])
def test_who_sees_a_view(person, view, sees):
    assert may_see(person, view) is sees


@pytest.mark.parametrize(("person", "view", "changes"), [
    (OWNER, PRIVATE, True), (TEAMMATE, PRIVATE, False), (ADMIN, PRIVATE, True),
    (OWNER, TEAM, False),  # the owner lost the permission to share
    (SHARER, TEAM, True), (TEAMMATE, TEAM, False), (STRANGER, TEAM, False), (ADMIN, TEAM, True),
    (OWNER, SHARED, False), (SHARER, SHARED, True), (STRANGER, SHARED, False),
    (ADMIN, SHARED, True),
])
def test_who_changes_a_view(person, view, changes):
    assert may_change(person, view) is changes


@pytest.mark.parametrize(("person", "visibility", "team_id", "refused"), [
    (OWNER, "private", None, None),
    (OWNER, "private", 10, ("team_id", "a private view is for no team")),
    (OWNER, "team", 10, ("visibility", "you may only create private views")),
    (OWNER, "shared", None, ("visibility", "you may only create private views")),
    (SHARER, "team", 10, None),
    (SHARER, "team", None, ("team_id", "choose the team a team view is for")),
    (SHARER, "team", 20, ("team_id", "a team view is for a team you are a member of")),
    (SHARER, "shared", None, None),
    (SHARER, "shared", 10, ("team_id", "a shared view is for everyone, not a team")),
    (ADMIN, "team", 20, None),
    (ADMIN, "shared", None, None),
])
def test_who_publishes_a_view(person, visibility, team_id, refused):
    refusal = refusal_to_publish(person, visibility, team_id)
    assert (refusal and (refusal.field, refusal.message)) == refused


@pytest.mark.parametrize(("person", "offered"), [
    (OWNER, ("private",)), (SHARER, ("private", "team", "shared")),
    (ADMIN, ("private", "team", "shared")),
])
def test_the_visibilities_offered(person, offered):
    assert tuple(visible_visibilities(person)) == offered


def test_the_filters_know_the_inbox_and_ticket_values():
    schema = ViewFilters.model_json_schema()["properties"]

    def options(name: str) -> tuple[str, ...]:
        return tuple(next(branch["enum"] for branch in schema[name]["anyOf"] if "enum" in branch))

    assert options("channel") == CHANNELS
    assert options("status") == CONVERSATION_STATUSES
    assert options("priority") == state.PRIORITIES


@pytest.mark.parametrize(("data", "field"), [
    ({"priority": "critical"}, "priority"),
    ({"owner_id": "you"}, "owner_id"),
    ({"owner_id": "7"}, "owner_id"),
    ({"owner_id": True}, "owner_id"),
    ({"inbox_id": 0}, "inbox_id"),
    ({"unassigned": "yes"}, "unassigned"),
    ({"category": ""}, "category"),
    ({"category": "a\x00b"}, "category"),
    ({"sla_status": "paused"}, "sla_status"),
    ({"colour": "red"}, "colour"),
])
def test_wrong_filters_are_refused_naming_the_filter(data, field):
    with pytest.raises(ValidationError) as refused:
        ViewFilters.model_validate(data)
    assert refused.value.errors()[0]["loc"][0] == field


def test_an_owner_and_unassigned_contradict_each_other():
    with pytest.raises(ValidationError, match="either an owner's or unassigned"):
        ViewFilters.model_validate({"owner_id": "me", "unassigned": True})
    assert ViewFilters.model_validate({"owner_id": 5, "priority": "urgent"}).owner_id == 5
