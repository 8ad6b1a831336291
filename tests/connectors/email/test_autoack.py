"""Automatic acknowledgments: off by default, once per sender per window, never to machines.

Inbound mail goes through the parser, the router and ingest, and `maybe_acknowledge` runs in
the ingest transaction as inbound's `finish` runs it. Acknowledgments leave through the
outbox to a real SMTP relay on loopback.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from connectors.email import autoack, inbound
from connectors.email.ids import is_ours
from connectors.email.models import AutoAcknowledgment, RawEmail
from connectors.email.parse import parse_email
from connectors.ingest import accept_then
from core import clock
from core.db import transaction
from core.outbox import OutboxItem
from inbox.directory import current_directory
from inbox.models import Conversation
from inbox.service import IngestResult
from tests.connectors.email import test_smtp_out as relaying
from tests.support import run_jobs
from tickets.service import ticket_for_conversation

SECRET = relaying.SECRET
relay_port, relay, email_out = relaying.relay_port, relaying.relay, relaying.email_out

ACK_TEXT = "We received your message and will answer within one working day."


@pytest.fixture
def settings_overrides(relay_port: int) -> dict:
    return {
        "smtp_out": {"host": "127.0.0.1", "port": relay_port, "timeout_seconds": 2.0},
        "smtp_in": {"catch_all_domains": ["desk.example.net"]},
        "inboxes": [
            {"slug": "support", "name": "Support", "from_name": "Acme Support",
             "addresses": ["help@example.com"], "auto_ack": True,
             "auto_ack_window_minutes": 60, "auto_ack_text": ACK_TEXT},
            {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]},
        ],
    }


def raw_email(*, sender: str = "Anna Berg <anna@example.org>",
              message_id: str = "c1@mail.example.org", subject: str = "Printer on fire",
              to: str = "help@example.com",
              extra: tuple[str, ...] = (), body: str = "It smokes.") -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
             f"Message-ID: <{message_id}>", "Date: Tue, 04 Mar 2025 09:30:00 +0000", *extra]
    return ("\r\n".join([*lines, "", body, ""])).encode()


async def receive(runtime, raw: bytes, inbox: str = "support") -> IngestResult:
    """Parse, route and ingest `raw` with the acknowledgment decided in the same transaction."""
    parsed = parse_email(raw, inbox=inbox)
    directory = current_directory(runtime)
    message = inbound.route(parsed, runtime.settings, directory)

    async def finish(session, result: IngestResult) -> None:
        await autoack.maybe_acknowledge(session, runtime.settings, directory, message, result,
                                        mailing_list=parsed.mailing_list)

    result, _ = await accept_then(runtime.sessions, message, finish)
    await run_jobs(runtime)
    return result


async def ack_rows(runtime) -> list[OutboxItem]:
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(
            select(OutboxItem).where(OutboxItem.kind == autoack.KIND).order_by(OutboxItem.id)
        )).all())


async def test_a_new_conversation_is_acknowledged(client, runtime, agent, relay, email_out):
    _, headers = agent
    result = await receive(runtime, raw_email(extra=("References: <older@mail.example.org>",)))
    assert result.opened

    [ack] = relay.accepted
    assert (ack.mail_from, ack.rcpt_tos) == ("<>", ["anna@example.org"])
    mail = ack.parsed()
    ticket_id = (await client.get(f"/api/conversations/{result.conversation_id}",
                                  headers=headers)).json()["ticket_id"]
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["From"] == "Acme Support <help@example.com>"
    assert mail["To"] == "Anna Berg <anna@example.org>"
    assert mail["Subject"] == f"Re: Printer on fire [#{ticket_id}]"
    assert mail["In-Reply-To"] == "<c1@mail.example.org>"
    assert mail["References"].split() == ["<older@mail.example.org>", "<c1@mail.example.org>"]
    assert is_ours(SECRET, mail["Message-ID"]) is True
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == ACK_TEXT
    [row] = await ack_rows(runtime)
    assert row.status == "sent"
    shown = (await client.get(f"/api/conversations/{result.conversation_id}",
                              headers=headers)).json()["messages"]
    assert [(m["direction"], m["automatic"]) for m in shown] == [
        ("inbound", False), ("outbound", True)]
    assert shown[1]["text"] == ACK_TEXT
    assert shown[1]["author"] == {"type": "system", "id": None}
    assert shown[1]["external_id"] == mail["Message-ID"].strip("<>")
    assert shown[1]["delivery_status"] == "sent"

    answer = raw_email(message_id="c2@mail.example.org", subject=mail["Subject"],
                       extra=(f"In-Reply-To: {mail['Message-ID']}",
                              f"References: <c1@mail.example.org> {mail['Message-ID']}"))
    assert (await receive(runtime, answer)).conversation_id == result.conversation_id


async def test_once_per_sender_per_window(runtime, relay, email_out):
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        await receive(runtime, raw_email(message_id="c1@x.example.org", subject="One"))
        manual.advance(timedelta(minutes=59))
        second = await receive(runtime, raw_email(message_id="c2@x.example.org", subject="Two"))
        assert second.opened
        await receive(runtime, raw_email(sender="bo@example.org", message_id="c3@x.example.org",
                                         subject="Three"))
        manual.advance(timedelta(minutes=2))
        await receive(runtime, raw_email(message_id="c4@x.example.org", subject="Four"))
    assert [(r.rcpt_tos[0], r.parsed()["In-Reply-To"]) for r in relay.accepted] == [
        ("anna@example.org", "<c1@x.example.org>"),
        ("bo@example.org", "<c3@x.example.org>"),
        ("anna@example.org", "<c4@x.example.org>"),
    ]
    async with transaction(runtime.sessions) as session:
        rows = (await session.scalars(select(AutoAcknowledgment)
                                      .order_by(AutoAcknowledgment.address))).all()
    assert [(r.inbox, r.address) for r in rows] == [("support", "anna@example.org"),
                                                    ("support", "bo@example.org")]


async def test_two_first_messages_at_once_get_one_acknowledgment(runtime, relay, email_out):
    results = await asyncio.gather(
        receive(runtime, raw_email(message_id="p1@x.example.org", subject="One")),
        receive(runtime, raw_email(message_id="p2@x.example.org", subject="Two")))
    await run_jobs(runtime)
    assert all(r.opened for r in results)
    assert len(relay.accepted) == 1 and len(await ack_rows(runtime)) == 1


async def test_replies_and_repeats_are_not_acknowledged(runtime, relay, email_out):
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        first = raw_email()
        await receive(runtime, first)
        manual.advance(timedelta(hours=2))
        assert (await receive(runtime, first)).duplicate
        reply = await receive(runtime, raw_email(
            message_id="c2@mail.example.org", subject="Re: Printer on fire",
            extra=("In-Reply-To: <c1@mail.example.org>",)))
        assert not reply.opened
    assert len(relay.accepted) == 1


async def test_an_inbox_without_auto_ack_stays_silent(runtime, relay, email_out):
    result = await receive(runtime, raw_email(to="sales@example.com"), inbox="sales")
    assert result.opened
    assert relay.accepted == [] and await ack_rows(runtime) == []


@pytest.mark.parametrize("raw", [
    raw_email(extra=("Auto-Submitted: auto-replied",)),
    raw_email(extra=("Auto-Submitted: auto-generated",)),
    raw_email(extra=("Precedence: bulk",)),
    raw_email(extra=("X-Autoreply: yes",)),
    raw_email(extra=("Return-Path: <>",)),
    raw_email(sender="MAILER-DAEMON@mx.example.org", subject="Undelivered Mail"),
    raw_email(sender="Mail Delivery System <postmaster@example.org>", subject="Failure"),
    raw_email(sender="no-reply@shop.example.org"),
    raw_email(sender="printers-request@lists.example.org"),
    raw_email(sender="Support <help@example.com>"),
    raw_email(sender="Sales <sales@example.com>"),
    raw_email(sender="robot@desk.example.net"),
    raw_email(sender="undisclosed-recipients:;"),
    raw_email(extra=("List-Id: Printer owners <printers.lists.example.org>",)),
    raw_email(extra=("List-Unsubscribe: <mailto:printers-leave@lists.example.org>",)),
], ids=["auto-replied", "auto-generated", "bulk", "x-autoreply", "null-return-path",
        "mailer-daemon", "postmaster", "no-reply", "request", "our-address", "other-inbox",
        "our-domain", "no-sender", "list-id", "list-unsubscribe"])
async def test_never_to_automatic_mail_or_machines(runtime, relay, email_out, raw):
    await receive(runtime, raw)
    assert relay.accepted == [] and await ack_rows(runtime) == []


async def test_list_mail_opens_a_ticket_but_is_not_acknowledged(runtime, relay, email_out):
    """Mail through a mailing list may be a person's question: it gets its conversation
    and ticket like any other, only no automatic answer."""
    raw = raw_email(extra=("List-Id: Printer owners <printers.lists.example.org>",))
    assert parse_email(raw, inbox="support").mailing_list == (
        "Printer owners <printers.lists.example.org>")
    result = await receive(runtime, raw)
    assert result.opened
    async with transaction(runtime.sessions) as session:
        conversation = await session.get(Conversation, result.conversation_id)
        assert conversation.status == "open"
        assert await ticket_for_conversation(session, result.conversation_id) is not None
    assert relay.accepted == [] and await ack_rows(runtime) == []


async def test_a_refused_acknowledgment_is_recorded_on_its_outbox_row(runtime, relay,
                                                                      email_out):
    relay.rcpt_replies = ["550 5.1.1 No such user"]
    await receive(runtime, raw_email())
    [row] = await ack_rows(runtime)
    assert (row.status, row.last_error) == ("failed", "550 5.1.1 No such user")
    assert relay.accepted == []


OURS = {"help@example.com", "sales@example.com"}
OUR_DOMAINS = {"desk.example.net"}


@pytest.mark.parametrize(("sender", "expected"), [
    ("anna@example.org", True),
    ("Anna.Berg+x@Example.ORG", True),
    ("postmaster.fan@example.org", True),
    (None, False),
    ("", False),
    ("  ", False),
    ("<>", False),
    ("MAILER-DAEMON@mx.example.org", False),
    ("mailer-daemon@mx.example.org", False),
    ("postmaster@example.org", False),
    ("PostMaster@example.org", False),
    ("noreply@example.org", False),
    ("no-reply@example.org", False),
    ("do-not-reply@example.org", False),
    ("owner-printers@lists.example.org", False),
    ("printers-request@lists.example.org", False),
    ("help@example.com", False),
    ("HELP@example.com", False),
    ("bot@desk.example.net", False),
    ("anna@example.org\r\nBcc: evil@example.com", False),
    ("not an address", False),
])
def test_who_may_be_acknowledged(sender, expected):
    assert autoack.may_acknowledge(sender, OURS, OUR_DOMAINS) is expected


async def test_mail_through_the_inbound_pipeline_is_acknowledged(runtime, relay, email_out):
    for raw in (raw_email(), raw_email(sender="bo@example.org", message_id="b1@x.example.org",
                                       extra=("Auto-Submitted: auto-replied",))):
        await inbound.store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp", raw=raw,
                                rcpt_to=["help@example.com"])
        await run_jobs(runtime)
        await run_jobs(runtime)
    [ack] = relay.accepted
    assert ack.rcpt_tos == ["anna@example.org"]
    assert ack.parsed()["Auto-Submitted"] == "auto-replied"


async def test_an_acknowledgment_answers_nothing_for_the_sla(client, runtime, admin, relay,
                                                            email_out):
    """The acknowledgment is not an agent's answer: the first response stays due, and the
    customer's next mail does not start a next-response cycle."""
    _, headers = admin
    policy = {"goals": {"first_response": {"minutes": 60}, "next_response": {"minutes": 60}}}
    assert (await client.put("/api/sla/settings", headers=headers,
                             json=policy)).status_code == 200
    result = await receive(runtime, raw_email())
    follow_up = await receive(runtime, raw_email(
        message_id="c2@mail.example.org", subject="Re: Printer on fire",
        extra=("In-Reply-To: <c1@mail.example.org>",)))
    assert follow_up.conversation_id == result.conversation_id and len(relay.accepted) == 1
    ticket_id = (await client.get(f"/api/conversations/{result.conversation_id}",
                                  headers=headers)).json()["ticket_id"]
    ticket = (await client.get(f"/api/tickets/{ticket_id}", headers=headers)).json()
    clocks = {c["goal"]: c for c in ticket["sla"]}
    assert set(clocks) == {"first_response"}
    assert clocks["first_response"]["status"] == "on_track"
    assert ticket["status"] == "new"


async def test_mail_ingested_but_not_marked_so_is_processed_again_harmlessly(
        runtime, relay, email_out, monkeypatch):
    """Raw mail lives in its own store and is marked processed after the ingest commits.
    When that mark is lost (the process dies in between), the raw mail stays pending and
    its next processing finds it ingested: one conversation, one acknowledgment."""
    raw_id = await inbound.store_raw(runtime.raw_sessions, inbox_slug="support",
                                     source="smtp", raw=raw_email(),
                                     rcpt_to=["help@example.com"])
    with monkeypatch.context() as patched:
        patched.setattr(inbound, "_FINISHED", text("UPDATE raw_emails SET nothing = 1"))
        await run_jobs(runtime)
    async with transaction(runtime.raw_sessions) as session:
        raw = await session.get(RawEmail, raw_id)
        assert (raw.status, raw.attempts) == ("pending", 1)
    await inbound.sweep({"runtime": runtime})
    await run_jobs(runtime)
    await run_jobs(runtime)
    async with transaction(runtime.raw_sessions) as session:
        raw = await session.get(RawEmail, raw_id)
    async with transaction(runtime.sessions) as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    assert (raw.status, raw.facts["duplicate"], conversations) == ("processed", True, 1)
    assert raw.message_id is not None
    assert len(relay.accepted) == 1
