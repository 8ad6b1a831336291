"""Custom views in the inbox page: their place in the rail (with live counts), the list of
one at `/?view=<id>`, and the form that creates (`/views/new`) or edits
(`/views/<id>/edit`) one, and deletes it. Plain forms answered by a 303; a wrong form is
shown again with what is wrong, next to its field.

Who may do what, and the filters' SQL, live in the tickets room (`tickets.views`,
`tickets.view_rules`, `tickets.queries.view_conditions`); this module only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import active_teams, active_users
from core.db import transaction
from core.errors import Forbidden, InvalidInput, UserError
from core.pagination import MAX_ID
from inbox import access, queries
from inbox.models import CHANNELS
from inbox.queries import ConversationFilter
from tickets import views
from tickets.models import SavedView
from tickets.view_rules import (
    CONVERSATION_STATUSES,
    PRIORITIES,
    SLA_STATUSES,
    Person,
    ViewFilters,
    may_change,
    visible_visibilities,
)
from web.api.common import IdPath, RuntimeDep
from web.listing import saved_view_filter
from web.pages.common import CurrentPageCaller, PageCaller, render, see_other
from web.pages.format import count_label

router = APIRouter(include_in_schema=False)

RAIL_VIEWS = 25
"""The most custom views the rail shows (by name), each counted as the default views are."""
SLA_NAMES = {"on_track": "On track", "due_soon": "Due soon", "overdue": "Overdue",
             "met": "Met"}
VISIBILITY_NAMES = {"private": "Only me", "team": "A team", "shared": "Everyone"}


@dataclass(frozen=True)
class CustomEntry:
    """A custom view in the rail: its key (its id, in the URL), name and count."""

    key: str
    name: str
    count: int
    """Capped at `queries.COUNT_CAP`, as the default views' counts are."""
    current: bool

    @property
    def count_label(self) -> str:
        """The count as shown: "999+" from the cap on."""
        return count_label(self.count, queries.COUNT_CAP)


@dataclass(frozen=True)
class Chosen:
    """The custom view a page shows, and whether the caller may change it."""

    view: SavedView
    filters: ViewFilters
    changeable: bool


def view_id_of(key: str) -> int | None:
    """The id in `?view=<id>`, or None for a default view's key."""
    ascii_digits = key.isascii() and key.isdigit()
    return int(key) if ascii_digits and 0 < int(key) <= MAX_ID else None


async def chosen(session: AsyncSession, caller: PageCaller, view_id: int) -> Chosen:
    """The custom view `view_id` when the caller may see it; NotFound otherwise."""
    person = await views.person_of(session, caller.user)
    view = await views.visible_view(session, person, view_id)
    return Chosen(view, views.filters_of(view), may_change(person, views.facts_of(view)))


def listing_filter(choice: Chosen, caller: PageCaller, *, now: datetime, sort: str,
                   inbox: str | None, channel: str | None) -> ConversationFilter:
    """The list of the chosen view as the caller sees it."""
    return saved_view_filter(choice.filters, user_id=caller.user.id, now=now, sort=sort,
                             inbox=inbox, channel=channel)


async def rail(session: AsyncSession, caller: PageCaller, current: int | None,
               now: datetime) -> list[CustomEntry]:
    """The custom views made for the caller (their own, their teams', shared ones; an
    admin opens anyone else's by its address), each with its count in the caller's
    scope."""
    person = await views.person_of(session, caller.user)
    entries = []
    for view in await views.visible_views(session, person, limit=RAIL_VIEWS,
                                          addressed_only=True):
        f = saved_view_filter(views.filters_of(view), user_id=caller.user.id, now=now)
        count = await queries.count_conversations(session, f, scope=caller.scope,
                                                  cap=queries.COUNT_CAP)
        entries.append(CustomEntry(str(view.id), view.name, count, view.id == current))
    return entries


@dataclass(frozen=True)
class Filled:
    """What the form holds, as text (to show it again when it is wrong)."""

    name: str = ""
    visibility: str = "private"
    team_id: str = ""
    owner: str = ""
    team: str = ""
    inbox: str = ""
    channel: str = ""
    status: str = ""
    priority: str = ""
    category: str = ""
    sla_status: str = ""


def filled_from(view: SavedView) -> Filled:
    """The form of an existing view."""
    f = views.filters_of(view)
    owner = "unassigned" if f.unassigned else ("" if f.owner_id is None else str(f.owner_id))
    return Filled(view.name, view.visibility, _text(view.team_id), owner, _text(f.team_id),
                  _text(f.inbox_id), f.channel or "", f.status or "", f.priority or "",
                  f.category or "", f.sla_status or "")


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _id(value: str, field: str) -> int | None:
    if not value:
        return None
    number = view_id_of(value)
    if number is None:
        raise InvalidInput("choose one of the options", field=field)
    return number


def draft_of(filled: Filled) -> views.ViewDraft:
    """The draft the form describes; InvalidInput naming the field otherwise. The owner
    select holds "me", a user's id, or "unassigned" (the filter of that name)."""
    owner: int | str | None = None
    if filled.owner not in ("", "unassigned"):
        owner = "me" if filled.owner == "me" else _id(filled.owner, "filters.owner_id")
    data: dict[str, Any] = {
        "owner_id": owner, "unassigned": filled.owner == "unassigned",
        "team_id": _id(filled.team, "filters.team_id"),
        "inbox_id": _id(filled.inbox, "filters.inbox_id"),
        "channel": filled.channel or None, "status": filled.status or None,
        "priority": filled.priority or None, "category": filled.category or None,
        "sla_status": filled.sla_status or None}
    filters = views.parse_filters(data)
    team_id = _id(filled.team_id, "team_id") if filled.visibility == "team" else None
    return views.ViewDraft(filled.name, filled.visibility, team_id, filters)


async def _form_page(request: Request, session: AsyncSession, caller: PageCaller,
                     filled: Filled, *, view: SavedView | None = None,
                     error: UserError | None = None) -> Response:
    person = await views.person_of(session, caller.user)
    context = {
        "caller": caller, "q": "", "filled": filled, "view": view, "error": error,
        "error_field": error.field if error else None,
        "title": f"Edit view: {view.name}" if view else "New view",
        "visibilities": [(v, VISIBILITY_NAMES[v]) for v in visible_visibilities(person)],
        "teams": await _teams_for(session, person),
        "all_teams": await active_teams(session), "people": await active_users(session),
        "inboxes": await access.list_inboxes(session, caller.scope), "channels": CHANNELS,
        "statuses": CONVERSATION_STATUSES, "priorities": PRIORITIES,
        "sla_statuses": [(s, SLA_NAMES[s]) for s in SLA_STATUSES],
        "categories": await views.categories_in_use(session, caller.scope),
    }
    return render(request, "inbox/view_form.html", context,
                  status_code=error.status if error else 200)


async def _teams_for(session: AsyncSession, person: Person) -> list[Any]:
    """The teams a team view of `person` may be for (any, for an admin)."""
    teams = await active_teams(session)
    return teams if person.is_admin else [t for t in teams if t.id in person.team_ids]


FormText = Annotated[str, Form(max_length=200)]


def _filled(name: str, visibility: str, team_id: str, owner: str, team: str, inbox: str,
            channel: str, status: str, priority: str, category: str,
            sla_status: str) -> Filled:
    return Filled(name, visibility, team_id, owner, team, inbox, channel, status, priority,
                  category, sla_status)


@router.get("/views/new")
async def new_view_page(request: Request, caller: CurrentPageCaller,
                        runtime: RuntimeDep) -> Response:
    """The form of a new custom view."""
    async with transaction(runtime.sessions) as session:
        return await _form_page(request, session, caller, Filled())


@router.post("/views")
async def create_view(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep,
                      name: FormText = "", visibility: FormText = "private", team_id: FormText = "",
                      owner: FormText = "", team: FormText = "", inbox: FormText = "",
                      channel: FormText = "", status: FormText = "", priority: FormText = "",
                      category: FormText = "", sla_status: FormText = "") -> Response:
    """Save the view, then open it; the form again (422) with what is wrong otherwise."""
    filled = _filled(name, visibility, team_id, owner, team, inbox, channel, status,
                     priority, category, sla_status)
    try:
        async with transaction(runtime.sessions) as session:
            person = await views.person_of(session, caller.user)
            view = await views.create_view(session, person, caller.scope, draft_of(filled))
    except InvalidInput as error:
        async with transaction(runtime.sessions) as session:
            return await _form_page(request, session, caller, filled, error=error)
    return see_other(f"/?view={view.id}")


@router.get("/views/{view_id}/edit")
async def edit_view_page(request: Request, view_id: IdPath, caller: CurrentPageCaller,
                         runtime: RuntimeDep) -> Response:
    """The form of a view the caller may change (404 when they do not see it, 403 when
    they may not change it)."""
    async with transaction(runtime.sessions) as session:
        choice = await chosen(session, caller, view_id)
        if not choice.changeable:
            raise Forbidden("only its owner or an admin, allowed to share views, "
                                  "may change this view")
        return await _form_page(request, session, caller, filled_from(choice.view),
                                view=choice.view)


@router.post("/views/{view_id}")
async def update_view(request: Request, view_id: IdPath, caller: CurrentPageCaller,
                      runtime: RuntimeDep, name: FormText = "", visibility: FormText = "private",
                      team_id: FormText = "", owner: FormText = "", team: FormText = "",
                      inbox: FormText = "", channel: FormText = "", status: FormText = "",
                      priority: FormText = "", category: FormText = "",
                      sla_status: FormText = "") -> Response:
    """Save the view's changes, then open it; the form again (422) when wrong."""
    filled = _filled(name, visibility, team_id, owner, team, inbox, channel, status,
                     priority, category, sla_status)
    try:
        async with transaction(runtime.sessions) as session:
            person = await views.person_of(session, caller.user)
            await views.update_view(session, person, caller.scope, view_id, draft_of(filled))
    except InvalidInput as error:
        async with transaction(runtime.sessions) as session:
            view = (await chosen(session, caller, view_id)).view
            return await _form_page(request, session, caller, filled, view=view, error=error)
    return see_other(f"/?view={view_id}")


@router.post("/views/{view_id}/delete")
async def delete_view(view_id: IdPath, caller: CurrentPageCaller,
                      runtime: RuntimeDep) -> Response:
    """Delete the view, then go to the inbox."""
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        await views.delete_view(session, person, view_id)
    return see_other("/?notice=View+deleted")
