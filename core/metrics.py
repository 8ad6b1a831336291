"""The service's Prometheus metrics, counted where things happen, served by `web.metrics`.

Every metric lives in prometheus-client's default registry of the process that counts it.
The SMTP receiver (a process of its own, `connectors.email.receiver`) does not count its
refusals itself: `count_rejected` hands them to `rejection_sink`, which the receiver points
at its pipe to the server, so that the server's `/metrics` holds them. Processes that serve
no HTTP (`frontdesk worker`) share their counts only in prometheus-client's multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`, see the README's "Operating Frontdesk").

Label values come from small fixed sets (reasons, outbox kinds, clock kinds, route
templates), never from input, so the number of series stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

MAIL_ACCEPTED = Counter(
    "frontdesk_mail_accepted", "Inbound mail that became a message, by source (smtp, imap).",
    ["source"])
MAIL_QUARANTINED = Counter(
    "frontdesk_mail_quarantined",
    "Inbound mail accepted but kept aside for an admin, by reason (unreadable, failed).",
    ["reason"])
MAIL_REJECTED = Counter(
    "frontdesk_mail_rejected", "Inbound mail refused on the wire (an SMTP 4xx/5xx), by reason.",
    ["reason"])
INGEST_LAG = Histogram(
    "frontdesk_ingest_lag_seconds",
    "From the raw mail committed (the SMTP 250) to its message committed in the inbox.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
OUTBOX_FAILURES = Counter(
    "frontdesk_outbox_failures",
    "Outbox deliveries that did not succeed, by kind and outcome (retry, failed).",
    ["kind", "outcome"])
SLA_BREACHES = Counter(
    "frontdesk_sla_breaches", "SLA goals breached (announced once per clock and deadline), "
    "by clock kind.", ["clock"])
HTTP_LATENCY = Histogram(
    "frontdesk_http_request_duration_seconds",
    "HTTP requests, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

REJECTION_REASONS = ("malformed_address", "unknown_recipient", "too_many_recipients",
                     "throttled", "too_large", "bare_line_feed", "not_stored")
"""Why the SMTP receiver refuses mail (the `reason` label of frontdesk_mail_rejected)."""


def _count_here(reason: str) -> None:
    MAIL_REJECTED.labels(reason).inc()


rejection_sink: Callable[[str], None] = _count_here
"""Where `count_rejected` sends a refusal: this process's counter, or the receiver's pipe."""


def count_rejected(reason: str) -> None:
    """Count one refusal of inbound mail; `reason` is one of REJECTION_REASONS."""
    if reason not in REJECTION_REASONS:
        raise ValueError(f"unknown rejection reason {reason!r}")
    rejection_sink(reason)


def count_relayed_rejection(reason: str) -> None:
    """Count a refusal the receiver process reported (an unknown reason is dropped)."""
    if reason in REJECTION_REASONS:
        _count_here(reason)


def exposition(outbox_backlog: int) -> bytes:
    """The text exposition of every metric, plus the outbox backlog read for this scrape.
    In multiprocess mode the counts of every process of the directory are summed."""
    backlog = CollectorRegistry(auto_describe=True)
    backlog.register(_Backlog(outbox_backlog))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry) + generate_latest(backlog)
    return generate_latest(REGISTRY) + generate_latest(backlog)


class _Backlog:
    """A collector of one value read by the caller (the backlog is a database count)."""

    def __init__(self, value: int):
        self.value = value

    def collect(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("frontdesk_outbox_backlog",
                                  "Outbox rows waiting to be delivered (pending or sending).",
                                  value=self.value)]
