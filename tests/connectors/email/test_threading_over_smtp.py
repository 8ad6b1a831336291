"""Who can write into a conversation, over the wire: smtplib to the real SMTP server on
loopback, agent replies out through a real relay (aiosmtpd), everything read back through
the API.

The failures these reproduce: mallory@evil.example named alice's Message-ID (In-Reply-To,
or References) or the agent's genuine signed Message-ID, and joined alice's conversation;
after the agent closed it, a forged reply reopened it.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.email import inbound
from connectors.email.smtp_in import SmtpServer, start_smtp, stop_smtp
from core import clock
from core.runtime import Runtime
from tests.connectors.email import test_smtp_out
from tests.support import run_jobs

ALICE, BOB, MALLORY = "alice@example.org", "bob@example.org", "mallory@evil.example"
TRUSTED_MX = "mx.frontdesk.test"


# The outbound tests' relay on loopback, recording what the agent's replies look like.
relay_port, relay = test_smtp_out.relay_port, test_smtp_out.relay


@pytest.fixture
def settings_overrides(relay_port: int) -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": relay_port, "timeout_seconds": 5.0},
            "security": {"trusted_authserv_ids": [TRUSTED_MX]}}


@pytest.fixture
async def smtp(runtime: Runtime) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(runtime, port=0)
    yield server
    await stop_smtp(server)


@pytest.fixture
def manual_clock() -> Iterator[clock.ManualClock]:
    manual = clock.ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with clock.use(manual):
        yield manual


def mail(sender: str, message_id: str, *, subject: str = "Printer on fire",
         **headers: Any) -> bytes:
    return test_smtp_out.raw_email(message_id=message_id, subject=subject, sender=sender,
                                   body=f"Written by {sender}.", **headers)


def _send(port: int, sender: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30) as smtp:
        smtp.sendmail(sender, ["help@example.com"], raw)


async def send(runtime: Runtime, smtp: SmtpServer, sender: str, raw: bytes) -> None:
    """Deliver over SMTP (smtplib, in a thread) and process what arrived. The receiver
    answers `250` before it asks the job queue (Redis, maybe) to process the mail: the
    sweep asks again, so that nothing is left for later whatever came first."""
    await asyncio.to_thread(_send, smtp.port, sender, raw)
    await inbound.sweep({"runtime": runtime})
    await run_jobs(runtime)


class Api:
    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    async def get(self, path: str, **params) -> dict:
        response = await self.client.get(path, headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def send(self, method: str, path: str, body: dict) -> dict:
        response = await self.client.request(method, path, headers=self.headers, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    async def conversations(self) -> list[dict]:
        return (await self.get("/api/conversations", status="all"))["items"]

    async def newest(self) -> dict:
        return max(await self.conversations(), key=lambda c: c["id"])


@pytest.fixture
async def api(client, admin) -> Api:
    _, headers = admin
    return Api(client, headers)


async def alice_writes_and_the_agent_answers(runtime, smtp, api, relay) -> tuple[dict, str]:
    """Alice writes (Cc: bob), the agent takes and answers it; returns her conversation
    and the Message-ID of the agent's reply (signed, as it went out)."""
    await send(runtime, smtp, ALICE, mail(f"Alice <{ALICE}>", "alice-1@example.org",
                                          cc=f"Bob <{BOB}>"))
    [conversation] = await api.conversations()
    me = await api.get("/api/me")
    await api.send("PATCH", f"/api/conversations/{conversation['id']}", {"owner_id": me["id"]})
    await api.send("POST", f"/api/conversations/{conversation['id']}/messages",
                   {"kind": "reply", "text": "Is it still smoking?"})
    await run_jobs(runtime)
    [sent] = relay.accepted
    return conversation, sent.parsed()["Message-ID"].strip("<>")


async def snapshot(api: Api, conversation: dict) -> dict:
    """What a stranger's mail must not change: the conversation (status, owner, activity,
    messages) and its ticket (status, owner, SLA clocks)."""
    detail = await api.get(f"/api/conversations/{conversation['id']}")
    ticket = await api.get(f"/api/tickets/{conversation['ticket_id']}")
    return {"conversation": detail, "ticket": {key: ticket[key] for key in (
        "status", "owner_id", "sla", "updated_at", "conversation_ids")}}


@pytest.mark.parametrize("headers", [
    {"in_reply_to": "alice-1@example.org"},
    {"references": "<alice-1@example.org>"},
    {"in_reply_to": "GENUINE"},
    {"references": "<alice-1@example.org> <GENUINE>"},
])
async def test_a_stranger_naming_alices_thread_opens_a_linked_conversation(
        runtime, smtp, api, relay, manual_clock, headers):
    await api.send("PUT", "/api/sla/settings", {
        "mode": "always", "goals": {"first_response": {"minutes": 60},
                                    "next_response": {"minutes": 60}}})
    alice, genuine = await alice_writes_and_the_agent_answers(runtime, smtp, api, relay)
    before = await snapshot(api, alice)
    # A customer message here would start the next-response clock and move the ticket.
    assert before["ticket"]["status"] == "waiting_on_contact"
    assert [c["goal"] for c in before["ticket"]["sla"]] == ["first_response"]
    manual_clock.advance(timedelta(minutes=30))
    headers = {key: value.replace("GENUINE", genuine) for key, value in headers.items()}
    await send(runtime, smtp, MALLORY, mail(f"Mallory <{MALLORY}>", "mallory-1@evil.example",
                                            subject="Re: Printer on fire", **headers))
    assert await snapshot(api, alice) == before
    theirs = await api.newest()
    assert theirs["id"] != alice["id"] and theirs["contact"]["email"] == MALLORY
    assert theirs["status"] == "open" and theirs["owner_id"] is None
    assert theirs["ticket_id"] not in (None, alice["ticket_id"])
    assert theirs["replies_to"] == {"conversation_id": alice["id"],
                                    "ticket_id": alice["ticket_id"]}
    listed = {c["id"]: c["replies_to"] for c in await api.conversations()}
    assert listed == {alice["id"]: None, theirs["id"]: theirs["replies_to"]}


async def test_a_closed_conversation_stays_closed_for_strangers_and_forgeries(
        runtime, smtp, api, relay, manual_clock):
    alice, genuine = await alice_writes_and_the_agent_answers(runtime, smtp, api, relay)
    await api.send("PATCH", f"/api/tickets/{alice['ticket_id']}", {"status": "closed"})
    closed = await snapshot(api, alice)
    assert closed["conversation"]["status"] == "closed"
    forged = genuine.split("@")[0][:-10] + "0000000000@" + genuine.split("@")[1]
    manual_clock.advance(timedelta(hours=1))
    await send(runtime, smtp, MALLORY, mail(MALLORY, "m-forged@evil.example",
                                            in_reply_to=forged))
    await send(runtime, smtp, MALLORY, mail(MALLORY, "m-genuine@evil.example",
                                            in_reply_to=genuine))
    # Even with alice's own address in From: a trusted MTA found it forged (DMARC).
    await send(runtime, smtp, MALLORY, mail(ALICE, "m-spoofed@evil.example",
                                            in_reply_to=genuine, extra=(
        f"Authentication-Results: {TRUSTED_MX}; spf=fail smtp.mailfrom=evil.example;"
        " dmarc=fail (p=none) header.from=example.org",)))
    assert await snapshot(api, alice) == closed
    others = sorted((c for c in await api.conversations() if c["id"] != alice["id"]),
                    key=lambda c: c["id"])
    assert [c["replies_to"] and c["replies_to"]["conversation_id"] for c in others] == [
        None, alice["id"], alice["id"]]
    spoofed = await api.get(f"/api/conversations/{others[2]['id']}")
    assert [m["unverified_sender"] for m in spoofed["messages"]] == [True]
    assert spoofed["contact"]["email"] == ALICE


async def test_alice_and_whom_she_cced_still_join(runtime, smtp, api, relay, manual_clock):
    alice, genuine = await alice_writes_and_the_agent_answers(runtime, smtp, api, relay)
    await api.send("PATCH", f"/api/tickets/{alice['ticket_id']}", {"status": "closed"})
    await send(runtime, smtp, ALICE, mail(f"Alice <{ALICE}>", "alice-2@example.org",
                                          subject="Re: Printer on fire", in_reply_to=genuine,
                                          references=f"<alice-1@example.org> <{genuine}>"))
    await send(runtime, smtp, BOB, mail(f"Bob <{BOB}>", "bob-1@example.org",
                                        references="<alice-1@example.org>"))
    # An Authentication-Results field from a service nobody trusts is ignored.
    await send(runtime, smtp, BOB, mail(BOB, "bob-2@example.org", in_reply_to="bob-1@example.org",
                                        extra=("Authentication-Results: mx.evil.example;"
                                               " dmarc=fail header.from=example.org",)))
    [conversation] = await api.conversations()
    detail = await api.get(f"/api/conversations/{conversation['id']}")
    assert detail["status"] == "open"  # alice's answer reopened it
    assert [m["external_id"] for m in detail["messages"] if m["direction"] == "inbound"] == [
        "alice-1@example.org", "alice-2@example.org", "bob-1@example.org", "bob-2@example.org"]
    assert not any(m["unverified_sender"] for m in detail["messages"])
    ticket = await api.get(f"/api/tickets/{alice['ticket_id']}")
    assert ticket["status"] != "closed"
