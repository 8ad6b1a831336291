"""`/admin/inboxes`: the inboxes with their addresses; a new inbox; one inbox's channel
(name, addresses one per line, catch-all domains, from name, automatic acknowledgment) and
who can see it. The same service functions as `/api/admin/inboxes` and
`PUT /api/inboxes/{slug}/members` (`inbox.channels`); every form works with a full page
load, and a refused value comes back as the form, with what is wrong, and nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from accounts.service import active_teams, active_users
from core.db import transaction
from core.errors import Conflict, InvalidInput, UserError
from inbox import access, channels
from inbox.directory import DEFAULT_ACK_TEXT, DEFAULT_ACK_WINDOW_MINUTES
from inbox.models import Inbox
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.admin.mail import inbox_channels
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

Slug = Annotated[str, Path(min_length=1, max_length=64)]
Line = Annotated[str, Form(max_length=200)]
Lines = Annotated[str, Form(max_length=40_000)]
Long = Annotated[str, Form(max_length=channels.MAX_ACK_TEXT + 100)]
Ids = Annotated[list[str] | None, Form(max_length=1000)]


@dataclass
class Filled:
    """The channel form as the admin filled it (text, as typed)."""

    slug: str = ""
    name: str = ""
    addresses: str = ""
    catch_all_domains: str = ""
    from_name: str = ""
    auto_ack: bool = False
    auto_ack_window_minutes: str = str(DEFAULT_ACK_WINDOW_MINUTES)
    auto_ack_text: str = DEFAULT_ACK_TEXT
    team_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)


def filled_from(inbox: Inbox, members: access.Members) -> Filled:
    """The form of an inbox as it is."""
    values = channels.values_of(inbox)
    return Filled(slug=inbox.slug, name=values.name, addresses="\n".join(values.addresses),
                  catch_all_domains="\n".join(values.catch_all_domains),
                  from_name=values.from_name, auto_ack=values.auto_ack,
                  auto_ack_window_minutes=str(values.auto_ack_window_minutes),
                  auto_ack_text=values.auto_ack_text, team_ids=list(members.team_ids),
                  user_ids=list(members.user_ids))


def _lines(text: str) -> tuple[str, ...]:
    """One entry per line (commas separate too); blank ones dropped."""
    return tuple(item.strip() for line in text.splitlines() for item in line.split(",")
                 if item.strip())


def values_of_form(filled: Filled) -> channels.ChannelValues:
    """The values the form asks for; InvalidInput naming the field when the window is not
    a whole number (the service checks the rest)."""
    try:
        window = int(filled.auto_ack_window_minutes.strip())
    except ValueError:
        raise InvalidInput("the window must be a whole number of minutes",
                           field="auto_ack_window_minutes") from None
    return channels.ChannelValues(
        name=filled.name, addresses=_lines(filled.addresses),
        catch_all_domains=_lines(filled.catch_all_domains), from_name=filled.from_name,
        auto_ack=filled.auto_ack, auto_ack_window_minutes=window,
        auto_ack_text=filled.auto_ack_text)


def _ids(values: list[str], what: str) -> list[int]:
    try:
        return [int(v) for v in values if v.strip()]
    except ValueError:
        raise InvalidInput(f"not a {what} id", field=f"{what}_ids") from None


async def _inbox_page(request: Request, caller: PageCaller, runtime: RuntimeDep, slug: str, *,
                      filled: Filled | None = None, error: UserError | None = None,
                      notice: str = "") -> Response:
    async with transaction(runtime.sessions) as session:
        inbox = await channels.get_inbox(session, slug)
        members = (await access.members_of(session, [inbox.id]))[inbox.id]
        context: dict[str, Any] = {
            "inbox": inbox, "filled": filled or filled_from(inbox, members),
            "teams": await active_teams(session), "people": await active_users(session),
            "conversations": await channels.conversation_count(session, inbox.id),
        }
    mail = await inbox_channels(runtime, slug)
    return render_admin(request, "admin/inbox.html", caller, "inboxes", {
        **context, "channels": mail, "error": error, "error_field": error.field if error else None,
        "notice": notice}, status_code=error.status if error else 200)


@router.get("/admin/inboxes")
async def inboxes_page(request: Request, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """Every inbox, its addresses and domains, and who sees it."""
    async with transaction(runtime.sessions) as session:
        rows = await channels.list_inbox_rows(session)
        members = await access.members_of(session, [row.id for row in rows])
    return render_admin(request, "admin/inboxes.html", caller, "inboxes",
                        {"inboxes": rows, "members": members})


@router.get("/admin/inboxes/new")
async def new_inbox_page(request: Request, caller: CurrentAdminPage) -> Response:
    """The form of a new inbox."""
    return render_admin(request, "admin/inbox_new.html", caller, "inboxes",
                        {"filled": Filled(), "error": None, "error_field": None})


@router.post("/admin/inboxes")
async def create_inbox(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                       slug: Line = "", name: Line = "", addresses: Lines = "",
                       catch_all_domains: Lines = "", from_name: Line = "",
                       auto_ack: Line = "", auto_ack_window_minutes: Line = "",
                       auto_ack_text: Long = "") -> Response:
    """Make the inbox, then open its page; the form again with what is wrong otherwise."""
    filled = Filled(slug=slug.strip(), name=name, addresses=addresses,
                    catch_all_domains=catch_all_domains, from_name=from_name,
                    auto_ack=bool(auto_ack), auto_ack_window_minutes=auto_ack_window_minutes,
                    auto_ack_text=auto_ack_text)
    try:
        values = values_of_form(filled)
        async with transaction(runtime.sessions) as session:
            inbox = await channels.create_inbox(session, caller.user, filled.slug, values)
    except (InvalidInput, Conflict) as error:
        field_name = "slug" if isinstance(error, Conflict) else error.field
        return render_admin(request, "admin/inbox_new.html", caller, "inboxes", {
            "filled": filled, "error": error, "error_field": field_name},
            status_code=error.status)
    return see_other(f"/admin/inboxes/{inbox.slug}?saved=created")


NOTICES = {"created": "Inbox created. Mail to its addresses is taken now.",
           "channel": "Saved. Every server takes the new addresses within seconds.",
           "members": "Saved who can see this inbox.",
           "routing": "Saved how new tickets are routed."}


@router.get("/admin/inboxes/{slug}")
async def inbox_page(request: Request, slug: Slug, caller: CurrentAdminPage,
                     runtime: RuntimeDep, saved: str = "") -> Response:
    """One inbox's channel and who can see it."""
    return await _inbox_page(request, caller, runtime, slug, notice=NOTICES.get(saved, ""))


@router.post("/admin/inboxes/{slug}")
async def update_inbox(request: Request, slug: Slug, caller: CurrentAdminPage,
                       runtime: RuntimeDep, name: Line = "", addresses: Lines = "",
                       catch_all_domains: Lines = "", from_name: Line = "",
                       auto_ack: Line = "", auto_ack_window_minutes: Line = "",
                       auto_ack_text: Long = "") -> Response:
    """Save the inbox's channel; the page again with what is wrong otherwise."""
    filled = Filled(slug=slug, name=name, addresses=addresses,
                    catch_all_domains=catch_all_domains, from_name=from_name,
                    auto_ack=bool(auto_ack), auto_ack_window_minutes=auto_ack_window_minutes,
                    auto_ack_text=auto_ack_text)
    try:
        values = values_of_form(filled)
        async with transaction(runtime.sessions) as session:
            await channels.update_inbox(session, caller.user, slug, values)
    except InvalidInput as error:
        async with transaction(runtime.sessions) as session:
            inbox = await channels.get_inbox(session, slug)
            members = (await access.members_of(session, [inbox.id]))[inbox.id]
        filled.team_ids, filled.user_ids = list(members.team_ids), list(members.user_ids)
        return await _inbox_page(request, caller, runtime, slug, filled=filled, error=error)
    return see_other(f"/admin/inboxes/{slug}?saved=channel")


@router.post("/admin/inboxes/{slug}/members")
async def set_members(request: Request, slug: Slug, caller: CurrentAdminPage,
                      runtime: RuntimeDep, team_ids: Ids = None,
                      user_ids: Ids = None) -> Response:
    """Make the checked teams and people the inbox's members."""
    try:
        teams, users = _ids(team_ids or [], "team"), _ids(user_ids or [], "user")
        async with transaction(runtime.sessions) as session:
            await channels.set_inbox_members(session, caller.user, slug, team_ids=teams,
                                             user_ids=users)
    except InvalidInput as error:
        return await _inbox_page(request, caller, runtime, slug, error=error)
    return see_other(f"/admin/inboxes/{slug}?saved=members")


@router.post("/admin/inboxes/{slug}/delete")
async def delete_inbox(request: Request, slug: Slug, caller: CurrentAdminPage,
                       runtime: RuntimeDep) -> Response:
    """Delete an inbox without conversations; its page with the reason otherwise."""
    try:
        async with transaction(runtime.sessions) as session:
            await channels.delete_inbox(session, caller.user, slug)
    except Conflict as error:
        return await _inbox_page(request, caller, runtime, slug, error=error)
    return see_other("/admin/inboxes")

