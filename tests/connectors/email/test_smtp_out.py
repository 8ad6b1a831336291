"""Agent replies leave as email through a real SMTP relay on loopback (aiosmtpd).

The relay records every envelope and answers from a script (451, 550, slow...). Jobs run
in process by default and on real arq workers with FRONTDESK_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select, update

from connectors import outbound
from connectors.email import smtp_out
from connectors.email.compose import Draft, compose
from connectors.email.ids import is_ours
from connectors.email.parse import parse_email
from connectors.ingest import accept
from core import clock, outbox
from core.db import transaction
from core.outbox import OutboxItem
from core.settings import SmtpOutSettings
from inbox import service as inbox
from inbox.models import Contact, MessageAttachment
from tests.support import make_certificate, run_jobs, submit_form

SECRET = "test-secret-key-0123456789"


# ------------------------------------------------------------------------- the relay


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=policy.default)


@dataclass
class RecordingRelay:
    """An aiosmtpd handler: keeps accepted envelopes and every DATA it saw; answers RCPT
    and DATA from scripts (a reply per command, then 250), optionally after a delay."""

    accepted: list[Received] = field(default_factory=list)
    data_seen: list[bytes] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_delays: list[float] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delays:
            await asyncio.sleep(self.rcpt_delays.pop(0))
        if self.rcpt_replies and not (reply := self.rcpt_replies.pop(0)).startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen.append(envelope.original_content)
        if self.data_replies and not (reply := self.data_replies.pop(0)).startswith("250"):
            return reply
        self.accepted.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content))
        return "250 2.0.0 Ok: queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_relay(port: int, handler: RecordingRelay, **options) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def relay_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(relay_port: int) -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": relay_port, "timeout_seconds": 1.0}}


@pytest.fixture
def relay(relay_port: int) -> Iterator[RecordingRelay]:
    handler = RecordingRelay()
    with running_relay(relay_port, handler):
        yield handler


@pytest.fixture
def email_out(runtime, monkeypatch):
    """`smtp_out.install(runtime)`, undone after the test."""
    monkeypatch.setattr(outbound, "senders", dict(outbound.senders))
    monkeypatch.setattr(outbox, "handlers", dict(outbox.handlers))
    smtp_out.install(runtime)
    return runtime


# ------------------------------------------------------------------------- helpers


async def form_conversation(client, headers) -> tuple[int, int]:
    """(conversation id, ticket number) of a new contact-form submission."""
    number = (await submit_form(client)).json()["ticket_number"]
    ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
    return ticket["conversation_ids"][0], number


async def reply(client, headers, conv: int, text: str = "Thanks, fixed") -> int:
    response = await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                                 json={"kind": "reply", "text": text})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def api_message(client, headers, conv: int, message_id: int) -> dict:
    body = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()
    return next(m for m in body["messages"] if m["id"] == message_id)


async def outbox_rows(runtime) -> list[OutboxItem]:
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


def raw_email(*, message_id: str, subject: str = "Invoice question", body: str = "Hello?",
              in_reply_to: str | None = None, references: str | None = None,
              sender: str = "Anna Berg <anna@example.org>", cc: str | None = None,
              extra: tuple[str, ...] = ()) -> bytes:
    """An email to help@example.com; `extra` header lines go on top."""
    lines = [*extra, f"From: {sender}", "To: help@example.com",
             f"Subject: {subject}", f"Message-ID: <{message_id}>",
             "Date: Tue, 04 Mar 2025 09:30:00 +0000"]
    if cc:
        lines.append(f"Cc: {cc}")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append(f"References: {references}")
    return ("\r\n".join([*lines, "", body, ""])).encode()


async def ingest_email(runtime, raw: bytes) -> int:
    """Ingest an inbound email; returns its conversation id."""
    result = await accept(runtime.sessions, parse_email(raw, inbox="support").message)
    await run_jobs(runtime)
    return result.conversation_id


# --------------------------------------------------------------------------- tests


async def test_a_reply_on_a_form_conversation_becomes_an_email(client, runtime, agent, relay,
                                                               email_out):
    _, headers = agent
    conv, number = await form_conversation(client, headers)
    first = await reply(client, headers, conv, "Hello Anna,\n\nWe replaced the <fuse>.")
    await run_jobs(runtime)

    [sent] = relay.accepted
    assert (sent.mail_from, sent.rcpt_tos) == ("help@example.com", ["anna@example.org"])
    mail = sent.parsed()
    stored = await api_message(client, headers, conv, first)
    assert (stored["delivery_status"], stored["delivery_error"]) == ("sent", None)
    assert mail["Message-ID"] == f"<{stored['external_id']}>"
    assert is_ours(SECRET, stored["external_id"]) is True
    assert mail["From"] == "Support <help@example.com>"
    assert mail["To"] == "Anna Berg <anna@example.org>"
    assert mail["Subject"] == f"Re: Printer on fire [#{number}]"
    assert mail["Date"] is not None and mail["Auto-Submitted"] is None
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == "Hello Anna,\n\nWe replaced the <fuse>.\n"
    assert "<p>We replaced the &lt;fuse&gt;.</p>" in html.get_content()

    second = await reply(client, headers, conv, "One more thing.")
    await run_jobs(runtime)
    follow_up = relay.accepted[1].parsed()
    second_id = (await api_message(client, headers, conv, second))["external_id"]
    assert follow_up["Message-ID"] == f"<{second_id}>" != mail["Message-ID"]
    assert follow_up["In-Reply-To"] == mail["Message-ID"]
    assert follow_up["References"] == mail["Message-ID"]
    assert len(relay.accepted) == 2


async def test_replies_thread_under_the_customers_mail_and_answers_come_back(
        client, runtime, agent, relay, email_out):
    _, headers = agent
    conv = await ingest_email(runtime, raw_email(message_id="cust-1@mail.example.org",
                                                 subject="Re: Invoice question"))
    ticket_id = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()[
        "ticket_id"]
    await reply(client, headers, conv, "Which invoice?")
    await run_jobs(runtime)
    ours = relay.accepted[0].parsed()
    assert ours["Subject"] == f"Re: Invoice question [#{ticket_id}]"
    assert ours["In-Reply-To"] == "<cust-1@mail.example.org>"
    assert ours["References"] == "<cust-1@mail.example.org>"

    our_id = ours["Message-ID"].strip("<>")
    answer = raw_email(message_id="cust-2@mail.example.org", subject=ours["Subject"],
                       in_reply_to=our_id,
                       references=f"<cust-1@mail.example.org> <{our_id}>")
    assert await ingest_email(runtime, answer) == conv

    await reply(client, headers, conv, "Found it, refunded.")
    await run_jobs(runtime)
    last = relay.accepted[1].parsed()
    assert last["In-Reply-To"] == "<cust-2@mail.example.org>"
    assert last["References"].split() == ["<cust-1@mail.example.org>", f"<{our_id}>",
                                          "<cust-2@mail.example.org>"]


async def test_a_451_is_retried_with_backoff_then_sent_once_with_the_same_message_id(
        client, runtime, agent, relay, email_out):
    _, headers = agent
    relay.data_replies = ["451 4.3.0 Try again later"]
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, _ = await form_conversation(client, headers)
        message_id = await reply(client, headers, conv)
        await run_jobs(runtime)
        waiting = await api_message(client, headers, conv, message_id)
        assert (waiting["delivery_status"], waiting["delivery_error"]) == (
            "retrying", "451 4.3.0 Try again later")
        [row] = await outbox_rows(runtime)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at == manual() + outbox.backoff(1)
        assert relay.accepted == []

        assert await outbox.sweep({"runtime": runtime}) == 0
        manual.advance(outbox.backoff(1) + timedelta(seconds=1))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)

    [sent] = relay.accepted
    stored = await api_message(client, headers, conv, message_id)
    assert (stored["delivery_status"], stored["delivery_error"]) == ("sent", None)
    ids = [email.message_from_bytes(data)["Message-ID"] for data in relay.data_seen]
    assert ids == [f"<{stored['external_id']}>"] * 2
    assert sent.parsed()["Message-ID"] == ids[0]
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts) == ("sent", 2)


@pytest.mark.parametrize(("stage", "answer"), [
    ("rcpt", "550 5.1.1 <anna@example.org>: Recipient address rejected: User unknown"),
    ("data", "554 5.7.1 Message rejected as spam"),
])
async def test_a_5xx_fails_the_reply_with_the_servers_reason(client, runtime, agent, relay,
                                                             email_out, stage, answer):
    _, headers = agent
    setattr(relay, f"{stage}_replies", [answer])
    conv, _ = await form_conversation(client, headers)
    message_id = await reply(client, headers, conv)
    await run_jobs(runtime)
    failed = await api_message(client, headers, conv, message_id)
    assert (failed["delivery_status"], failed["delivery_error"]) == ("failed", answer)
    assert relay.accepted == []
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, answer)


async def test_a_refused_connection_is_retried_until_the_relay_is_back(
        client, runtime, agent, relay_port, email_out):
    _, headers = agent
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, _ = await form_conversation(client, headers)
        message_id = await reply(client, headers, conv)
        await run_jobs(runtime)
        waiting = await api_message(client, headers, conv, message_id)
        assert waiting["delivery_status"] == "retrying"
        assert waiting["delivery_error"].startswith(
            f"cannot reach the relay 127.0.0.1:{relay_port}: ")

        handler = RecordingRelay()
        with running_relay(relay_port, handler):
            manual.advance(outbox.backoff(1) + timedelta(seconds=1))
            assert await outbox.sweep({"runtime": runtime}) == 1
            await run_jobs(runtime)
    assert len(handler.accepted) == 1
    assert (await api_message(client, headers, conv, message_id))["delivery_status"] == "sent"


async def test_a_relay_that_does_not_answer_in_time_is_retried(client, runtime, agent, relay,
                                                                email_out):
    _, headers = agent
    relay.rcpt_delays = [1.5]
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, _ = await form_conversation(client, headers)
        message_id = await reply(client, headers, conv)
        await run_jobs(runtime)
        waiting = await api_message(client, headers, conv, message_id)
        assert (waiting["delivery_status"], waiting["delivery_error"]) == (
            "retrying", "timed out talking to the relay " + smtp_out.Relay(
                runtime.settings.smtp_out, None).name)
        manual.advance(outbox.backoff(1) + timedelta(seconds=1))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)
    assert len(relay.accepted) == 1
    assert (await api_message(client, headers, conv, message_id))["delivery_status"] == "sent"


@pytest.mark.parametrize("bad", [
    "anna@example.org\r\nBcc: evil@example.com",
    "anna@example.org>\r\nRCPT TO:<evil@example.com>",
    "anna@example.org, evil@example.com",
])
async def test_an_injected_address_is_refused_and_nothing_is_sent(client, runtime, agent, relay,
                                                                  email_out, bad):
    _, headers = agent
    conv, _ = await form_conversation(client, headers)
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Contact).values(email=bad))
    message_id = await reply(client, headers, conv)
    await run_jobs(runtime)
    failed = await api_message(client, headers, conv, message_id)
    assert failed["delivery_status"] == "failed"
    assert failed["delivery_error"].startswith("not a valid email address: ")
    assert failed["external_id"] is None
    assert relay.accepted == [] and relay.data_seen == []


async def test_the_same_outbox_row_delivered_twice_sends_one_email(client, runtime, agent, relay,
                                                                   email_out):
    _, headers = agent
    conv, _ = await form_conversation(client, headers)
    await reply(client, headers, conv)
    [row] = await outbox_rows(runtime)
    ctx = {"runtime": runtime}
    await asyncio.gather(outbox.deliver(ctx, row.id), outbox.deliver(ctx, row.id))
    await outbox.deliver(ctx, row.id)
    await run_jobs(runtime)
    assert len(relay.accepted) == 1
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts) == ("sent", 1)


async def reply_with_attachment(runtime, conv: int, author_id: int, content: bytes,
                                stored: bool) -> int:
    """A reply carrying one file, written in one transaction with the message."""
    async with transaction(runtime.sessions) as session:
        message = await inbox.add_agent_message(session, conv, author_id=author_id,
                                                kind="reply", text="The log is attached.")
        store = session.info["attachments"]
        digest = store.put(content) if stored else hashlib.sha256(content).hexdigest()
        session.add(MessageAttachment(message_id=message.id, filename="printer.log",
                                      content_type="text/plain", size=len(content),
                                      sha256=digest, inline=False))
    return message.id


async def test_a_reply_carries_its_attachments(client, runtime, agent, relay, email_out):
    user_id, headers = agent
    conv, _ = await form_conversation(client, headers)
    await reply_with_attachment(runtime, conv, user_id, b"E42 fuser overheated\n", stored=True)
    await run_jobs(runtime)
    mail = relay.accepted[0].parsed()
    assert mail.get_content_type() == "multipart/mixed"
    body, log = mail.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert (log.get_filename(), log.get_content_type()) == ("printer.log", "text/plain")
    assert log.get_payload(decode=True) == b"E42 fuser overheated\n"


async def test_a_reply_whose_attachment_is_gone_fails(client, runtime, agent, relay, email_out):
    user_id, headers = agent
    conv, _ = await form_conversation(client, headers)
    message_id = await reply_with_attachment(runtime, conv, user_id, b"never stored",
                                             stored=False)
    await run_jobs(runtime)
    failed = await api_message(client, headers, conv, message_id)
    assert (failed["delivery_status"], failed["delivery_error"]) == (
        "failed", "attachment 'printer.log' is missing from the store")
    assert relay.data_seen == []


async def test_a_worker_that_stops_after_the_relay_accepted_never_sends_again(
        client, runtime, agent, relay, email_out, monkeypatch):
    _, headers = agent
    send, stops = smtp_out.Relay.send, [True]

    async def accepted_then_stopped(self, *args, **kwargs):
        outcome = await send(self, *args, **kwargs)
        if stops and stops.pop():
            raise asyncio.CancelledError
        return outcome

    monkeypatch.setattr(smtp_out.Relay, "send", accepted_then_stopped)
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, _ = await form_conversation(client, headers)
        message_id = await reply(client, headers, conv)
        await run_jobs(runtime)
        [row] = await outbox_rows(runtime)
        assert row.status == "sending" and len(relay.accepted) == 1
        manual.advance(outbox.STUCK_AFTER + timedelta(seconds=1))
        await outbox.sweep({"runtime": runtime})
        await run_jobs(runtime)
    assert len(relay.accepted) == 1
    [row] = await outbox_rows(runtime)
    assert (row.status, row.last_error) == ("failed", outbox.STUCK_DETAIL)
    unknown = await api_message(client, headers, conv, message_id)
    assert (unknown["delivery_status"], unknown["delivery_error"]) == ("failed",
                                                                       outbox.STUCK_DETAIL)


async def test_install_serves_the_email_and_form_channels(runtime, email_out):
    sender = outbound.senders["email"]
    assert isinstance(sender, smtp_out.EmailSender) and outbound.senders["form"] is sender
    assert "auto_ack" in outbox.handlers


# ------------------------------------------------------------- the relay on its own


def a_mail() -> EmailMessage:
    return compose(Draft(
        from_address="help@example.com", from_name="Support", to_address="anna@example.org",
        to_name=None, subject="Hi", text="Hello", message_id="fd.r1.0123456789@example.com",
        date=clock.now()))


class Logins:
    def __init__(self):
        self.seen: list[tuple[bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)


@pytest.mark.parametrize(("password", "result"), [("s3cret", "sent"), ("wrong", "retry")])
async def test_the_relay_logs_in_with_the_password_from_the_environment(password, result):
    port, handler, logins = free_port(), RecordingRelay(), Logins()
    conf = SmtpOutSettings(host="127.0.0.1", port=port, username="frontdesk",
                           password_env="FD_TEST_SMTP_PASSWORD", timeout_seconds=5)
    relay = smtp_out.Relay.from_settings(conf, env={"FD_TEST_SMTP_PASSWORD": password})
    with running_relay(port, handler, authenticator=logins, auth_require_tls=False,
                       auth_exclude_mechanism=["LOGIN"]):
        outcome = await relay.send(a_mail(), sender="help@example.com",
                                   recipient="anna@example.org")
    assert outcome.result == result
    assert logins.seen == [(b"frontdesk", password.encode())]
    assert len(handler.accepted) == (1 if result == "sent" else 0)
    if result == "retry":
        assert outcome.detail.startswith(f"the relay 127.0.0.1:{port} refused our login: 535")


async def test_a_missing_password_variable_is_retried_without_connecting():
    conf = SmtpOutSettings(host="127.0.0.1", port=free_port(), username="frontdesk",
                           password_env="FD_TEST_UNSET_PASSWORD")
    outcome = await smtp_out.Relay.from_settings(conf, env={}).send(
        a_mail(), sender="help@example.com", recipient="anna@example.org")
    assert outcome.result == "retry"
    assert "'FD_TEST_UNSET_PASSWORD' is not set" in outcome.detail


async def test_starttls_required_but_not_offered_is_retried():
    port, handler = free_port(), RecordingRelay()
    conf = SmtpOutSettings(host="127.0.0.1", port=port, security="starttls", timeout_seconds=5)
    with running_relay(port, handler):
        outcome = await smtp_out.Relay(conf, None).send(
            a_mail(), sender="help@example.com", recipient="anna@example.org")
    assert outcome.result == "retry" and handler.accepted == []


@pytest.fixture
def relay_certificate(tmp_path) -> tuple[str, ssl.SSLContext]:
    """(ca_file that trusts it, server context) of a relay certificate for 127.0.0.1."""
    cert, key = make_certificate(tmp_path, "relay")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_to_the_relay_checks_its_certificate(relay_certificate, security):
    ca_file, server_context = relay_certificate
    port, handler = free_port(), RecordingRelay()
    conf = SmtpOutSettings(host="127.0.0.1", port=port, security=security, ca_file=ca_file,
                           timeout_seconds=5)
    # STARTTLS: the relay refuses mail before it; SSL: it speaks nothing but TLS.
    options = ({"tls_context": server_context, "require_starttls": True}
               if security == "starttls" else {"ssl_context": server_context})
    with running_relay(port, handler, **options):
        outcome = await smtp_out.Relay(conf, None).send(
            a_mail(), sender="help@example.com", recipient="anna@example.org")
    assert outcome.result == "sent", outcome.detail
    assert len(handler.accepted) == 1


async def test_a_relay_certificate_we_do_not_trust_is_retried_and_nothing_sent(
        relay_certificate):
    _, server_context = relay_certificate
    port, handler = free_port(), RecordingRelay()
    conf = SmtpOutSettings(host="127.0.0.1", port=port, security="starttls", timeout_seconds=5)
    with running_relay(port, handler, tls_context=server_context, require_starttls=True):
        outcome = await smtp_out.Relay(conf, None).send(
            a_mail(), sender="help@example.com", recipient="anna@example.org")
    assert outcome.result == "retry" and "CERTIFICATE_VERIFY_FAILED" in outcome.detail
    assert handler.accepted == []


R = "127.0.0.1:2525"


@pytest.mark.parametrize(("error", "result", "detail"), [
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(
        550, "5.1.1 User unknown", "a@x")]), "failed", "550 5.1.1 User unknown"),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(
        452, "4.2.2 Mailbox full", "a@x")]), "retry", "452 4.2.2 Mailbox full"),
    (aiosmtplib.SMTPDataError(554, "5.7.1 Spam\nsee https://example.net"), "failed",
     "554 5.7.1 Spam see https://example.net"),
    (aiosmtplib.SMTPDataError(451, "4.3.0 Later"), "retry", "451 4.3.0 Later"),
    (aiosmtplib.SMTPSenderRefused(553, "5.7.1 Not yours", "h@x"), "failed",
     "553 5.7.1 Not yours"),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Bad credentials"), "retry",
     f"the relay {R} refused our login: 535 5.7.8 Bad credentials"),
    (aiosmtplib.SMTPConnectResponseError(554, "No service"), "retry",
     f"the relay {R} refused the session: 554 No service"),
    (aiosmtplib.SMTPHeloError(501, "Bad HELO"), "retry",
     f"the relay {R} refused the session: 501 Bad HELO"),
    (aiosmtplib.SMTPConnectError("refused"), "retry", f"cannot reach the relay {R}: refused"),
    (aiosmtplib.SMTPServerDisconnected("gone"), "retry", f"cannot reach the relay {R}: gone"),
    (ConnectionRefusedError(111, "Connection refused"), "retry",
     f"cannot reach the relay {R}: [Errno 111] Connection refused"),
    (aiosmtplib.SMTPReadTimeoutError("slow"), "retry", f"timed out talking to the relay {R}"),
    (aiosmtplib.SMTPConnectTimeoutError("slow"), "retry", f"timed out talking to the relay {R}"),
    (TimeoutError(), "retry", f"timed out talking to the relay {R}"),
    (aiosmtplib.SMTPNotSupported("no STARTTLS"), "retry",
     f"the relay {R} does not support what we need: no STARTTLS"),
    (ValueError("Address 'a b' contains characters not permitted"), "failed",
     "Address 'a b' contains characters not permitted"),
    (aiosmtplib.SMTPException("odd"), "retry", "SMTPException: odd"),
])
def test_outcome_of_a_failed_send(error, result, detail):
    outcome = smtp_out.outcome_for(error, R)
    assert (outcome.result, outcome.detail) == (result, detail)
