"""`/admin/teams`: the teams, with members and status; make one, rename it, choose its
members, deactivate or reactivate it. Changes go through `accounts.console` (the JSON
API's functions, audited). Which inboxes a team sees is set on the inbox's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from accounts import console
from accounts import service as accounts
from core.db import transaction
from core.errors import UserError
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.admin.people import FormIds, _ids
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

FormName = Annotated[str, Form(max_length=200)]

NOTICES = {"created": "Team created.", "saved": "Saved.", "deactivated":
           "Deactivated: its members no longer see its inboxes through it.",
           "reactivated": "Reactivated."}


async def _teams_page(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                      notice: str | None = None, error: str | None = None, name: str = "",
                      status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        teams = await accounts.every_team(session)
        members = await accounts.team_members(session, [t.id for t in teams])
    return render_admin(request, "admin/teams.html", caller, "teams", {
        "teams": [{"team": t, "count": len(members[t.id])} for t in teams],
        "notice": notice, "error": error, "name": name}, status_code=status_code)


@router.get("/admin/teams")
async def teams_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                     done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Every team, by name, with how many members it has; a form to make one."""
    return await _teams_page(request, caller, runtime, notice=NOTICES.get(done))


@router.post("/admin/teams")
async def create_team(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      name: FormName = "") -> Response:
    """Make a team (no members yet) and go to its page to choose them."""
    try:
        async with transaction(runtime.sessions) as session:
            team = await console.create_team(session, name, [], actor=caller.user)
    except UserError as exc:
        return await _teams_page(request, caller, runtime, error=exc.message, name=name,
                                 status_code=exc.status)
    return see_other(f"/admin/teams/{team.id}?done=created")


async def _team_page(request: Request, caller: PageCaller, runtime: RuntimeDep, team_id: int,
                     *, notice: str | None = None, error: str | None = None,
                     values: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        team = await accounts.get_team(session, team_id)
        members = (await accounts.team_members(session, [team.id]))[team.id]
        people = [p for p in await accounts.everyone(session)
                  if p.active or p.invitation_pending or p.id in members]
    values = values or {"name": team.name, "member_ids": members}
    return render_admin(request, "admin/team.html", caller, "teams", {
        "team": team, "people": people, "values": values, "notice": notice,
        "error": error}, status_code=status_code)


@router.get("/admin/teams/{team_id}")
async def team_page(request: Request, team_id: IdPath, caller: CurrentAdminPage,
                    runtime: RuntimeDep,
                    done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """One team: its name and members, and (de)activating it."""
    return await _team_page(request, caller, runtime, team_id, notice=NOTICES.get(done))


@router.post("/admin/teams/{team_id}")
async def edit_team(request: Request, team_id: IdPath, caller: CurrentAdminPage,
                    runtime: RuntimeDep, name: FormName = "",
                    member_ids: FormIds = []) -> Response:  # noqa: B006 (FastAPI copies)
    """Rename the team and set its members (the boxes ticked: all of them)."""
    changes = {"name": name, "member_ids": _ids(member_ids)}
    try:
        async with transaction(runtime.sessions) as session:
            await console.update_team(session, team_id, changes, actor=caller.user)
    except UserError as exc:
        return await _team_page(request, caller, runtime, team_id, error=exc.message,
                                values=changes, status_code=exc.status)
    return see_other(f"/admin/teams/{team_id}?done=saved")


async def _set_active(request: Request, caller: PageCaller, runtime: RuntimeDep,
                      team_id: int, active: bool) -> Response:
    async with transaction(runtime.sessions) as session:
        await console.update_team(session, team_id, {"active": active}, actor=caller.user)
    return see_other(f"/admin/teams/{team_id}?done={'reactivated' if active else 'deactivated'}")


@router.post("/admin/teams/{team_id}/deactivate")
async def deactivate_team(request: Request, team_id: IdPath, caller: CurrentAdminPage,
                          runtime: RuntimeDep) -> Response:
    """Deactivate the team: it gives its members no access to its inboxes."""
    return await _set_active(request, caller, runtime, team_id, False)


@router.post("/admin/teams/{team_id}/reactivate")
async def reactivate_team(request: Request, team_id: IdPath, caller: CurrentAdminPage,
                          runtime: RuntimeDep) -> Response:
    """Make the team active again."""
    return await _set_active(request, caller, runtime, team_id, True)
