"""The pure decisions of webhooks: which events exist, how a delivery is signed and checked,
when a failed one is tried again, and which targets a delivery may reach. No I/O here.

Signature (README, "Webhooks"): each POST carries

    Frontdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

where `<body>` is the exact bytes of the request body. A receiver recomputes the HMAC with
the secret it was shown at creation, compares in constant time, and refuses a timestamp too
far from its own clock (replays of an old request). During a secret rotation a header may
carry several `v1=` values; one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

EVENTS = ("conversation.created", "message.received", "message.sent", "ticket.changed",
          "sla.due_soon", "sla.breached")
"""Every event a subscription may name."""

RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                timedelta(hours=2), timedelta(hours=12))
"""The wait after each failed attempt; after the last one the delivery has failed (so a
delivery is tried at most 1 + len(RETRY_DELAYS) times, over about 15 hours)."""

SIGNATURE_HEADER = "Frontdesk-Signature"
EVENT_HEADER = "Frontdesk-Event"
DELIVERY_HEADER = "Frontdesk-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_URL_LENGTH = 2000


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the `Frontdesk-Signature` header for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(header: str, body: bytes, secret: str, *, now: int,
           tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `tolerance` seconds of
    `now` (unix seconds): the check a receiver makes, written out for the README."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not candidates:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def retry_delay(attempts: int) -> timedelta | None:
    """The wait before trying again after `attempts` failed attempts, or None when the
    delivery has failed for good."""
    if attempts < 1 or attempts > len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[attempts - 1]


def succeeded(status_code: int) -> bool:
    """Whether the receiver's answer counts as delivered (any 2xx)."""
    return 200 <= status_code < 300


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook's target (not http(s), no host, credentials in it,
    too long), or None when its shape is fine."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


def private_address(address: str) -> bool:
    """Whether `address` (an IP address as text) is not a public internet address:
    loopback, private, link-local, shared, reserved, multicast or unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def literal_address(host: str) -> str | None:
    """`host` when it is an IP address literal (without IPv6 brackets), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def pinned_url(url: str, address: str) -> str:
    """`url` with its host replaced by `address` (the one checked), port, path and query
    kept: the request goes to the address that was judged, not to a second resolution."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def connect_order(addresses: Iterable[str]) -> list[str]:
    """The addresses to try in turn: IPv4 first, then IPv6, each in the given order."""
    listed = list(dict.fromkeys(addresses))
    return [a for a in listed if ":" not in a] + [a for a in listed if ":" in a]


def target_refused(addresses: Iterable[str], *, allow_private: bool) -> str | None:
    """Why a delivery may not go to a host resolving to `addresses`, or None. Unless
    `allow_private`, every address must be public: one private address refuses the host
    (a name pointing inside the network must not reach it through Frontdesk)."""
    resolved = list(addresses)
    if not resolved:
        return "the host has no address"
    if allow_private:
        return None
    inside = sorted({a for a in resolved if private_address(a)})
    if inside:
        return (f"the host resolves to a private or loopback address ({', '.join(inside)}); "
                "set [webhooks] allow_private_targets = true to allow it")
    return None
