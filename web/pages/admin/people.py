"""`/admin/people`: everyone with their role, status and teams; invite someone; edit a
person, send them a password reset link, deactivate or reactivate them; resend or
withdraw an invitation. Every change goes through `accounts.console` (the same functions
as the JSON API), which writes the audit log. A refused change shows on the page again
with its reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from accounts import console, invites
from accounts import service as accounts
from accounts.models import ROLES
from core.db import transaction
from core.errors import UserError
from web.api.common import IdPath, RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form(max_length=254)]
FormIds = Annotated[list[str], Form(max_length=1000)]

NOTICES = {
    "invited": "Invitation sent.",
    "resent": "A new invitation link was sent; the one before no longer works.",
    "withdrawn": "The invitation was withdrawn.",
    "saved": "Saved.",
    "reset": "A password reset link was sent.",
    "deactivated": "Deactivated: their sessions and tokens ended.",
    "reactivated": "Reactivated.",
}
"""What a page says after a change (`?done=<key>`); an unknown key says nothing."""


def _ids(values: list[str]) -> list[int]:
    """The ids among a form's checkbox values (anything else is ignored)."""
    return sorted({int(v) for v in values if v.isdigit() and 0 < int(v) < 2**31})


# ----------------------------------------------------------------------------- the list


@router.get("/admin/people")
async def people_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                      done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """Everyone, by name, with role, status (active, invited, deactivated) and teams."""
    async with transaction(runtime.sessions) as session:
        people = await accounts.everyone(session)
        teams = await accounts.teams_by_user(session)
        pending = {user.id: link for user, link in await invites.pending_invitations(session)}
    rows = [{"user": user, "status": invites.user_status(user), "teams": teams.get(user.id, []),
             "invite": pending.get(user.id)} for user in people]
    return render_admin(request, "admin/people.html", caller, "people", {
        "rows": rows, "notice": NOTICES.get(done)})


# ----------------------------------------------------------------------------- inviting


async def _invite_form(request: Request, caller: PageCaller, runtime: RuntimeDep, *,
                       values: dict[str, Any], error: str | None = None,
                       status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        teams = await accounts.active_teams(session)
    return render_admin(request, "admin/people_invite.html", caller, "people", {
        "teams": teams, "roles": ROLES, "values": values, "error": error},
        status_code=status_code)


@router.get("/admin/people/invite")
async def invite_page(request: Request, caller: CurrentAdminPage,
                      runtime: RuntimeDep) -> Response:
    """The form to invite someone: email, name, role, teams."""
    return await _invite_form(request, caller, runtime, values={
        "email": "", "name": "", "role": "agent", "team_ids": []})


@router.post("/admin/people/invite")
async def invite_someone(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                         email: FormText = "", name: FormText = "", role: FormText = "agent",
                         team_ids: FormIds = []) -> Response:  # noqa: B006 (FastAPI copies)
    """Invite: the person gets a mail with a link to set their password. A refusal (a
    taken address, say) shows on the form again, with what was typed."""
    chosen = _ids(team_ids)
    try:
        async with transaction(runtime.sessions) as session:
            await console.invite(session, actor=caller.user, email=email, name=name,
                                 role=role, team_ids=chosen,
                                 secret_key=runtime.settings.secret_key)
    except UserError as exc:
        return await _invite_form(request, caller, runtime, error=exc.message,
                                  status_code=exc.status, values={
                                      "email": email, "name": name, "role": role,
                                      "team_ids": chosen})
    return see_other("/admin/people?done=invited")


# ----------------------------------------------------------------------------- one person


async def _person_page(request: Request, caller: PageCaller, runtime: RuntimeDep,
                       user_id: int, *, notice: str | None = None, error: str | None = None,
                       values: dict[str, Any] | None = None,
                       status_code: int = 200) -> Response:
    async with transaction(runtime.sessions) as session:
        person = await accounts.get_user(session, user_id)
        teams = (await accounts.teams_by_user(session)).get(person.id, [])
        invite = await invites.live_link(session, person.id, "invite")
        reset = await invites.live_link(session, person.id, "reset")
    values = values or {"name": person.name, "email": person.email, "role": person.role,
                        "can_share_views": person.can_share_views}
    return render_admin(request, "admin/person.html", caller, "people", {
        "person": person, "status": invites.user_status(person), "teams": teams,
        "invite": invite, "reset": reset, "roles": ROLES, "values": values,
        "notice": notice, "error": error, "is_self": person.id == caller.user.id},
        status_code=status_code)


@router.get("/admin/people/{user_id}")
async def person_page(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep,
                      done: Annotated[str, Query(max_length=20)] = "") -> Response:
    """One person: edit them, and the actions their status allows."""
    return await _person_page(request, caller, runtime, user_id, notice=NOTICES.get(done))


@router.post("/admin/people/{user_id}")
async def edit_person(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                      runtime: RuntimeDep, name: FormText = "", email: FormText = "",
                      role: FormText = "", can_share_views: FormText = "") -> Response:
    """Change name, email, role and whether they may share custom views. The last active
    admin stays one: that refusal shows on the page."""
    changes = {"name": name, "email": email, "role": role,
               "can_share_views": bool(can_share_views)}
    try:
        async with transaction(runtime.sessions) as session:
            await console.update_user(session, user_id, changes, actor=caller.user)
    except UserError as exc:
        return await _person_page(request, caller, runtime, user_id, error=exc.message,
                                  values=changes, status_code=exc.status)
    return see_other(f"/admin/people/{user_id}?done=saved")


async def _act(request: Request, caller: PageCaller, runtime: RuntimeDep, user_id: int,
               action: str) -> Response:
    """Do `action` to the person; back to their page saying so, or why not."""
    secret_key = runtime.settings.secret_key
    try:
        async with transaction(runtime.sessions) as session:
            if action == "resent":
                await console.resend_invitation(session, user_id, actor=caller.user,
                                                secret_key=secret_key)
            elif action == "withdrawn":
                await console.revoke_invitation(session, user_id, actor=caller.user)
            elif action == "reset":
                await console.send_password_reset(session, user_id, actor=caller.user,
                                                  secret_key=secret_key)
            else:
                await console.update_user(session, user_id,
                                          {"active": action == "reactivated"},
                                          actor=caller.user)
    except UserError as exc:
        return await _person_page(request, caller, runtime, user_id, error=exc.message,
                                  status_code=exc.status)
    if action == "withdrawn":
        return see_other("/admin/people?done=withdrawn")
    return see_other(f"/admin/people/{user_id}?done={action}")


@router.post("/admin/people/{user_id}/resend")
async def resend(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                 runtime: RuntimeDep) -> Response:
    """Mail the invited person a new link (the old one dies)."""
    return await _act(request, caller, runtime, user_id, "resent")


@router.post("/admin/people/{user_id}/withdraw")
async def withdraw(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                   runtime: RuntimeDep) -> Response:
    """Withdraw the invitation (the person, who never joined, is removed)."""
    return await _act(request, caller, runtime, user_id, "withdrawn")


@router.post("/admin/people/{user_id}/reset")
async def reset(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                runtime: RuntimeDep) -> Response:
    """Mail the person a link to choose a new password."""
    return await _act(request, caller, runtime, user_id, "reset")


@router.post("/admin/people/{user_id}/deactivate")
async def deactivate(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                     runtime: RuntimeDep) -> Response:
    """Deactivate: their sessions, tokens and links end at once."""
    return await _act(request, caller, runtime, user_id, "deactivated")


@router.post("/admin/people/{user_id}/reactivate")
async def reactivate(request: Request, user_id: IdPath, caller: CurrentAdminPage,
                     runtime: RuntimeDep) -> Response:
    """Let a deactivated person log in again (with their old password)."""
    return await _act(request, caller, runtime, user_id, "reactivated")
