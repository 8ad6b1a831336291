"""`/metrics` in Prometheus text format, and the middleware that times every HTTP request.

Access (README, "Operating Frontdesk"): with `[http] metrics = false` (the default)
`/metrics` answers 404 to everyone. With `true` it answers a client whose address is in
`[http] metrics_allowed` (loopback by default) without a token, and anyone else only with
an admin's bearer token (or an admin's browser session): 401 without one, 403 for an agent's.
A request that says it was forwarded (`X-Forwarded-For` or `Forwarded`) by a proxy that is
not one of `[http] trusted_proxies` is never let in by its address: behind a proxy on the
same machine every visitor would otherwise look like loopback.

`RequestTimer` observes each HTTP request's duration under its route's path template
(`/api/conversations/{conversation_id}`, never the path asked for) and its status; a
request no route matched counts as `unmatched`, so the series stay bounded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics, outbox
from core.addresses import Network, in_networks, parse_address
from core.db import transaction
from core.errors import NotFound
from web.api.common import RuntimeDep, current_admin, current_caller
from web.forwarded import client_address

router = APIRouter(tags=["operations"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"


def admitted_by_address(peer: str | None, forwarded_for: Sequence[str], forwarded: bool,
                        proxies: Sequence[Network], allowed: Sequence[Network]) -> bool:
    """Whether a request may read the metrics without a token: its client (the peer, or
    the one trusted proxies name) is in `allowed`. `forwarded` says the request carries
    X-Forwarded-For or Forwarded: through a proxy that is not trusted, the client is
    unknown and nobody is admitted by address."""
    peer_address = parse_address(peer or "")
    if peer_address is None:
        return False
    if forwarded and not in_networks(peer_address, proxies):
        return False
    client = parse_address(client_address(peer, forwarded_for, proxies))
    return client is not None and in_networks(client, allowed)


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}})
async def prometheus_metrics(request: Request, runtime: RuntimeDep) -> Response:
    """The service's metrics in Prometheus text format (when `[http] metrics = true`): to
    an address of `[http] metrics_allowed`, or with an admin's token."""
    http = runtime.settings.http
    if not http.metrics:
        raise NotFound("metrics are off ([http] metrics = false)")
    peer = request.client.host if request.client else None
    headers = request.headers
    if not admitted_by_address(peer, headers.getlist("x-forwarded-for"),
                               "x-forwarded-for" in headers or "forwarded" in headers,
                               http.trusted_proxies, http.metrics_allowed):
        await current_admin((await current_caller(request, runtime)).user)
    async with transaction(runtime.sessions) as session:
        backlog = await outbox.backlog(session)
    return Response(metrics.exposition(backlog), media_type=CONTENT_TYPE)


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (set by the router), or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestTimer:
    """Observes every HTTP request's duration in `frontdesk_http_request_duration_seconds`
    by method, route template and status (500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            metrics.HTTP_LATENCY.labels(scope["method"], route_template(scope),
                                        str(status)).observe(time.perf_counter() - started)
