"""`/admin/chat`: admins set each inbox's chat widget (the same service as
`/api/admin/chat/{slug}`) and copy the snippet that embeds it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from connectors.webchat import service
from core.db import transaction
from core.errors import UserError
from inbox.channels import get_inbox, list_inbox_rows
from web.api.admin_chat import chat_json
from web.api.common import RuntimeDep
from web.pages.admin.common import CurrentAdminPage, render_admin
from web.pages.common import PageCaller, see_other

router = APIRouter(include_in_schema=False)

HOME = "/admin/chat"
Checkbox = Annotated[str, Form(max_length=8)]


async def _page(request: Request, caller: PageCaller, runtime: RuntimeDep, slug: str | None,
                *, notice: str | None = None, error: UserError | None = None,
                draft: dict[str, object] | None = None) -> Response:
    async with transaction(runtime.sessions) as session:
        inboxes = await list_inbox_rows(session)
        chosen = next((i for i in inboxes if i.slug == slug), inboxes[0] if inboxes else None)
        if slug is not None and (chosen is None or chosen.slug != slug):
            await get_inbox(session, slug)  # NotFound: a 404 page
        values = await service.get_settings(session, chosen.id) if chosen else None
    chat = (chat_json(chosen, values, request)
            if chosen is not None and values is not None else None)
    if chat is not None and draft:
        chat = {**chat, **draft}
    return render_admin(request, "admin/chat.html", caller, "chat", {
        "inboxes": inboxes, "chat": chat, "notice": notice, "error": error},
        status_code=error.status if error else 200)


@router.get(HOME)
async def chat_page(request: Request, caller: CurrentAdminPage, runtime: RuntimeDep,
                    inbox: str | None = None, notice: str | None = None) -> Response:
    """The chat widget settings of one inbox (the first without `inbox`)."""
    return await _page(request, caller, runtime, inbox, notice=notice)


@router.post(HOME + "/{slug}")
async def save_chat(request: Request, slug: str, caller: CurrentAdminPage,
                    runtime: RuntimeDep, enabled: Checkbox = "",
                    allowed_origins: Annotated[str, Form(max_length=20_000)] = "",
                    ask_details: Annotated[str, Form(max_length=16)] = "optional",
                    office_hours: Checkbox = "", transcript: Checkbox = "",
                    greeting: Annotated[str, Form(max_length=service.MAX_GREETING * 2)] = "",
                    email_after_minutes: Annotated[str, Form(max_length=8)] = "10",
                    ) -> Response:
    """Save the chat settings; a bad value shows the form again with the reason."""
    origins = tuple(line for line in allowed_origins.splitlines() if line.strip())
    minutes = int(email_after_minutes) if email_after_minutes.strip().isdigit() else 0
    values = service.ChatValues(enabled=bool(enabled), allowed_origins=origins,
                                ask_details=ask_details, office_hours=bool(office_hours),
                                transcript=bool(transcript), greeting=greeting,
                                email_after_minutes=minutes)
    try:
        async with transaction(runtime.sessions) as session:
            inbox = await get_inbox(session, slug)
            await service.save_settings(session, caller.user, inbox.id, inbox.slug, values)
    except UserError as exc:
        draft = {**values.as_json(), "allowed_origins": list(origins)}
        return await _page(request, caller, runtime, slug, error=exc, draft=draft)
    return see_other(f"{HOME}?{urlencode({'inbox': slug, 'notice': 'Chat widget saved'})}")
