"""Test connection: talk to an IMAP mailbox or an outgoing relay and say, step by step and
in plain words, what happened.

    IMAP    DNS -> connection -> TLS -> login -> folder (and how many messages it holds)
    relay   DNS -> connection -> TLS -> greeting -> AUTH -> MAIL FROM -> RCPT TO -> DATA

Each step is ok, failed or skipped; the first failure ends the test. The words come from
the pure `explain_*` functions (a table test holds them); the I/O around them is thin: the
IMAP side is imap-tools (blocking, so in a thread), the relay side aiosmtplib. A whole test
is bounded by `total_seconds`; a step still running then fails as timed out.
"""

from __future__ import annotations

import asyncio
import imaplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import aiosmtplib
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError, MailboxLoginError

from connectors.email.mailboxes import MailboxValues
from connectors.email.relays import RelayValues
from connectors.email.tls import client_context

TOTAL_SECONDS = 20.0
STEP_SECONDS = 10.0

Status = Literal["ok", "failed", "skipped"]
LABELS = {"dns": "DNS", "tcp": "Connection", "tls": "TLS", "greeting": "Greeting",
          "login": "Login", "auth": "AUTH", "folder": "Folder", "mail": "MAIL FROM",
          "rcpt": "RCPT TO", "data": "DATA"}


@dataclass(frozen=True)
class Step:
    """One step of a test: what it was, how it went, and a sentence for the admin."""

    name: str
    status: Status
    message: str

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


@dataclass
class Diagnosis:
    """The steps of one test, in order, and what it found."""

    steps: list[Step] = field(default_factory=list)
    messages: int | None = None
    """IMAP: how many messages the folder holds, once it was opened."""

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.status != "failed" for s in self.steps)

    def add(self, name: str, status: Status, message: str) -> None:
        self.steps.append(Step(name, status, message))

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "messages": self.messages,
                "steps": [{"step": s.name, "label": s.label, "status": s.status,
                           "message": s.message} for s in self.steps]}


class _Stop(Exception):
    """A step failed; the test ends there (its step is recorded already)."""


# ----------------------------------------------------------------- the words (pure)


_NOT_FOUND = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL")
              if hasattr(socket, n)}


def explain_dns(host: str, exc: OSError) -> str:
    """Why `host` could not be looked up."""
    if isinstance(exc, socket.gaierror) and exc.errno in _NOT_FOUND:
        return f"host {host} not found"
    if isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN:
        return f"host {host} could not be looked up now: the name server did not answer"
    return f"host {host} could not be looked up: {exc.strerror or exc}"


def explain_connect(host: str, port: int, exc: BaseException, seconds: float) -> str:
    """Why no connection to `host`:`port` could be made."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused on port {port}"
    if isinstance(exc, TimeoutError):
        return f"no answer from {host} on port {port} within {seconds:g} seconds"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect to {host} on port {port}: {exc.strerror.lower()}"
    return f"cannot connect to {host} on port {port}: {exc}"


_UNTRUSTED = {
    18: "the certificate is not trusted: self-signed",
    19: "the certificate is not trusted: self-signed (in its chain)",
    20: "the certificate is not trusted: issued by an authority this server does not know",
    21: "the certificate is not trusted: issued by an authority this server does not know",
    10: "the certificate has expired",
    9: "the certificate is not valid yet",
}
X509_HOSTNAME_MISMATCH = 62


def explain_tls(host: str, exc: BaseException) -> str:
    """Why the TLS handshake with `host` failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == X509_HOSTNAME_MISMATCH:
            return f"the certificate is not for {host} (host name mismatch)"
        known = _UNTRUSTED.get(exc.verify_code)
        return known or f"the certificate is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return ("the server does not speak TLS on this port (for STARTTLS or no "
                    "encryption choose another security setting)")
        return f"the TLS handshake failed: {reason}"
    if isinstance(exc, (ConnectionError, EOFError)):
        return "the server closed the connection during the TLS handshake"
    text = str(exc)
    if "STARTTLS" in text.upper():
        return "the server does not offer STARTTLS"
    return f"the TLS handshake failed: {text}"


def explain_imap_login(exc: BaseException) -> str:
    """Why the IMAP server did not let us in."""
    text = str(exc)
    if "LOGINDISABLED" in text.upper() or "PLAINTEXT" in text.upper():
        return "the server does not allow logging in without TLS; choose ssl or starttls"
    return "the server refused the user name or password"


def folder_missing(folder: str, folders: Sequence[str]) -> str:
    """The folder is not there: name it, and the ones that are."""
    shown = ", ".join(folders[:20]) + (", ..." if len(folders) > 20 else "")
    return f"folder '{folder}' not found; folders: {shown or '(none)'}"


def smtp_answer(exc: aiosmtplib.SMTPResponseException) -> str:
    """A relay's reply as one line: code and text."""
    return f"{exc.code} {' '.join(exc.message.split())}".strip()


def explain_smtp(step: str, exc: BaseException) -> str:
    """Why step `step` of sending through a relay failed."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"the relay refused the user name or password: {smtp_answer(exc)}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = {"greeting": "the relay refused the session", "auth": "the relay refused AUTH",
                "mail": "the relay refused the sender", "rcpt": "the relay refused the "
                "recipient", "data": "the relay refused the message"}.get(step, "the relay said")
        return f"{what}: {smtp_answer(exc)}"
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return ("the relay does not offer AUTH (without TLS many relays do not)"
                if step == "auth" else "the relay does not offer STARTTLS")
    if isinstance(exc, TimeoutError):
        return "the relay did not answer in time"
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
        return "the relay closed the connection"
    return f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------- shared I/O


async def _resolve(host: str, port: int, report: Diagnosis) -> None:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        report.add("dns", "failed", explain_dns(host, exc))
        raise _Stop from None
    addresses = sorted({str(info[4][0]) for info in found})
    report.add("dns", "ok", f"{host} is {', '.join(addresses[:3])}")


async def _reach(host: str, port: int, report: Diagnosis) -> None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), STEP_SECONDS)
    except (OSError, TimeoutError) as exc:
        report.add("tcp", "failed", explain_connect(host, port, exc, STEP_SECONDS))
        raise _Stop from None
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    report.add("tcp", "ok", f"connected to {host} on port {port}")


async def _bounded(report: Diagnosis, work: Callable[[], object], next_step: Callable[[], str],
                   total: float) -> None:
    """Run `work` (a coroutine function) within `total` seconds; when it runs out, the
    step it was on fails as timed out."""
    try:
        await asyncio.wait_for(work(), total)  # type: ignore[arg-type]
    except _Stop:
        pass
    except TimeoutError:
        report.add(next_step(), "failed", f"no answer within {total:g} seconds in all")


# ----------------------------------------------------------------- IMAP


def _imap_client(values: MailboxValues) -> BaseMailBox:
    if values.security == "ssl":
        return MailBox(values.host, values.port, timeout=STEP_SECONDS,
                       ssl_context=client_context(values.ca_file))
    if values.security == "starttls":
        return MailBoxStartTls(values.host, values.port, timeout=STEP_SECONDS,
                               ssl_context=client_context(values.ca_file))
    return MailBoxUnencrypted(values.host, values.port, timeout=STEP_SECONDS)


def _imap_session(values: MailboxValues, password: str, report: Diagnosis) -> None:
    """The blocking part, in a thread: TLS, login, folder. Appends its steps to `report`."""
    try:
        mailbox = _imap_client(values)
    except (ssl.SSLError, OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        if values.security == "none":
            report.add("tls", "skipped", "not encrypted (security: none)")
            report.add("login", "failed", f"the server did not greet us: {exc}")
        else:
            report.add("tls", "failed", explain_tls(values.host, exc))
        return
    report.add("tls", *(("skipped", "not encrypted (security: none)")
                        if values.security == "none"
                        else ("ok", f"the certificate is valid for {values.host}")))
    try:
        _imap_login_and_folder(mailbox, values, password, report)
    finally:
        try:
            mailbox.logout()
        except (OSError, imaplib.IMAP4.error, ImapToolsError):
            pass


def _imap_login_and_folder(mailbox: BaseMailBox, values: MailboxValues, password: str,
                           report: Diagnosis) -> None:
    try:
        mailbox.login(values.username, password, initial_folder=None)
    except (MailboxLoginError, imaplib.IMAP4.error) as exc:
        report.add("login", "failed", explain_imap_login(exc))
        return
    report.add("login", "ok", f"logged in as {values.username}")
    try:
        folders = [f.name for f in mailbox.folder.list()]
        wanted = next((f for f in folders if f == values.folder or
                       (f.upper() == "INBOX" and values.folder.upper() == "INBOX")), None)
        if wanted is None:
            report.add("folder", "failed", folder_missing(values.folder, folders))
            return
        count = mailbox.folder.status(wanted, ["MESSAGES"])["MESSAGES"]
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        report.add("folder", "failed", f"the folder could not be read: {exc}")
        return
    report.messages = int(count)
    report.add("folder", "ok", f"folder '{values.folder}' holds {count} "
                               f"message{'s' if count != 1 else ''}")


def _after(report: Diagnosis, order: Sequence[str]) -> str:
    done = {s.name for s in report.steps}
    return next((name for name in order if name not in done), order[-1])


async def probe_mailbox(values: MailboxValues, password: str, *,
                       total_seconds: float = TOTAL_SECONDS) -> Diagnosis:
    """Connect to the mailbox `values` describe, log in and open its folder; never raises
    for anything the server or the network does."""
    report = Diagnosis()

    async def work() -> None:
        await _resolve(values.host, values.port, report)
        await _reach(values.host, values.port, report)
        await asyncio.to_thread(_imap_session, values, password, report)

    await _bounded(report, work, lambda: _after(report, ("dns", "tcp", "tls", "login",
                                                         "folder")), total_seconds)
    return report


# ----------------------------------------------------------------- relay


def probe_message(sender: str, recipient: str, domain: str) -> EmailMessage:
    """The message a relay test sends."""
    message = EmailMessage()
    message["From"], message["To"] = sender, recipient
    message["Subject"] = "Frontdesk test message"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid("relay-test", domain=domain or None)
    message.set_content("This is a test message from Frontdesk: the relay works.\n")
    return message


async def _smtp(step: str, report: Diagnosis, call: Callable[[], object],
                ok: Callable[[object], str]) -> None:
    try:
        answer = await call()  # type: ignore[misc]
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        report.add(step, "failed", explain_smtp(step, exc))
        raise _Stop from None
    report.add(step, "ok", ok(answer))


def _said(answer: object) -> str:
    if isinstance(answer, aiosmtplib.SMTPResponse):
        return f"{answer.code} {' '.join(answer.message.split())}".strip()
    return "ok"


async def _relay_session(values: RelayValues, password: str | None, sender: str,
                         recipient: str, report: Diagnosis) -> None:
    client = aiosmtplib.SMTP(
        hostname=values.host, port=values.port, timeout=STEP_SECONDS,
        use_tls=values.security == "ssl", start_tls=False,
        tls_context=client_context(values.ca_file) if values.security != "none" else None)
    try:
        await _relay_connect(client, values, report)
        if values.username:
            await _smtp("auth", report, lambda: client.login(values.username, password or ""),
                        lambda a: f"logged in as {values.username}: {_said(a)}")
        else:
            report.add("auth", "skipped", "no user name: sending without logging in")
        await _smtp("mail", report, lambda: client.mail(sender), _said)
        await _smtp("rcpt", report, lambda: client.rcpt(recipient), _said)
        domain = sender.rpartition("@")[2]
        await _smtp("data", report,
                    lambda: client.data(probe_message(sender, recipient, domain).as_bytes()),
                    lambda a: f"accepted: {_said(a)}")
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _relay_connect(client: aiosmtplib.SMTP, values: RelayValues,
                         report: Diagnosis) -> None:
    """Greeting and TLS (implicit or STARTTLS), in the order they happen."""
    try:
        greeting = await client.connect()
    except aiosmtplib.SMTPConnectResponseError as exc:
        _tls_passed(values, report)
        report.add("greeting", "failed", explain_smtp("greeting", exc))
        raise _Stop from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        cause = exc.__cause__ or exc
        if values.security == "ssl":
            report.add("tls", "failed", explain_tls(values.host, cause))
        else:
            report.add("greeting", "failed", explain_smtp("greeting", cause))
        raise _Stop from None
    if values.security == "ssl":
        _tls_passed(values, report)
    report.add("greeting", "ok", _said(greeting))
    if values.security == "starttls":
        try:
            await client.starttls()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            report.add("tls", "failed", explain_tls(values.host, exc.__cause__ or exc))
            raise _Stop from None
        _tls_passed(values, report)
    elif values.security == "none":
        report.add("tls", "skipped", "not encrypted (security: none)")


def _tls_passed(values: RelayValues, report: Diagnosis) -> None:
    if values.security != "none":
        report.add("tls", "ok", f"the certificate is valid for {values.host}")


async def probe_relay(values: RelayValues, password: str | None, *, sender: str,
                     recipient: str, total_seconds: float = TOTAL_SECONDS) -> Diagnosis:
    """Send a test message from `sender` to `recipient` through the relay `values`
    describe; never raises for anything the relay or the network does."""
    report = Diagnosis()

    async def work() -> None:
        await _resolve(values.host, values.port, report)
        await _reach(values.host, values.port, report)
        await _relay_session(values, password, sender, recipient, report)

    await _bounded(report, work, lambda: _after(report, ("dns", "tcp", "tls", "greeting",
                                                         "auth", "mail", "rcpt", "data")),
                   total_seconds)
    return report
