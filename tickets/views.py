"""Custom views of the inbox: the one writer of saved views, and the reads that list and
fetch them for someone. Who may do what is decided in `tickets.view_rules`; this module
gathers the facts, asks, and writes.

A view someone may not see is answered as one that does not exist (NotFound); one they see
but may not change is Forbidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Team, User
from accounts.service import team_ids_of
from core import clock
from core.errors import Forbidden, InvalidInput, NotFound
from inbox.access import Scope
from inbox.models import Inbox
from tickets.models import SavedView, Ticket
from tickets.queries import in_scope
from tickets.view_rules import (
    Person,
    ViewFacts,
    ViewFilters,
    may_change,
    may_see,
    refusal_to_publish,
)

MAX_VIEWS_LISTED = 200
"""The most views a list holds (by name); the rail counts each one it shows."""


@dataclass(frozen=True)
class ViewDraft:
    """What a view is made of, as its creator or editor gives it."""

    name: str
    visibility: str
    team_id: int | None
    filters: ViewFilters


async def person_of(session: AsyncSession, user: User) -> Person:
    """`user` as the view rules see them (with their active teams)."""
    return Person(user.id, user.is_admin, user.can_share_views,
                  frozenset(await team_ids_of(session, user.id)))


def facts_of(view: SavedView) -> ViewFacts:
    """`view` as the view rules see it."""
    return ViewFacts(view.owner_id, view.visibility, view.team_id)


def filters_of(view: SavedView) -> ViewFilters:
    """The stored filters of `view` (as they were validated when saved)."""
    return ViewFilters.model_validate(view.filters)


def parse_filters(data: Any) -> ViewFilters:
    """`data` as view filters; InvalidInput naming the first wrong filter
    (`filters.<name>`) otherwise."""
    try:
        return ViewFilters.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"{where or 'filters'}: {error['msg']}",
                           field=f"filters.{where}" if where else "filters") from None


async def visible_views(session: AsyncSession, person: Person, *,
                        limit: int = MAX_VIEWS_LISTED,
                        addressed_only: bool = False) -> list[SavedView]:
    """The views `person` may see (`view_rules.may_see`), by name, at most `limit`.
    `addressed_only` leaves out what an admin sees only as an admin (other people's
    private views, other teams' views): what the inbox's rail lists."""
    seen = true() if person.is_admin and not addressed_only else or_(
        SavedView.owner_id == person.id, SavedView.visibility == "shared",
        (SavedView.visibility == "team") & SavedView.team_id.in_(sorted(person.team_ids)))
    return list((await session.scalars(
        select(SavedView).where(seen).order_by(SavedView.name, SavedView.id)
        .limit(limit))).all())


async def visible_view(session: AsyncSession, person: Person, view_id: int) -> SavedView:
    """The view `view_id` when `person` may see it; NotFound otherwise (as for one that
    does not exist)."""
    view = await session.get(SavedView, view_id)
    if view is None or not may_see(person, facts_of(view)):
        raise NotFound(f"no view {view_id}")
    return view


async def _check_draft(session: AsyncSession, person: Person, scope: Scope,
                       draft: ViewDraft) -> ViewDraft:
    """`draft` with its name trimmed, checked: a name, a visibility `person` may give,
    and filters naming a user, team and inbox that exist (an inbox in `scope`)."""
    name = draft.name.strip()
    if not name:
        raise InvalidInput("give the view a name", field="name")
    refusal = refusal_to_publish(person, draft.visibility, draft.team_id)
    if refusal is not None:
        raise InvalidInput(refusal.message, field=refusal.field)
    await _check_references(session, scope, draft)
    return ViewDraft(name, draft.visibility, draft.team_id, draft.filters)


async def _check_references(session: AsyncSession, scope: Scope, draft: ViewDraft) -> None:
    f = draft.filters
    if draft.team_id is not None and await session.get(Team, draft.team_id) is None:
        raise InvalidInput(f"no team with id {draft.team_id}", field="team_id")
    if isinstance(f.owner_id, int) and await session.get(User, f.owner_id) is None:
        raise InvalidInput(f"no user with id {f.owner_id}", field="filters.owner_id")
    if f.team_id is not None and await session.get(Team, f.team_id) is None:
        raise InvalidInput(f"no team with id {f.team_id}", field="filters.team_id")
    if f.inbox_id is not None and (await session.get(Inbox, f.inbox_id) is None
                                   or not scope.allows(f.inbox_id)):
        raise InvalidInput(f"no inbox with id {f.inbox_id}", field="filters.inbox_id")


async def create_view(session: AsyncSession, person: Person, scope: Scope,
                      draft: ViewDraft) -> SavedView:
    """Save a new view owned by `person`; InvalidInput naming the field when the draft
    is wrong or asks for a visibility they may not give."""
    draft = await _check_draft(session, person, scope, draft)
    now = clock.now()
    view = SavedView(name=draft.name, visibility=draft.visibility, owner_id=person.id,
                     team_id=draft.team_id, filters=draft.filters.model_dump(mode="json"),
                     created_at=now, updated_at=now)
    session.add(view)
    await session.flush()
    return view


async def _changeable(session: AsyncSession, person: Person, view_id: int) -> SavedView:
    view = await visible_view(session, person, view_id)
    if not may_change(person, facts_of(view)):
        raise Forbidden("only its owner or an admin, allowed to share views, may change it")
    return view


async def update_view(session: AsyncSession, person: Person, scope: Scope, view_id: int,
                      draft: ViewDraft) -> SavedView:
    """Replace the view's name, visibility, team and filters (NotFound when `person` does
    not see it, Forbidden when they may not change it, InvalidInput for a wrong draft)."""
    view = await _changeable(session, person, view_id)
    draft = await _check_draft(session, person, scope, draft)
    view.name, view.visibility, view.team_id = draft.name, draft.visibility, draft.team_id
    view.filters = draft.filters.model_dump(mode="json")
    view.updated_at = clock.now()
    await session.flush()
    return view


async def delete_view(session: AsyncSession, person: Person, view_id: int) -> None:
    """Delete the view (NotFound when `person` does not see it, Forbidden when they may
    not change it)."""
    view = await _changeable(session, person, view_id)
    await session.delete(view)
    await session.flush()


async def categories_in_use(session: AsyncSession, scope: Scope,
                            limit: int = 100) -> list[str]:
    """Categories of the tickets in `scope`, alphabetically, at most `limit` (what a view
    may filter on; another inbox's categories are not told)."""
    rows = await session.scalars(
        select(Ticket.category).where(Ticket.category.is_not(None), in_scope(scope)).distinct()
        .order_by(Ticket.category).limit(limit))
    return [category for category in rows if category]

