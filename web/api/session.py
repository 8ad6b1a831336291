"""Log in and out with a session cookie; repeated failures are throttled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from accounts import service as accounts
from core.db import transaction
from core.errors import RateLimited, Unauthenticated
from core.ratelimit import SlidingWindowLimiter
from web.api.common import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    RequestModel,
    RuntimeDep,
    Text,
)
from web.api.people import user_json

router = APIRouter(tags=["session"])


class Login(RequestModel):
    email: Annotated[Text, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


def _limiter(request: Request) -> SlidingWindowLimiter:
    state = request.app.state
    if not hasattr(state, "login_limiter"):
        conf = state.runtime.settings.security
        state.login_limiter = SlidingWindowLimiter(conf.login_max_failures,
                                                   conf.login_window_seconds)
    return state.login_limiter


def _throttle_keys(request: Request, email: str) -> list[str]:
    client = request.client.host if request.client else "unknown"
    return [f"email:{email.strip().lower()}", f"ip:{client}"]


@router.post("/api/session")
async def log_in(body: Login, request: Request, response: Response, runtime: RuntimeDep) -> dict:
    """Check the password; on success set the HttpOnly session cookie and return the CSRF
    token that state-changing cookie requests must send as `X-CSRF-Token`."""
    limiter, keys = _limiter(request), _throttle_keys(request, body.email)
    wait = max(limiter.blocked_for(key) for key in keys)
    if wait:
        raise RateLimited(f"too many failed logins; try again in {wait} s", retry_after=wait)
    async with transaction(runtime.sessions) as session:
        user = await accounts.authenticate(session, body.email, body.password)
        if user is None:
            for key in keys:
                limiter.hit(key)
            raise Unauthenticated("wrong email or password", code="bad_credentials")
        days = runtime.settings.security.session_days
        token, csrf = await accounts.start_login_session(session, user, days)
    limiter.reset(keys[0])
    secure = runtime.settings.security.secure_cookies or runtime.settings.http.https
    max_age = days * 86400
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict",
                        secure=secure, path="/")
    return {"user": user_json(user), "csrf_token": csrf}


@router.delete("/api/session", status_code=204)
async def log_out(request: Request, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """End the cookie session (bearer tokens are revoked by an admin, not here)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with transaction(runtime.sessions) as session:
            await accounts.end_login_session(session, cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
