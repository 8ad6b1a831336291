"""What every page shares: the templates, the signed-in caller, CSRF on forms, redirects.

Pages use the browser's session cookie. A page for someone not signed in sends them to
`/login` (and back afterwards); an htmx request is told so with `HX-Redirect`. Every form
that changes something carries the session's CSRF token (a hidden `csrf_token` field, or
the `X-CSRF-Token` header that htmx sends from the page's `hx-headers`); without it the
change is refused (403), whatever the cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from accounts.models import User
from accounts.service import resolve_login_session
from core.db import transaction
from core.errors import Forbidden
from inbox.access import Scope, visible_inboxes
from notifications.service import unread_count
from web.api.common import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, RuntimeDep

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
TEMPLATES.env.globals["static_version"] = "1"


class LoginRequired(Exception):
    """The page needs a signed-in user; answered by a redirect to the login page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class PageCaller:
    """The signed-in user of a page, their scope and their session's CSRF token."""

    user: User
    scope: Scope
    csrf: str
    unread: int = 0
    """How many of the user's notifications are unread (the header's bell shows it)."""


def _next_path(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def page_caller(request: Request, runtime: RuntimeDep) -> PageCaller:
    """The caller of a page; LoginRequired without a live session, Forbidden for a change
    without the session's CSRF token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired(_next_path(request))
    async with transaction(runtime.sessions) as session:
        found = await resolve_login_session(session, cookie)
        if found is None:
            raise LoginRequired(_next_path(request))
        user, login = found
        scope = await visible_inboxes(session, user)
        unread = (await unread_count(session, user, scope)
                  if request.method in SAFE_METHODS else 0)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or str((await request.form()).get(
            "csrf_token") or "")
        if not hmac.compare_digest(sent.encode(), login.csrf_token.encode()):
            raise Forbidden("this form has expired; reload the page and try again",
                            code="csrf_failed")
    return PageCaller(user, scope, login.csrf_token, unread)


CurrentPageCaller = Annotated[PageCaller, Depends(page_caller)]


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site, never another site's address."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def to_login(request: Request, exc: Exception) -> Response:
    """The answer to LoginRequired: the login page, coming back here afterwards."""
    assert isinstance(exc, LoginRequired)
    target = f"/login?next={quote(exc.next_path, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def render(request: Request, template: str, context: dict[str, Any], *,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page `template` with `context` (and the request)."""
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code,
                                      headers=headers)


def see_other(target: str) -> RedirectResponse:
    """After a form's change: go (GET) to `target`."""
    return RedirectResponse(target, status_code=303)
