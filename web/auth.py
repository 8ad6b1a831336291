"""Logging in and out, shared by `POST /api/session` and the login page: one throttle, one
password check, one kind of session cookie."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from accounts import passwords
from accounts import service as accounts
from accounts.models import User
from accounts.throttle import LoginThrottle
from core.db import transaction
from core.errors import Unauthenticated
from core.runtime import Runtime
from web.api.common import CSRF_COOKIE, SESSION_COOKIE
from web.forwarded import client_of


@dataclass(frozen=True)
class OpenedSession:
    """A login that succeeded: who, the cookie's token and the session's CSRF token."""

    user: User
    token: str
    csrf: str


async def open_session(runtime: Runtime, request: Request, email: str,
                       password: str) -> OpenedSession:
    """Check the password through the login throttle (README "Throttling") and open a
    browser session; Unauthenticated for a wrong email or password, RateLimited while this
    account must wait at this address."""
    throttle = LoginThrottle(runtime.throttle, runtime.settings.security)
    claim = await throttle.claim(email, client_of(request))
    user = await passwords.authenticate(runtime.sessions, email, password)
    if user is None:
        raise Unauthenticated("wrong email or password", code="bad_credentials")
    await throttle.succeeded(claim)
    async with transaction(runtime.sessions) as session:
        token, csrf = await accounts.start_login_session(
            session, user, runtime.settings.security.session_days)
    return OpenedSession(user, token, csrf)


def set_session_cookies(response: Response, runtime: Runtime, opened: OpenedSession) -> None:
    """The HttpOnly session cookie and the CSRF cookie (Secure when served over https)."""
    secure = runtime.settings.security.secure_cookies or runtime.settings.http.https
    max_age = runtime.settings.security.session_days * 86400
    response.set_cookie(SESSION_COOKIE, opened.token, max_age=max_age, httponly=True,
                        samesite="lax", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, opened.csrf, max_age=max_age, httponly=False,
                        samesite="strict", secure=secure, path="/")


async def close_session(runtime: Runtime, request: Request, response: Response) -> None:
    """End the browser session of `request` (if any) and clear its cookies on `response`."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with transaction(runtime.sessions) as session:
            await accounts.end_login_session(session, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
