"""What every API route shares: ids, paging, text and date types, the strictness of request
bodies, the runtime and the caller."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import resolve_login_session, user_for_api_token
from core.clock import EARLIEST_YEAR, LATEST_YEAR, in_supported_range
from core.db import transaction
from core.errors import Forbidden, Unauthenticated
from core.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT
from core.runtime import Runtime
from inbox.access import Scope, visible_inboxes

SESSION_COOKIE = "frontdesk_session"
CSRF_COOKIE = "frontdesk_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise ValueError("control characters are not allowed")
    return value


class RequestModel(BaseModel):
    """The base of every request body: JSON types are taken as they are (a boolean is not
    an id or a number, a string is not a number) and an unknown field is a 422 naming it.
    Query and path parameters are not models: their numbers arrive as text and stay lax."""

    model_config = ConfigDict(strict=True, extra="forbid")


def _aware_and_in_range(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a time zone (e.g. 2026-01-01T00:00:00Z)")
    # Checked on the local year first: converting year 1 or 9999 across zones overflows.
    if not in_supported_range(value):
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


# What _aware_and_in_range takes, for the OpenAPI document: a year in range, a zone.
MOMENT_PATTERN = r"^(19\d\d|[2-8]\d\d\d)-.*(Z|z|[+-]\d\d:?\d\d)$"
Moment = Annotated[datetime, Field(strict=False, json_schema_extra={"pattern": MOMENT_PATTERN},
                                   examples=["2026-01-01T00:00:00Z"]),
                   AfterValidator(_aware_and_in_range)]
"""A point in time with its zone (ISO 8601), between the years 1900 and 8999; for query
parameters and request bodies alike (in a body it is parsed from its text)."""


# What _no_control_chars takes, for the OpenAPI document (it checks, the pattern tells).
NO_CONTROL_CHARS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*$"
Text = Annotated[str, AfterValidator(_no_control_chars),
                 Field(json_schema_extra={"pattern": NO_CONTROL_CHARS})]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]
IdValue = Annotated[int, Field(ge=1, le=MAX_ID, examples=[1])]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]
SearchText = Annotated[str | None, Query(max_length=200)]
DEFAULT_PAGE = DEFAULT_LIMIT

JSON = dict[str, Any]
"""A JSON object as a route answers it (documented as an object with any properties)."""


def get_runtime(request: Request) -> Runtime:
    """The runtime serving this app."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _user_from_bearer(session: AsyncSession, header: str) -> User:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    user = await user_for_api_token(session, token.strip())
    if user is None:
        raise Unauthenticated("invalid, expired or revoked token")
    return user


async def _user_from_cookie(session: AsyncSession, request: Request) -> User:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated("log in first (POST /api/session) or send a bearer token")
    found = await resolve_login_session(session, cookie)
    if found is None:
        raise Unauthenticated("your session has expired; log in again")
    user, login = found
    # As bytes: compare_digest refuses str with non-ASCII letters, which a header may hold.
    sent = request.headers.get(CSRF_HEADER, "").encode()
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            sent, login.csrf_token.encode()):
        raise Forbidden("missing or wrong X-CSRF-Token header", code="csrf_failed")
    return user


@dataclass(frozen=True)
class Caller:
    """Who is asking: the signed-in user, and the inboxes they may see."""

    user: User
    scope: Scope


async def current_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """The authenticated user (a bearer token, or a session cookie plus CSRF on writes)
    and their scope, read in one transaction."""
    header = request.headers.get("authorization")
    async with transaction(runtime.sessions) as session:
        if header:
            user = await _user_from_bearer(session, header)
        else:
            user = await _user_from_cookie(session, request)
        scope = await visible_inboxes(session, user)
    return Caller(user, scope)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def current_user(caller: CurrentCaller) -> User:
    """The authenticated user."""
    return caller.user


async def current_admin(user: Annotated[User, Depends(current_user)]) -> User:
    """The authenticated agent, who must be an admin."""
    if not user.is_admin:
        raise Forbidden("only admins may do this")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]


def answers(example: JSON, code: int = 200) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry that shows `example` as the route's JSON answer for `code`."""
    return {code: {"content": {"application/json": {"example": example}}}}


def page(items: list[JSON], next_cursor: str | None) -> JSON:
    """The list envelope every listing answers with."""
    return {"items": items, "next_cursor": next_cursor}



async def id_page(session: Any, query: Any, id_column: Any, limit: int,
                  cursor: int | None) -> tuple[list[Any], str | None]:
    """Run `query` as a page ordered by `id_column` after `cursor` (the previous page's
    last id); returns (rows, next cursor)."""
    query = query.order_by(id_column).limit(limit + 1)
    if cursor:
        query = query.where(id_column > cursor)
    rows = list((await session.scalars(query)).all())
    items = rows[:limit]
    return items, (str(items[-1].id) if len(rows) > limit else None)
