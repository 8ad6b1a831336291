"""Log in and out with a session cookie; failures are throttled per account and source
(`accounts.throttle`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from web.api.common import JSON, CurrentUser, RequestModel, RuntimeDep, Text
from web.api.people import user_json
from web.auth import close_session, open_session, set_session_cookies

router = APIRouter(tags=["session"])


class Login(RequestModel):
    email: Annotated[Text, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.post("/api/session")
async def log_in(body: Login, request: Request, response: Response, runtime: RuntimeDep) -> JSON:
    """Check the password; on success set the HttpOnly session cookie and return the CSRF
    token that state-changing cookie requests must send as `X-CSRF-Token`. 429 with
    `Retry-After` while this account must wait at this address (or the address failed
    too often), see README "Throttling"."""
    opened = await open_session(runtime, request, body.email, body.password)
    set_session_cookies(response, runtime, opened)
    return {"user": user_json(opened.user), "csrf_token": opened.csrf}


@router.delete("/api/session", status_code=204)
async def log_out(request: Request, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """End the cookie session (bearer tokens are revoked by an admin, not here)."""
    response = Response(status_code=204)
    await close_session(runtime, request, response)
    return response
