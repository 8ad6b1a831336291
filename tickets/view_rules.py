"""Custom views of the inbox, as values: their filters and who may see, create and change
them. No I/O: the facts (the person, their teams, the view) are handed in.

    visibility   seen by                              created and changed by
    private      its owner, admins                    its owner, admins
    team         members of its team, its owner,      its owner or an admin, who must be
                 admins                               allowed to share views
    shared       everyone                             same as team

Anyone may create a private view. Team and shared views need `can_share_views` (admins
always have it), and a team view is for a team its creator belongs to (admins: any team).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from core.pagination import MAX_ID

VISIBILITIES = ("private", "team", "shared")
Visibility = Literal["private", "team", "shared"]
CONVERSATION_STATUSES = ("open", "closed", "spam")
PRIORITIES = ("low", "medium", "high", "urgent")
SLA_STATUSES = ("on_track", "due_soon", "overdue", "met")
CHANNELS = ("email", "chat", "slack", "form", "api", "phone")
"""The inbox's channels (`inbox.models.CHANNELS`, which a test keeps equal)."""

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _user_or_me(value: object) -> int | str:
    if value == "me" or (type(value) is int and 1 <= value <= MAX_ID):
        return value
    raise ValueError("must be a user's id or \"me\"")


OwnerChoice = Annotated[int | str, PlainValidator(_user_or_me), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"const": "me"}]})]
"""A user's id, or "me": whoever looks at the view (one error, naming the field, for
anything else)."""
NO_CONTROL_CHARS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*$"
Category = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_CONTROL_CHARS)]


class ViewFilters(BaseModel):
    """What a view keeps, every given filter AND-combined (one left out keeps all).

    `owner_id` is a user's id or "me" (whoever looks at the view); `unassigned` keeps
    conversations without an owner, so it cannot go with `owner_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    owner_id: OwnerChoice | None = None
    team_id: Id | None = None
    inbox_id: Id | None = None
    channel: Literal["email", "chat", "slack", "form", "api", "phone"] | None = None
    status: Literal["open", "closed", "spam"] | None = None
    priority: Literal["low", "medium", "high", "urgent"] | None = None
    category: Category | None = None
    sla_status: Literal["on_track", "due_soon", "overdue", "met"] | None = None
    unassigned: bool = False

    @model_validator(mode="after")
    def _owner_or_unassigned(self) -> ViewFilters:
        if self.unassigned and self.owner_id is not None:
            raise ValueError("a view keeps either an owner's or unassigned conversations")
        return self


@dataclass(frozen=True)
class Person:
    """Who is asking, as the rules need them."""

    id: int
    is_admin: bool
    can_share_views: bool
    team_ids: frozenset[int]


@dataclass(frozen=True)
class ViewFacts:
    """A view, as the rules need it."""

    owner_id: int
    visibility: str
    team_id: int | None


def may_see(person: Person, view: ViewFacts) -> bool:
    """Whether `person` may open `view` (and find it in their list)."""
    if person.is_admin or view.owner_id == person.id or view.visibility == "shared":
        return True
    return view.visibility == "team" and view.team_id in person.team_ids


def may_share(person: Person) -> bool:
    """Whether `person` may create and change team and shared views."""
    return person.is_admin or person.can_share_views


def may_change(person: Person, view: ViewFacts) -> bool:
    """Whether `person` may edit or delete `view`: its owner or an admin, and for a team or
    shared view only while allowed to share views."""
    if not (person.is_admin or view.owner_id == person.id):
        return False
    return view.visibility == "private" or may_share(person)


@dataclass(frozen=True)
class Refusal:
    """Why a view may not be saved as asked, and the field at fault."""

    field: str
    message: str


def refusal_to_publish(person: Person, visibility: str, team_id: int | None) -> Refusal | None:
    """Why `person` may not give a view this visibility (and team), or None when they
    may."""
    if visibility == "private":
        return None if team_id is None else Refusal("team_id", "a private view is for no team")
    if not may_share(person):
        return Refusal("visibility", "you may only create private views")
    if visibility == "shared":
        return None if team_id is None else Refusal(
            "team_id", "a shared view is for everyone, not a team")
    if team_id is None:
        return Refusal("team_id", "choose the team a team view is for")
    if not person.is_admin and team_id not in person.team_ids:
        return Refusal("team_id", "a team view is for a team you are a member of")
    return None


def visible_visibilities(person: Person) -> Collection[str]:
    """The visibilities `person` may choose when creating or editing a view."""
    return VISIBILITIES if may_share(person) else ("private",)
