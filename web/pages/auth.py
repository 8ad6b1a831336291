"""`/login` and `/logout`: the browser's way in and out (the same throttle and session
as `POST /api/session`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.errors import RateLimited, Unauthenticated
from web.api.common import RuntimeDep
from web.auth import close_session, open_session, set_session_cookies
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
