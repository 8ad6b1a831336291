"""Turn every error into the JSON shape `{"error": {"code", "message", "field"?}}`.

A browser asking for a page gets a user error as a small page saying the same instead.

User errors keep their status; request validation is a 422 naming the field; anything
unexpected is logged and answered with a plain 500 that carries no exception text.
`ERROR_RESPONSES` documents the error answers in the OpenAPI document of every operation.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core.errors import RateLimited, UserError

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}
LOCATIONS = {"body", "query", "path", "header", "cookie"}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    """The request field at fault (dotted path into a JSON body), when there is one."""
    fields: dict[str, str] | None = None
    """Every field at fault and its message (public forms)."""


class ErrorDocument(BaseModel):
    """What every error answers."""

    error: ErrorDetail


ERROR_STATUSES = {
    400: "The request could not be read",
    401: "Not authenticated (or the credentials are wrong)",
    403: "Not allowed (wrong role, or missing CSRF token)",
    404: "No such object, or not visible to you",
    409: "The object is not in a state that allows this",
    413: "The request body is larger than the server takes",
    415: "The body's media type or charset is not taken",
    422: "Invalid input; `field` names the field",
    429: "Too many requests; retry after `Retry-After` seconds",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorDocument, "description": description}
    for status, description in ERROR_STATUSES.items()}
"""The error answers any operation may give, for `FastAPI(responses=...)`."""


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error document."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def _field_of(loc: tuple[Any, ...]) -> str | None:
    # Only the first step names where the value was (a field may be called `body` too).
    parts = [str(p) for p in (loc[1:] if loc and str(loc[0]) in LOCATIONS else loc)]
    return ".".join(parts) or None


def validation_message(error: dict[str, Any]) -> str:
    """A person-readable message for one pydantic error."""
    if error.get("type") == "json_invalid":
        return "body is not valid JSON"
    if error.get("type") == "missing":
        return "this field is required"
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def wants_page(request: Request) -> bool:
    """Whether an error should be answered with a page: a browser's request for a page
    (not the API, not an htmx swap, which shows the JSON message where it swaps)."""
    return (not request.url.path.startswith("/api/") and "hx-request" not in request.headers
            and "text/html" in request.headers.get("accept", ""))


def _error_page(request: Request, status: int, message: str,
                headers: dict[str, str] | None) -> Response:
    from web.pages.common import render  # the pages know the templates; errors come first

    return render(request, "error.html", {"status": status, "message": message},
                  status_code=status, headers=headers)


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if wants_page(request):
        return _error_page(request, exc.status, exc.message, headers)
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status,
                        headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
    field = _field_of(tuple(first.get("loc", ())))
    return JSONResponse(error_body("invalid", validation_message(first), field), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Sent past the middleware that adds this header to every other response.
    return JSONResponse(error_body("internal", "internal error; it has been logged"),
                        status_code=500, headers={"X-Content-Type-Options": "nosniff"})


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
