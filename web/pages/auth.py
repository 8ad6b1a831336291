"""`/login` and `/logout`: the browser's way in and out (the same throttle and session
as `POST /api/session`); `/password/{token}`: set a password from an invitation or a
reset link, then come in; `/forgot-password`: ask for a reset link by mail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from accounts import console, invites, passwords
from accounts import service as accounts
from accounts.security import MIN_PASSWORD_LENGTH
from core.db import transaction
from core.errors import InvalidInput, RateLimited, Unauthenticated
from core.runtime import Runtime
from core.windows import Window
from web.api.common import RuntimeDep
from web.auth import OpenedSession, close_session, open_session, set_session_cookies
from web.forwarded import client_of
from web.pages.common import CurrentPageCaller, render, safe_next, see_other

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form(max_length=1024)]


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    """The login form."""
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login")
async def log_in(request: Request, runtime: RuntimeDep, email: Field = "", password: Field = "",
                 next: Field = "/") -> Response:
    """Check the password; on success set the session cookies and go where the person was
    going. A wrong password or a wait shows on the form again (401 / 429)."""
    target = safe_next(next)
    try:
        opened = await open_session(runtime, request, email.strip(), password)
    except Unauthenticated:
        return render(request, "login.html", {
            "next": target, "email": email, "error": "Wrong email or password."},
            status_code=401)
    except RateLimited as exc:
        return render(request, "login.html", {
            "next": target, "email": email,
            "error": f"Too many failed attempts. Try again in {exc.retry_after} seconds."},
            status_code=429, headers={"Retry-After": str(exc.retry_after)})
    response = see_other(target)
    set_session_cookies(response, runtime, opened)
    return response


@router.post("/logout")
async def log_out(request: Request, caller: CurrentPageCaller, runtime: RuntimeDep) -> Response:
    """End the session and show the login form."""
    response = see_other("/login")
    await close_session(runtime, request, response)
    return response


# ----------------------------------------------------------------- password links

NO_TRACE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
"""The token is in the address: never pass it on, never keep the page."""

DEAD_LINK_STATUS = {"used": 410, "expired": 410, "revoked": 410, "unknown": 404}


def _link_page(request: Request, token: str, found: invites.FoundLink | None, *,
               error: str | None = None, status_code: int = 200) -> Response:
    """The set-password form for a live link, or the page saying why the link is dead."""
    state = found.state if found is not None else "unknown"
    context = {"token": token, "state": state, "error": error,
               "purpose": found.link.purpose if found is not None else None,
               "person": found.user if found is not None and state == "live" else None,
               "min_length": MIN_PASSWORD_LENGTH}
    if state != "live":
        status_code = DEAD_LINK_STATUS[state]
    return render(request, "password.html", context, status_code=status_code,
                  headers=NO_TRACE)


async def _find(runtime: Runtime, token: str) -> invites.FoundLink | None:
    async with transaction(runtime.sessions) as session:
        return await invites.find_link(session, token)


@router.get("/password/{token}")
async def password_page(request: Request, runtime: RuntimeDep,
                        token: Annotated[str, Path(max_length=200)]) -> Response:
    """The page of a link to set a password (an invitation or a reset): the form while
    the link works; a page saying it was used, expired or no longer works otherwise."""
    return _link_page(request, token, await _find(runtime, token))


@router.post("/password/{token}")
async def set_password(request: Request, runtime: RuntimeDep,
                       token: Annotated[str, Path(max_length=200)], password: Field = "",
                       password_again: Field = "") -> Response:
    """Set the password through the link, once, and sign the person in (to the inbox).
    Passwords that differ or break the rules show on the form again (422)."""
    found = await _find(runtime, token)
    if found is None or found.state != "live":
        return _link_page(request, token, found)
    if password != password_again:
        return _link_page(request, token, found, status_code=422,
                          error="The two passwords are not the same.")
    try:
        password_hash = await passwords.hash_new_password(password)
    except InvalidInput as exc:
        return _link_page(request, token, found, status_code=422,
                          error=f"The password is too short: {exc.message}.")
    try:
        async with transaction(runtime.sessions) as session:
            used = await invites.use_link(session, token, password_hash)
            cookie, csrf = await accounts.start_login_session(
                session, used.user, runtime.settings.security.session_days)
    except invites.LinkDead:
        return _link_page(request, token, await _find(runtime, token))
    response = see_other("/")
    set_session_cookies(response, runtime, OpenedSession(used.user, cookie, csrf))
    return response


# ----------------------------------------------------------------- forgotten passwords

FORGOT_PER_ADDRESS = Window(3, 3600)
"""Reset links mailed to one address at most, per hour (more requests send nothing)."""
FORGOT_PER_SOURCE = Window(10, 3600)
"""Requests from one client address at most, per hour (more are answered 429)."""
FORGOT_SENT = ("If the address belongs to someone who can log in, a link to choose a new "
               "password is on its way to it. Check your mail.")


@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    """The form asking for the address to mail a reset link to."""
    return render(request, "password_forgot.html", {"email": "", "sent": None, "error": None})


@router.post("/forgot-password")
async def forgot_password(request: Request, runtime: RuntimeDep,
                          email: Field = "") -> Response:
    """Mail a reset link (2 hours, once) when the address is an active user's; the answer
    is the same whether it is or not. Throttled per client address (429 past the limit)
    and per address (past it, nothing more is sent, and the answer is still the same)."""
    wait = await runtime.throttle.hit("password-forgot-source", client_of(request),
                                      FORGOT_PER_SOURCE)
    if wait:
        seconds = max(1, int(wait))
        return render(request, "password_forgot.html", {
            "email": email, "sent": None,
            "error": f"Too many requests. Try again in {seconds} seconds."},
            status_code=429, headers={"Retry-After": str(seconds)})
    address = email.strip().lower()
    if address and not await runtime.throttle.hit("password-forgot", address,
                                                  FORGOT_PER_ADDRESS):
        async with transaction(runtime.sessions) as session:
            await console.request_password_reset(session, address,
                                                 secret_key=runtime.settings.secret_key)
    return render(request, "password_forgot.html", {"email": "", "sent": FORGOT_SENT,
                                                    "error": None})
