"""Custom views of the inbox: list the views the caller may see, create, read, change and
delete them. Who may do what is `tickets.view_rules`; a view the caller may not see is a
404, one they see but may not change a 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field

from core.db import transaction
from core.errors import InvalidInput
from tickets import views
from tickets.models import SavedView
from tickets.view_rules import ViewFilters, Visibility
from web.api.common import (
    JSON,
    CurrentCaller,
    IdPath,
    IdValue,
    RequestModel,
    RuntimeDep,
    Text,
    page,
)

router = APIRouter(tags=["views"])

ViewName = Annotated[Text, Field(min_length=1, max_length=100)]


def view_json(view: SavedView) -> JSON:
    return {"id": view.id, "name": view.name, "visibility": view.visibility,
            "owner_id": view.owner_id, "team_id": view.team_id,
            "filters": views.filters_of(view).model_dump(mode="json"),
            "created_at": view.created_at.isoformat(), "updated_at": view.updated_at.isoformat()}


class NewView(RequestModel):
    name: ViewName
    visibility: Visibility = "private"
    team_id: IdValue | None = None
    """The team a team view is for."""
    filters: ViewFilters = ViewFilters()


class ViewPatch(RequestModel):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: ViewName | None = None
    visibility: Visibility | None = None
    team_id: IdValue | None = None
    filters: ViewFilters | None = None
    """All of the view's filters (those left out no longer filter)."""


@router.get("/api/views")
async def list_views(caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """The custom views the caller may see (their own, their teams', shared ones; every
    view for admins), by name."""
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        found = await views.visible_views(session, person)
    return page([view_json(view) for view in found], None)


@router.post("/api/views", status_code=201)
async def create_view(body: NewView, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """Save a view owned by the caller. Team and shared views need the permission to share
    views (admins have it); a team view is for one of the caller's teams; an inbox filter
    names an inbox the caller sees (422 naming the field otherwise)."""
    draft = views.ViewDraft(body.name, body.visibility, body.team_id, body.filters)
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        view = await views.create_view(session, person, caller.scope, draft)
    return view_json(view)


@router.get("/api/views/{view_id}")
async def get_view(view_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> JSON:
    """One view the caller may see."""
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        view = await views.visible_view(session, person, view_id)
    return view_json(view)


@router.patch("/api/views/{view_id}")
async def patch_view(view_id: IdPath, body: ViewPatch, caller: CurrentCaller,
                     runtime: RuntimeDep) -> JSON:
    """Change a view's name, visibility, team or filters (its owner or an admin; for team
    and shared views only with the permission to share views). A field left out keeps its
    value; `team_id` null means no team (a private or shared view)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("send at least one field to change")
    for name in ("name", "visibility", "filters"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be null; leave it out to keep it", field=name)
    if changes.get("visibility") not in (None, "team"):
        changes.setdefault("team_id", None)  # a private or shared view is for no team
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        view = await views.visible_view(session, person, view_id)
        draft = views.ViewDraft(
            changes.get("name", view.name), changes.get("visibility", view.visibility),
            changes.get("team_id", view.team_id),
            body.filters if body.filters is not None else views.filters_of(view))
        view = await views.update_view(session, person, caller.scope, view_id, draft)
    return view_json(view)


@router.delete("/api/views/{view_id}", status_code=204)
async def delete_view(view_id: IdPath, caller: CurrentCaller, runtime: RuntimeDep) -> Response:
    """Delete a view (its owner or an admin; for team and shared views only with the
    permission to share views)."""
    async with transaction(runtime.sessions) as session:
        person = await views.person_of(session, caller.user)
        await views.delete_view(session, person, view_id)
    return Response(status_code=204)
