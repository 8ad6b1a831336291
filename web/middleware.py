"""ASGI middleware in front of every route: what a request may carry, what a response says.

`RequestGuard` takes a request body only up to `[http] max_body_bytes` (413 before anything
parses it, whether its length is declared or it comes in chunks; a reply with files, on the
paths `UPLOAD_PATHS` matches, up to `max_upload_bytes`) and refuses text that could
never be stored: a JSON string holding a lone UTF-16 surrogate (`"\\ud800"`, or the raw bytes
ED A0 80 that Python's JSON reader lets through) is a 422 naming the field, and a multipart
form in a charset that can decode to one is a 415. Query strings, paths, headers and
url-encoded forms are decoded with replacement characters by the server and Starlette, so
they never carry one; a NUL character in the path or a query parameter (which PostgreSQL
text cannot hold) is a 422 naming the parameter.

`SecurityHeaders` adds `nosniff`, a Referrer-Policy and `X-Frame-Options: DENY` to every
response, and to every HTML page a Content-Security-Policy without 'unsafe-inline'.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import error_body

# In JSON text: an escape of a surrogate (paired or not), or a raw surrogate code point.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
# In a decoded string: a surrogate left alone (a pair decodes to one code point above it).
_SURROGATE = re.compile("[\ud800-\udfff]")
# Charsets whose decoding never yields a lone surrogate (Starlette decodes multipart fields
# with the declared one, e.g. utf-7 or unicode_escape would).
SAFE_MULTIPART_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})

UPLOAD_PATHS = re.compile(r"/conversations/[0-9]+/messages"
                          r"|/api/conversations/[0-9]+/messages/multipart")
"""The routes that take an agent's reply with its files (multipart)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; "
    "frame-ancestors 'none'")
EVERY_RESPONSE_HEADERS = {"X-Content-Type-Options": "nosniff",
                          "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
HTML_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}


# ------------------------------------------------------------------ pure checks


def _unencodable_path(document: Any) -> tuple[str, ...] | None:
    """Where in a parsed JSON document the first string that UTF-8 cannot encode sits
    (keys included); None when every string encodes."""
    pending: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key in value:
                if _SURROGATE.search(key):
                    return (*path, key.encode("utf-8", "backslashreplace").decode("utf-8"))
            pending.extend(((*path, key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend(((*path, str(i)), item)
                           for i, item in reversed(list(enumerate(value))))
    return None


def unencodable_json_field(body: bytes) -> tuple[str, ...] | None:
    """The path to the first string of a JSON body that holds a lone surrogate (() for the
    body itself), or None: the body has none, or is not JSON at all (which the route
    answers as such). Decodes exactly as Python's json module does."""
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        return None
    if not _MAYBE_SURROGATE.search(text):
        return None  # the common case: no escape or code point that could be one
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _unencodable_path(document)


def nul_in_query(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL character (which
    PostgreSQL text cannot store), or None. Decodes as Starlette does."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\x00")
    return None


def declared_length(headers: Headers) -> int | None:
    """The Content-Length a request declares, or None (chunked, or not a number)."""
    value = headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None  # not "³"


def unsafe_multipart_charset(content_type: str) -> str | None:
    """The charset of a multipart Content-Type that could decode to lone surrogates (or
    that is unknown), or None when it is absent or safe."""
    kind, _, parameters = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"')
            try:
                known = codecs.lookup(charset).name
            except LookupError:
                return charset
            return None if known in SAFE_MULTIPART_CHARSETS else charset
    return None


def is_json(content_type: str) -> bool:
    """Whether a route may read a body of this Content-Type as JSON (FastAPI reads
    application/json and +json; the public forms anything naming json)."""
    return "json" in content_type.lower()


# ------------------------------------------------------------------ request guard


def _too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the cap. An HTTPException, so the routes'
    own body reading lets it through and the error handlers answer a JSON 413."""

    def __init__(self, limit: int):
        super().__init__(413, _too_large_message(limit))


class _Disconnected(Exception):
    pass


def too_large(limit: int) -> JSONResponse:
    """The 413 answer for a body larger than `limit` bytes."""
    return JSONResponse(error_body("too_large", _too_large_message(limit)), status_code=413)


def _refusal_before_the_body(scope: Scope, headers: Headers,
                             max_body_bytes: int) -> JSONResponse | None:
    """The answer to a request refused on its head alone, or None to go on."""
    length = declared_length(headers)
    if length is not None and length > max_body_bytes:
        return too_large(max_body_bytes)
    nul = "text must not hold a NUL character"
    if "\x00" in scope["path"]:
        return JSONResponse(error_body("invalid", f"the path: {nul}"), status_code=422)
    name = nul_in_query(scope.get("query_string", b""))
    if name is not None:
        return JSONResponse(error_body("invalid", nul, name), status_code=422)
    charset = unsafe_multipart_charset(headers.get("content-type", ""))
    if charset is not None:
        return JSONResponse(error_body("unsupported_media_type",
                                       f"multipart forms must be UTF-8, not {charset!r}"),
                            status_code=415)
    return None


class RequestGuard:
    """Caps request bodies at `max_body_bytes` (`max_upload_bytes` on the paths that take
    files) and refuses text that cannot be stored."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max(max_upload_bytes or 0, max_body_bytes)

    def cap_for(self, path: str) -> int:
        """The largest body a request to `path` may carry."""
        return self.max_upload_bytes if UPLOAD_PATHS.fullmatch(path) else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cap = self.cap_for(scope["path"])
        refusal = _refusal_before_the_body(scope, headers, cap)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        counted = self._counting(receive, cap)
        if is_json(headers.get("content-type", "")):
            try:
                body = await self._read_all(counted)
            except BodyTooLarge:
                refusal = too_large(cap)
            except _Disconnected:
                return
            else:
                refusal = _refusal_of_json(body)
                counted = _replaying(body, receive)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._run(scope, counted, send, cap)

    async def _run(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(cap)(scope, receive, send)

    def _counting(self, receive: Receive, cap: int) -> Receive:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        return counting_receive

    @staticmethod
    async def _read_all(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


def _refusal_of_json(body: bytes) -> JSONResponse | None:
    path = unencodable_json_field(body)
    if path is None:
        return None
    return JSONResponse(error_body("invalid", "text must be valid Unicode (it holds a lone "
                                   "surrogate)", ".".join(path) or None), status_code=422)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read already, then the server's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# ------------------------------------------------------------------ response headers


def _framed_by_others(policy: str) -> bool:
    """Whether a Content-Security-Policy lets other sites frame the page."""
    ancestors = [d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")]
    return bool(ancestors) and ancestors[0] != "frame-ancestors 'none'"


class SecurityHeaders:
    """Adds the headers every response and every HTML page carry (a route's own win). A
    page whose own policy lets other sites frame it goes without `X-Frame-Options`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                extra = dict(EVERY_RESPONSE_HEADERS)
                if headers.get("content-type", "").startswith("text/html"):
                    extra |= HTML_HEADERS
                for name, value in extra.items():
                    headers.setdefault(name, value)
                if _framed_by_others(headers.get("content-security-policy", "")):
                    del headers["x-frame-options"]  # a page others may frame (public forms)
            await send(message)

        await self.app(scope, receive, send_with_headers)
