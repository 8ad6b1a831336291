"""Sending a webhook delivery: the outbox handler of `webhooks.service.KIND`.

An attempt reads the delivery and its subscription, checks the target (http(s); every
address its host resolves to public, unless `[webhooks] allow_private_targets`), POSTs the
payload as JSON signed per `webhooks.rules`, and records what came back on the delivery
row: attempts, status code, response time, error. A 2xx is delivered; anything else (an
error, a timeout, another status) comes back after `rules.RETRY_DELAYS` through the
outbox, then the delivery has failed. A refused target fails at once: trying again would
not change the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.db import transaction
from core.outbox import Outcome
from core.settings import WebhookSettings
from webhooks import rules
from webhooks.models import Delivery, Subscription

log = logging.getLogger(__name__)

USER_AGENT = "Frontdesk-Webhooks/1"
MAX_ERROR = 500


@dataclass(frozen=True)
class Attempt:
    """What one attempt found: the receiver's status code and response time, or why it
    did not get one (`error`); `final` when trying again cannot help."""

    status_code: int | None = None
    response_ms: int | None = None
    error: str | None = None
    final: bool = False


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed) for `payload`."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def resolved_addresses(url: str) -> list[str]:
    """Every address the host of `url` resolves to (raises OSError when it does not)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(
        parts.hostname, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def attempt(settings: WebhookSettings, subscription: Subscription,
                  delivery: Delivery) -> Attempt:
    """POST `delivery` to `subscription`'s URL once (no retry here). The request goes to
    the addresses that were checked (the host name travels in `Host` and as the TLS server
    name), so a second resolution cannot send it elsewhere."""
    problem = rules.url_problem(subscription.url)
    if problem is not None:
        return Attempt(error=f"the url {problem}", final=True)
    try:
        addresses = await resolved_addresses(subscription.url)
    except OSError as exc:
        return Attempt(error=f"the host did not resolve: {exc}")
    refused = rules.target_refused(addresses, allow_private=settings.allow_private_targets)
    if refused is not None:
        return Attempt(error=refused, final=True)
    body = body_of(delivery.payload)
    timestamp = int(clock.now().timestamp())
    headers = {"Host": urlsplit(subscription.url).netloc, "Content-Type": "application/json",
               "User-Agent": USER_AGENT,
               rules.SIGNATURE_HEADER: rules.signature_header(subscription.secret, timestamp,
                                                              body),
               rules.EVENT_HEADER: delivery.event_type,
               rules.DELIVERY_HEADER: str(delivery.id)}
    started = time.monotonic()
    try:
        response = await _post(settings, subscription.url, addresses, headers, body)
    except httpx.HTTPError as exc:
        elapsed = round((time.monotonic() - started) * 1000)
        return Attempt(response_ms=elapsed, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    elapsed = round((time.monotonic() - started) * 1000)
    error = None if rules.succeeded(response.status_code) else (
        f"HTTP {response.status_code}: {response.text[:200]}")
    return Attempt(status_code=response.status_code, response_ms=elapsed, error=error)


async def _post(settings: WebhookSettings, url: str, addresses: list[str],
                headers: dict[str, str], body: bytes) -> httpx.Response:
    """POST to each of `addresses` in turn until one accepts the connection."""
    extensions = {"sni_hostname": urlsplit(url).hostname or ""}
    order = rules.connect_order(addresses)
    async with httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False,
                                 trust_env=False) as client:
        for address in order[:-1]:
            try:
                return await client.post(rules.pinned_url(url, address), content=body,
                                         headers=headers, extensions=extensions)
            except httpx.ConnectError:
                continue
        return await client.post(rules.pinned_url(url, order[-1]), content=body,
                                 headers=headers, extensions=extensions)


def _record_attempt(delivery: Delivery, found: Attempt) -> Outcome:
    """Write `found` on `delivery` and say what the outbox does next."""
    now = clock.now()
    delivery.attempts += 1
    delivery.status_code, delivery.response_ms = found.status_code, found.response_ms
    delivery.error = found.error
    if found.error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        return Outcome("sent")
    delay = None if found.final else rules.retry_delay(delivery.attempts)
    if delay is None:
        delivery.status, delivery.next_attempt_at = "failed", None
        return Outcome("failed", found.error)
    delivery.status, delivery.next_attempt_at = "pending", now + delay
    return Outcome("retry", found.error, retry_after=delay)


async def _load(sessions: async_sessionmaker[AsyncSession],
                delivery_id: int) -> tuple[Delivery, Subscription] | None:
    async with transaction(sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return None
        subscription = await session.get(Subscription, delivery.subscription_id)
        return None if subscription is None else (delivery, subscription)


class WebhookSender:
    """The outbox handler of webhook deliveries."""

    def __init__(self, settings: WebhookSettings):
        self.settings = settings

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> Outcome:
        """Attempt the delivery `payload["delivery_id"]` and record the attempt on it."""
        sessions = ctx["runtime"].sessions
        found = await _load(sessions, payload["delivery_id"])
        if found is None:
            return Outcome("failed", "the delivery or its webhook is gone")
        delivery, subscription = found
        if not subscription.active:
            result = Attempt(error="the webhook is inactive", final=True)
        else:
            result = await attempt(self.settings, subscription, delivery)
        async with transaction(sessions) as session:
            row = await session.get(Delivery, delivery.id)
            if row is None:
                return Outcome("failed", "the delivery is gone")
            outcome = _record_attempt(row, result)
        if outcome.result != "sent":
            log.info("webhook delivery %s to %s: %s", delivery.id, subscription.url,
                     outcome.detail)
        return outcome

    async def record(self, session: AsyncSession, payload: dict[str, Any],
                     outcome: Outcome) -> None:
        """A delivery the outbox gave up on (its worker stopped mid-attempt) has failed."""
        if outcome.result != "failed":
            return
        row = await session.get(Delivery, payload["delivery_id"])
        if row is not None and row.status == "pending":
            row.status, row.error, row.next_attempt_at = "failed", outcome.detail, None
