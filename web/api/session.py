"""Log in and out with a session cookie; failures are throttled per account and source
(`accounts.throttle`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from accounts import passwords
from accounts import service as accounts
from accounts.throttle import LoginThrottle
from core.db import transaction
from core.errors import Unauthenticated
from web.api.common import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    RequestModel,
    RuntimeDep,
    Text,
)
from web.api.people import user_json
from web.forwarded import client_of

router = APIRouter(tags=["session"])


class Login(RequestModel):
    email: Annotated[Text, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.post("/api/session")
async def log_in(body: Login, request: Request, response: Response, runtime: RuntimeDep) -> dict:
    """Check the password; on success set the HttpOnly session cookie and return the CSRF
    token that state-changing cookie requests must send as `X-CSRF-Token`. 429 with
    `Retry-After` while this account must wait at this address (or the address failed
    too often), see README "Throttling"."""
    throttle = LoginThrottle(runtime.throttle, runtime.settings.security)
    claim = await throttle.claim(body.email, client_of(request))
    user = await passwords.authenticate(runtime.sessions, body.email, body.password)
    if user is None:
        raise Unauthenticated("wrong email or password", code="bad_credentials")
    await throttle.succeeded(claim)
    days = runtime.settings.security.session_days
    async with transaction(runtime.sessions) as session:
        token, csrf = await accounts.start_login_session(session, user, days)
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
