"""/metrics: who may read it, and what it counts (the app in-process, its counters real).

The counters are the process's own and other tests count into them too, so every test
reads a value before and after what it does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import server
from core import clock, outbox
from core.db import transaction
from sla import jobs as sla_jobs
from tests.support import add_user, run_jobs, submit_form
from web.metrics import admitted_by_address

LOOPBACK = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
PROXY = (ip_network("10.0.0.5/32"),)


@pytest.mark.parametrize(("peer", "forwarded_for", "forwarded", "proxies", "allowed", "admitted"), [
    ("127.0.0.1", [], False, (), LOOPBACK, True),
    ("::1", [], False, (), LOOPBACK, True),
    ("203.0.113.7", [], False, (), LOOPBACK, False),
    ("203.0.113.7", [], False, (), (), False),
    # A proxy on this machine that is not trusted: the client behind it is unknown.
    ("127.0.0.1", ["203.0.113.7"], True, (), LOOPBACK, False),
    ("127.0.0.1", [], True, (), LOOPBACK, False),  # `Forwarded:` alone
    # A trusted proxy names the client: the client's address decides.
    ("10.0.0.5", ["192.0.2.9"], True, PROXY, (ip_network("192.0.2.0/24"),), True),
    ("10.0.0.5", ["203.0.113.7"], True, PROXY, (ip_network("192.0.2.0/24"),), False),
    ("10.0.0.5", ["192.0.2.9, 10.0.0.5"], True, PROXY, (ip_network("192.0.2.0/24"),), True),
    (None, [], False, (), LOOPBACK, False),
    ("not an address", [], False, (), LOOPBACK, False),
])
def test_who_is_admitted_by_address(peer, forwarded_for, forwarded, proxies, allowed, admitted):
    assert admitted_by_address(peer, forwarded_for, forwarded, proxies, allowed) is admitted


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict:
    """Metrics on, unless a test says otherwise."""
    return getattr(request, "param", {"http": {"metrics": True}})


async def client_at(runtime, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=server.create_app(runtime=runtime),
                                    client=(address, 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def local(runtime) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_at(runtime, "127.0.0.1"):
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
async def test_metrics_are_off_by_default(local, admin):
    _, headers = admin
    assert (await local.get("/metrics")).status_code == 404
    assert (await local.get("/metrics", headers=headers)).status_code == 404


async def test_loopback_reads_without_a_token_others_need_an_admin(runtime, local, client,
                                                                   admin, agent):
    assert (await local.get("/metrics")).status_code == 200
    assert (await client.get("/metrics")).status_code == 401  # 203.0.113.7
    assert (await client.get("/metrics", headers=agent[1])).status_code == 403
    assert (await client.get("/metrics", headers=admin[1])).status_code == 200
    # Through a proxy on this machine that is not trusted: loopback proves nothing.
    forwarded = await local.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert forwarded.status_code == 401


async def test_http_latency_is_labelled_by_route_template_and_status(local, admin):
    _, headers = admin
    before = await scrape(local)
    for conversation_id in (123456, 123457):
        response = await local.get(f"/api/conversations/{conversation_id}", headers=headers)
        assert response.status_code == 404
    await local.get("/no/such/page/at/all")
    after = await scrape(local)
    key = ("frontdesk_http_request_duration_seconds_count",
           (("method", "GET"), ("route", "/api/conversations/{conversation_id}"),
            ("status", "404")))
    assert after[key] - before.get(key, 0) == 2
    unmatched = ("frontdesk_http_request_duration_seconds_count",
                 (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    assert after[unmatched] - before.get(unmatched, 0) == 1
    routes = {dict(labels).get("route") for name, labels in after
              if name.startswith("frontdesk_http_request_duration_seconds")}
    assert not any("123456" in (route or "") for route in routes)


class AlwaysLater:
    """An outbox handler whose peer is always down: every delivery is to be retried."""

    async def deliver(self, ctx: dict[str, Any], payload: dict[str, Any]) -> outbox.Outcome:
        return outbox.Outcome("retry", "peer down")

    async def record(self, session: Any, payload: dict[str, Any],
                     outcome: outbox.Outcome) -> None:
        pass


@pytest.fixture
def later_kind() -> Iterator[str]:
    outbox.handlers["test-later"] = AlwaysLater()
    yield "test-later"
    del outbox.handlers["test-later"]


async def test_outbox_backlog_and_failures(runtime, local, later_kind):
    backlog = ("frontdesk_outbox_backlog", ())
    retried = ("frontdesk_outbox_failures_total", (("kind", later_kind), ("outcome", "retry")))
    failed = ("frontdesk_outbox_failures_total", (("kind", "unknown"), ("outcome", "failed")))
    before = await scrape(local)
    assert before[backlog] == 0
    async with transaction(runtime.sessions) as session:
        for _ in range(3):
            await outbox.add(session, later_kind, {})
        await outbox.add(session, "no-such-kind", {})
    await run_jobs(runtime)
    after = await scrape(local)
    assert after[backlog] == 3  # waiting for their next attempt
    assert after[retried] - before.get(retried, 0) == 3
    assert after[failed] - before.get(failed, 0) == 1


async def test_a_breach_is_counted_once(runtime, local, admin):
    _, headers = admin
    key = ("frontdesk_sla_breaches_total", (("clock", "first_response"),))
    before = (await scrape(local)).get(key, 0)
    start = (datetime.now(UTC) + timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    manual = clock.ManualClock(start)
    with clock.use(manual):
        response = await local.put("/api/sla/settings", headers=headers, json={
            "mode": "always", "goals": {"first_response": {"minutes": 60}}})
        assert response.status_code == 200
        await run_jobs(runtime)
        assert (await submit_form(local)).status_code == 201
        manual.set(start + timedelta(minutes=61))
        for _ in range(2):  # the sweep announces it once, however often it runs
            await run_jobs(runtime)
            await sla_jobs.sweep({"runtime": runtime})
    assert (await scrape(local))[key] - before == 1


async def test_an_admin_from_anywhere_reads_the_same_exposition(runtime, client):
    _, headers = await add_user(runtime, "ops@example.com", "admin", "Olga Ops")
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"frontdesk_mail_accepted", "frontdesk_mail_rejected", "frontdesk_mail_quarantined",
            "frontdesk_ingest_lag_seconds", "frontdesk_outbox_backlog",
            "frontdesk_outbox_failures", "frontdesk_sla_breaches",
            "frontdesk_http_request_duration_seconds"} <= names
