"""Test connection, in plain words: the words as a table, then real servers (Dovecot for
IMAP, an aiosmtpd sink for a relay) and the failures an admin meets."""

from __future__ import annotations

import socket
import ssl

import aiosmtplib
import pytest
from aiosmtpd.smtp import AuthResult

from connectors.email import diagnose
from connectors.email.diagnose import probe_mailbox, probe_relay
from connectors.email.mailboxes import MailboxValues
from connectors.email.relays import RelayValues
from tests.connectors.email.dovecot import (  # noqa: F401
    Account,
    Dovecot,
    dovecot_server,
    free_port,
    imap_account,
)
from tests.connectors.email.test_smtp_out import RecordingRelay, running_relay


def _cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, message)
    error.verify_code, error.verify_message = code, message
    return error


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, reason)
    error.reason = reason
    return error


@pytest.mark.parametrize(("explain", "expected"), [
    (lambda: diagnose.explain_dns("imap.example.invalid",
                                  socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
     "host imap.example.invalid not found"),
    (lambda: diagnose.explain_dns("imap.example.com",
                                  socket.gaierror(socket.EAI_AGAIN, "Temporary failure")),
     "host imap.example.com could not be looked up now: the name server did not answer"),
    (lambda: diagnose.explain_connect("imap.example.com", 993, ConnectionRefusedError(111, "x"),
                                      10), "connection refused on port 993"),
    (lambda: diagnose.explain_connect("imap.example.com", 993, TimeoutError(), 10),
     "no answer from imap.example.com on port 993 within 10 seconds"),
    (lambda: diagnose.explain_connect("imap.example.com", 993,
                                      OSError(113, "No route to host"), 10),
     "cannot connect to imap.example.com on port 993: no route to host"),
    (lambda: diagnose.explain_tls("imap.example.com", _cert_error(18, "self-signed certificate")),
     "the certificate is not trusted: self-signed"),
    (lambda: diagnose.explain_tls("imap.example.com", _cert_error(62, "Hostname mismatch")),
     "the certificate is not for imap.example.com (host name mismatch)"),
    (lambda: diagnose.explain_tls("imap.example.com", _cert_error(10, "certificate has expired")),
     "the certificate has expired"),
    (lambda: diagnose.explain_tls("imap.example.com", _cert_error(99, "odd")),
     "the certificate is not trusted: odd"),
    (lambda: diagnose.explain_tls("imap.example.com", _ssl_error("WRONG_VERSION_NUMBER")),
     "the server does not speak TLS on this port (for STARTTLS or no encryption choose "
     "another security setting)"),
    (lambda: diagnose.explain_tls("imap.example.com", ConnectionResetError()),
     "the server closed the connection during the TLS handshake"),
    (lambda: diagnose.explain_tls("imap.example.com",
                                  Exception("STARTTLS extension not supported by server.")),
     "the server does not offer STARTTLS"),
    (lambda: diagnose.explain_imap_login(Exception("b'[AUTHENTICATIONFAILED] failed.'")),
     "the server refused the user name or password"),
    (lambda: diagnose.explain_imap_login(Exception("LOGINDISABLED")),
     "the server does not allow logging in without TLS; choose ssl or starttls"),
    (lambda: diagnose.folder_missing("Support", ["INBOX", "Archive"]),
     "folder 'Support' not found; folders: INBOX, Archive"),
    (lambda: diagnose.folder_missing("Support", []), "folder 'Support' not found; folders: (none)"),
    (lambda: diagnose.explain_smtp("auth", aiosmtplib.SMTPAuthenticationError(
        535, "5.7.8 Authentication credentials invalid")),
     "the relay refused the user name or password: 535 5.7.8 Authentication credentials invalid"),
    (lambda: diagnose.explain_smtp("rcpt", aiosmtplib.SMTPRecipientRefused(
        550, "5.1.1 No such user", "x@example.org")),
     "the relay refused the recipient: 550 5.1.1 No such user"),
    (lambda: diagnose.explain_smtp("mail", aiosmtplib.SMTPSenderRefused(
        553, "5.7.1 Sender not allowed", "a@example.org")),
     "the relay refused the sender: 553 5.7.1 Sender not allowed"),
    (lambda: diagnose.explain_smtp("auth", aiosmtplib.SMTPNotSupported("no AUTH")),
     "the relay does not offer AUTH (without TLS many relays do not)"),
    (lambda: diagnose.explain_smtp("data", TimeoutError()), "the relay did not answer in time"),
])
def test_what_went_wrong_is_said_in_plain_words(explain, expected):
    assert explain() == expected


def steps(report: diagnose.Diagnosis) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in report.steps]


def imap_values(dovecot: Dovecot, account: Account, **changes) -> MailboxValues:
    base = {"host": dovecot.host, "port": dovecot.port, "security": "none",
            "username": account.username}
    return MailboxValues(**(base | changes))


async def test_the_right_password_logs_in_and_counts_the_messages(dovecot, account):
    account.append(b"Subject: one\r\n\r\nx\r\n")
    account.append(b"Subject: two\r\n\r\nx\r\n")
    report = await probe_mailbox(imap_values(dovecot, account), account.password)
    assert report.ok and report.messages == 2
    assert steps(report) == [("dns", "ok"), ("tcp", "ok"), ("tls", "skipped"),
                             ("login", "ok"), ("folder", "ok")]
    assert report.steps[-1].message == "folder 'INBOX' holds 2 messages"


async def test_a_wrong_password_is_refused_and_said_so(dovecot, account):
    report = await probe_mailbox(imap_values(dovecot, account), "not-the-password")
    assert not report.ok and report.messages is None
    assert report.steps[-1] == diagnose.Step(
        "login", "failed", "the server refused the user name or password")


async def test_a_missing_folder_names_the_folders_there_are(dovecot, account):
    account.create("Archive")
    report = await probe_mailbox(imap_values(dovecot, account, folder="Support"),
                                 account.password)
    assert report.steps[-1] == diagnose.Step(
        "folder", "failed", "folder 'Support' not found; folders: Archive, INBOX")


async def test_a_closed_port_is_a_refused_connection(dovecot, account):
    port = free_port()
    report = await probe_mailbox(imap_values(dovecot, account, port=port), account.password)
    assert steps(report) == [("dns", "ok"), ("tcp", "failed")]
    assert report.steps[-1].message == f"connection refused on port {port}"


async def test_a_name_that_does_not_resolve_is_not_found(dovecot, account):
    report = await probe_mailbox(imap_values(dovecot, account, host="imap.frontdesk.invalid"),
                                 account.password)
    assert report.steps == [diagnose.Step("dns", "failed",
                                          "host imap.frontdesk.invalid not found")]


async def test_a_self_signed_certificate_is_not_trusted(dovecot, account):
    report = await probe_mailbox(imap_values(dovecot, account, port=dovecot.ssl_port,
                                             security="ssl"), account.password)
    assert report.steps[-1] == diagnose.Step("tls", "failed",
                                             "the certificate is not trusted: self-signed")


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls_with_the_servers_authority_passes(dovecot, account, security):
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    report = await probe_mailbox(imap_values(dovecot, account, port=port, security=security,
                                             ca_file=dovecot.ca_file), account.password)
    assert report.ok, report.steps
    assert ("tls", "ok") in steps(report)


async def test_a_server_that_never_answers_times_out_within_the_total():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        values = MailboxValues(host="127.0.0.1", port=silent.getsockname()[1], security="ssl",
                               username="nobody")
        report = await probe_mailbox(values, "x", total_seconds=0.5)
    assert steps(report)[-1] == ("tls", "failed")
    assert report.steps[-1].message == "no answer within 0.5 seconds in all"


# ------------------------------------------------------------------------- relay


class Logins:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)


async def test_a_relay_test_sends_a_message_to_the_address_typed():
    port, handler = free_port(), RecordingRelay()
    values = RelayValues(host="127.0.0.1", port=port, security="none")
    with running_relay(port, handler):
        report = await probe_relay(values, None, sender="help@example.com",
                                   recipient="admin@example.org")
    assert report.ok, report.steps
    assert steps(report) == [("dns", "ok"), ("tcp", "ok"), ("greeting", "ok"),
                             ("tls", "skipped"), ("auth", "skipped"), ("mail", "ok"),
                             ("rcpt", "ok"), ("data", "ok")]
    [received] = handler.accepted
    assert received.rcpt_tos == ["admin@example.org"]
    assert received.parsed()["Subject"] == "Frontdesk test message"


@pytest.mark.parametrize(("password", "last"), [
    ("s3cret", ("data", "ok")), ("wrong", ("auth", "failed"))])
async def test_a_relay_test_logs_in(password, last):
    port, handler = free_port(), RecordingRelay()
    values = RelayValues(host="127.0.0.1", port=port, security="none", username="frontdesk")
    with running_relay(port, handler, authenticator=Logins(), auth_require_tls=False):
        report = await probe_relay(values, password, sender="help@example.com",
                                   recipient="admin@example.org")
    assert steps(report)[-1] == last
    if password == "wrong":
        assert report.steps[-1].message.startswith(
            "the relay refused the user name or password: 535")


async def test_a_relay_that_refuses_the_recipient_says_so():
    port, handler = free_port(), RecordingRelay(rcpt_replies=["550 5.1.1 No such user"])
    values = RelayValues(host="127.0.0.1", port=port, security="none")
    with running_relay(port, handler):
        report = await probe_relay(values, None, sender="help@example.com",
                                   recipient="nobody@example.org")
    assert report.steps[-1] == diagnose.Step(
        "rcpt", "failed", "the relay refused the recipient: 550 5.1.1 No such user")
    assert handler.accepted == []


async def test_a_relay_without_starttls_says_so():
    port, handler = free_port(), RecordingRelay()
    values = RelayValues(host="127.0.0.1", port=port, security="starttls")
    with running_relay(port, handler):
        report = await probe_relay(values, None, sender="help@example.com",
                                   recipient="admin@example.org")
    assert report.steps[-1] == diagnose.Step("tls", "failed",
                                             "the server does not offer STARTTLS")


async def test_a_relay_on_a_closed_port_is_refused():
    port = free_port()
    report = await probe_relay(RelayValues(host="127.0.0.1", port=port, security="none"), None,
                               sender="help@example.com", recipient="admin@example.org")
    assert report.steps[-1] == diagnose.Step("tcp", "failed",
                                             f"connection refused on port {port}")
