"""Public web forms: `GET /forms/{slug}` shows the page, `POST /forms/{slug}` takes it in.

A POST is form-encoded (a browser: the page is re-rendered with field messages, or a
thank-you page) or JSON (422 with field errors, or 201 with the ticket number). Nothing is
stored unless the whole submission is valid. A filled honeypot field gets a thank-you and
nothing stored; each client address (`web.forwarded`) may submit `rate_limit_per_minute`
times a minute, counted by every server process together (`core.throttle`); the same
`Idempotency-Key` (header, or the page's hidden field) is stored once, bound to the request
that stored it: the same key with different values answers 422, never someone else's ticket.

The form is read from the database at each request (`connectors.forms.service`), so an
admin's change shows at the next one. Its page may be embedded in another site's iframe
(the embed snippet of the admin page): these pages alone allow any frame ancestor.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from connectors.forms.service import count_submission, public_form
from connectors.forms.spec import FormSpec
from connectors.forms.validate import (
    FormErrors,
    custom_values,
    is_bot,
    request_fingerprint,
    to_inbound,
    validate_submission,
)
from connectors.ingest import FollowUp, accept_then
from core.db import transaction
from core.errors import InvalidInput
from core.runtime import Runtime
from core.windows import Window, whole_seconds
from inbox.service import IngestResult, add_message_meta, bind_to_request
from tickets.models import Ticket
from tickets.service import ticket_for_conversation
from web.errors import error_body
from web.forwarded import client_of

router = APIRouter(tags=["forms"])
templates = Jinja2Templates(
    directory=Path(__file__).resolve().parent.parent / "connectors" / "forms" / "templates")
MAX_BODY = 256 * 1024
MAX_KEY = 200
KEY_REUSED = "Idempotency-Key reused with a different request"
FIELDS_META = "form_fields"
"""Key in a message's meta of the form's own fields: [{"name", "label", "value"}]."""
EMBEDDABLE = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors *"),
}
"""The public form's pages: no script at all, and any site may frame them."""


async def _form(runtime: Runtime, slug: str) -> FormSpec | None:
    async with transaction(runtime.sessions) as session:
        return await public_form(session, slug)


def _wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return "json" in content_type or "application/json" in request.headers.get("accept", "")


def _page(request: Request, form: FormSpec, *, status: int = 200,
          values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
          ) -> HTMLResponse:
    context = {"form": form, "values": values or {}, "errors": errors or {},
               "idempotency_key": uuid.uuid4().hex}
    return templates.TemplateResponse(request, "form.html", context, status_code=status,
                                      headers=EMBEDDABLE)


def _not_found(request: Request, as_json: bool) -> Response:
    if as_json:
        return JSONResponse(error_body("not_found", "no such form"), status_code=404)
    return templates.TemplateResponse(request, "not_found.html", {}, status_code=404,
                                      headers=EMBEDDABLE)


async def _read_body(request: Request, as_json: bool) -> dict[str, Any] | FormData:
    declared = request.headers.get("content-length", "0")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise InvalidInput(f"submission larger than {MAX_BODY // 1024} KiB", code="too_large")
    if as_json:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise InvalidInput(f"submission larger than {MAX_BODY // 1024} KiB", code="too_large")
        try:
            data = json.loads(raw or b"null")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise InvalidInput("body is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
            raise InvalidInput("body must be a JSON object of strings")
        return data
    return await request.form(max_files=0, max_fields=100, max_part_size=MAX_BODY)


def _idempotency_key(request: Request, data: Any) -> str | None:
    key = request.headers.get("idempotency-key") or data.get("idempotency_key") or None
    if key is not None and (not isinstance(key, str) or len(key) > MAX_KEY
                            or not key.isprintable()):
        raise InvalidInput(f"Idempotency-Key must be printable, at most {MAX_KEY} characters",
                           field="idempotency_key")
    return key


@router.get("/forms/{slug}", response_class=HTMLResponse)
async def show_form(slug: str, request: Request) -> Response:
    """The form page, or a 404 page for an unknown slug."""
    form = await _form(request.app.state.runtime, slug)
    return _page(request, form) if form else _not_found(request, False)


@router.post("/forms/{slug}")
async def submit_form(slug: str, request: Request) -> Response:
    """Validate, store (contact + conversation + ticket), then thank."""
    runtime = request.app.state.runtime
    as_json = _wants_json(request)
    form = await _form(runtime, slug)
    if form is None:
        return _not_found(request, as_json)
    wait = await runtime.throttle.hit(f"form:{form.slug}", client_of(request),
                                      Window(form.rate_limit_per_minute, 60))
    if wait:
        return _too_many(request, whole_seconds(wait), as_json)
    try:
        data = await _read_body(request, as_json)
        key = _idempotency_key(request, data)
    except InvalidInput as exc:
        return _bad_request(request, form, exc, as_json)
    if is_bot(data):
        return _thanks(request, form, None, as_json)
    result = validate_submission(form, data)
    if isinstance(result, FormErrors):
        return _invalid(request, form, data, result, as_json)
    external_id = f"form:{form.slug}:{key or uuid.uuid4().hex}"
    fingerprint = request_fingerprint(form, result) if key else None
    try:
        ingested, ticket = await accept_then(runtime.sessions,
                                             to_inbound(form, result, external_id),
                                             _ticket_of(form, result, fingerprint))
    except InvalidInput as exc:
        return _bad_request(request, form, exc, as_json)
    return _thanks(request, form, ticket.number if ticket else None, as_json,
                   replayed=ingested.duplicate)


def _ticket_of(form: FormSpec, values: dict[str, str],
               fingerprint: str | None) -> FollowUp[Ticket | None]:
    """What follows the ingest, in its transaction: the message is bound to the request's
    `fingerprint` (when it came with a key), or, stored by a different request, InvalidInput
    (and nothing is written); a new message keeps the form's own fields in its meta and
    counts as a submission of the form; then the ticket."""
    async def follow_up(session: AsyncSession, result: IngestResult) -> Ticket | None:
        if fingerprint is not None and not await bind_to_request(
                session, result.message_id, fingerprint):
            raise InvalidInput(KEY_REUSED, field="idempotency_key",
                               code="idempotency_key_reused")
        if not result.duplicate:
            await add_message_meta(session, result.message_id, FIELDS_META,
                                   custom_values(form, values))
            await count_submission(session, form.slug)
        return await ticket_for_conversation(session, result.conversation_id)

    return follow_up


def _thanks(request: Request, form: FormSpec, number: int | None, as_json: bool,
            replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    if as_json:
        return JSONResponse({"ticket_number": number, "message": form.thanks}, status_code=201,
                            headers=headers)
    return templates.TemplateResponse(request, "thanks.html",
                                      {"form": form, "ticket_number": number},
                                      headers=(headers or {}) | EMBEDDABLE)


def _invalid(request: Request, form: FormSpec, data: Any, result: FormErrors,
             as_json: bool) -> Response:
    if as_json:
        first = next(iter(result.errors))
        body = error_body("invalid", result.errors[first], first)
        body["error"]["fields"] = result.errors
        return JSONResponse(body, status_code=422)
    values = {spec.name: str(data.get(spec.name) or "") for spec in form.fields}
    return _page(request, form, status=422, values=values, errors=result.errors)


def _bad_request(request: Request, form: FormSpec, exc: InvalidInput,
                 as_json: bool) -> Response:
    status = 413 if exc.code == "too_large" else 422
    if as_json:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=status)
    return _page(request, form, status=status, errors={exc.field or "form": exc.message})


def _too_many(request: Request, wait: int, as_json: bool) -> Response:
    message = f"too many submissions from your address; try again in {wait} s"
    if as_json:
        return JSONResponse(error_body("rate_limited", message), status_code=429,
                            headers={"Retry-After": str(wait)})
    return HTMLResponse(f"<!doctype html><title>Slow down</title><p>{message}</p>",
                        status_code=429, headers={"Retry-After": str(wait)} | EMBEDDABLE)
