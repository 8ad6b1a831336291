"""Which address a request comes from, for every limit (login, forms).

The peer of the connection, unless it is one of `[http] trusted_proxies`: then the
`X-Forwarded-For` entries are read from the right (the one the nearest proxy added) past
every trusted proxy, and the first address that is not one is the client. Entries to its
left were written by the client itself and could say anything. Nothing trusts the header
by default; uvicorn's own reading of it is switched off (`server._serve`).

`client_address` is pure; `client_of(request)` feeds it a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.addresses import Network, in_networks, parse_address

if TYPE_CHECKING:
    from starlette.requests import Request

UNKNOWN = "unknown"


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   proxies: Sequence[Network]) -> str:
    """The client's address: `peer` (the connection's), or when it is one of `proxies`,
    the rightmost `forwarded_for` entry that is not (entries of every X-Forwarded-For
    header, in order). An entry that is not an address ends the walk at the proxy that
    passed it on; when every hop is a trusted proxy, the leftmost entry is the client."""
    current = parse_address(peer or "")
    if current is None:
        return peer or UNKNOWN
    hops = [entry for header in forwarded_for for entry in header.split(",") if entry.strip()]
    for entry in reversed(hops):
        if not in_networks(current, proxies):
            break
        hop = parse_address(entry)
        if hop is None:
            break
        current = hop
    return str(current)


def client_of(request: Request) -> str:
    """The client address of `request` under the running configuration."""
    proxies = request.app.state.runtime.settings.http.trusted_proxies
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)
