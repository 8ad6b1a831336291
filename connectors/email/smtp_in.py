"""The inbound SMTP server: validate, persist, acknowledge; the work comes later.

It runs inside the event loop of `frontdesk serve` (`start_smtp(runtime)`, then
`stop_smtp(server)`), on aiosmtpd's protocol, with `[smtp_in]` settings. What a sender hears:

    connect    more than client_connections_per_minute from its address  421 4.7.0 (closed)
    MAIL FROM  an address with control characters or invalid UTF-8    553 5.1.7
               SIZE= over [limits] max_message_bytes                   552 (aiosmtpd's)
               more than client_messages_per_minute from its address  450 4.7.1
    RCPT TO    an address no inbox owns, at no catch-all domain        550 5.1.1
               more than MAX_RECIPIENTS recipients                     452 4.5.3
    DATA       more than max_message_bytes (aiosmtpd counts them)      552 Error: Too much mail data
               a line over 1,000 bytes (RFC 5321 4.5.3.1.6)            500 Line too long
               a bare LF (a line feed without its carriage return)     521 5.5.2, and the
                                                                       connection is closed
               the raw bytes committed, one row per inbox addressed    250 2.0.0 Ok: queued as <ids>
               the commit failed (database down or locked, disk full)  451 4.3.0 (logged; the
                                                                       sender retries later)
               every recipient's address removed since its RCPT        451 4.3.0 (the retry
                                                                       is refused 550)

None of the rejections touches the database of mail; the per client limits count in the
shared throttle counters (`connectors.email.throttle`). Whatever gets `250` becomes a
message: the other limits (`core.limits`) only cut from it, and say so on it. The `250` is
sent only once the raw rows are committed; parsing, threading and the ticket follow in the
`email.process` job. A sender that retries after a lost `250` stores the same bytes twice;
ingest keeps one message per Message-ID, so the retry is harmless.

Commits are grouped (`GroupCommit`): mail that arrives while a commit is under way waits for
it and then goes in the next one, so under load many messages share one disk sync, while a
lone message is committed at once. Each sender still hears `250` only after its own rows are
committed.

`frontdesk serve` runs this server in a process of its own (`connectors.email.receiver`);
tests run it in their own event loop.

Fault points, for tests that crash the server for real: when the environment variable
FRONTDESK_FAULT_POINT (read once, at start) is `smtp-before-commit` the receiver kills itself
and the server's process with SIGKILL (a power cut) just before a message is stored, when
`smtp-after-commit` just after it is committed and before the `250` is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email.inbound import commit_raw, kick_raw, raw_row
from connectors.email.throttle import ClientLimits
from core.metrics import count_rejected
from core.settings import Settings, SmtpInSettings
from inbox.directory import CHANNELS, ChannelDirectory, Channels

log = logging.getLogger(__name__)

FAULT_POINT_VARIABLE = "FRONTDESK_FAULT_POINT"
FAULT_POINTS = ("smtp-before-commit", "smtp-after-commit")

RECEIVER_COMMITS = "smtp_in.commits"
"""Where `start_smtp` leaves its GroupCommit in `runtime.extras`, for processing to give
way to it (`connectors.email.inbound`)."""

MAX_RECIPIENTS = 100
"""RFC 5321 4.5.3.1.8: a server must take at least 100 recipients per message."""
GROUP_MAX_MESSAGES = 128
GROUP_MAX_BYTES = 32 * 1024 * 1024

OK_SENDER = "250 2.1.0 Ok"
OK_RECIPIENT = "250 2.1.5 Ok"
BAD_SENDER = "553 5.1.7 Sender address rejected: malformed address"
BAD_RECIPIENT = "553 5.1.3 Recipient address rejected: malformed address"
UNKNOWN_RECIPIENT = "550 5.1.1 Recipient address rejected: no such mailbox here"
TOO_MANY_RECIPIENTS = f"452 4.5.3 Too many recipients (at most {MAX_RECIPIENTS} per message)"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please retry"
BARE_LINE_FEED = "521 5.5.2 {host}: Error: bare <LF> received"
"""Postfix's answer with `smtpd_forbid_bare_newline = reject` (it then disconnects)."""


@dataclass(frozen=True)
class Delivery:
    """One inbox's share of a message: its slug and the recipients it owns."""

    inbox_slug: str
    rcpt_to: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedMail:
    """A message as received: envelope sender, the inboxes it goes to, the exact bytes."""

    mail_from: str
    deliveries: tuple[Delivery, ...]
    raw: bytes


def deliveries_for(directory: ChannelDirectory, recipients: Sequence[str]
                   ) -> tuple[Delivery, ...]:
    """Group accepted recipients by the inbox that owns them, in first-seen order."""
    by_inbox: dict[str, list[str]] = {}
    for address in recipients:
        inbox = directory.inbox_for_address(address)
        if inbox is not None:
            by_inbox.setdefault(inbox.slug, []).append(address)
    return tuple(Delivery(slug, tuple(rcpts)) for slug, rcpts in by_inbox.items())


_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def well_formed(address: str) -> bool:
    """No control characters, and storable as UTF-8 (SMTPUTF8 arguments arrive with
    undecodable bytes as lone surrogates)."""
    return _UNSTORABLE.search(address) is None


class StoreFailed(Exception):
    """The raw mail could not be committed; the sender should retry."""


# ---------------------------------------------------------------- group commit


@dataclass
class _Waiting:
    mail: AcceptedMail
    done: asyncio.Future[list[int]]
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.mail.raw) * len(self.mail.deliveries)


class GroupCommit:
    """Commits raw mail for many SMTP sessions, several messages per transaction.

    `store(mail)` queues the mail and waits. One task commits at a time: it takes whatever
    is queued (up to `max_messages` / `max_bytes`), commits it in one transaction and, once
    committed, answers each waiter with its row ids (before the rows' `email.process` jobs
    are enqueued); mail that arrived meanwhile goes in the next transaction. Nothing waits
    on purpose: a lone message is committed at once, in a transaction of its own.

    When a shared commit fails because of one message's data (a constraint or a value the
    database refuses), each message is retried alone, so one bad message cannot fail the
    others; any other failure (the database is down or locked) fails the whole group.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *,
                 max_messages: int = GROUP_MAX_MESSAGES, max_bytes: int = GROUP_MAX_BYTES,
                 on_quiet: Callable[[bool], None] | None = None):
        self.sessions = sessions
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.on_quiet = on_quiet
        """Optional: told False when mail starts waiting to be committed and True once none
        is left, for another process to learn what `quiet` tells here."""
        self._queue: deque[_Waiting] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def store(self, mail: AcceptedMail) -> list[int]:
        """Commit `mail` (one row per delivery); returns the row ids. Raises StoreFailed."""
        waiting = _Waiting(mail, asyncio.get_running_loop().create_future())
        if self._quiet.is_set():
            self._quiet.clear()
            if self.on_quiet is not None:
                self.on_quiet(False)
        self._queue.append(waiting)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="smtp-group-commit")
        # If the session goes away meanwhile, its future is cancelled; a group that has
        # not started yet leaves it out.
        return await waiting.done

    async def quiet(self, patience: float) -> None:
        """Return once no mail waits to be committed, or after `patience` seconds (how
        other writers give way to senders waiting for their `250`)."""
        if self._quiet.is_set():
            return
        try:
            async with asyncio.timeout(patience):
                await self._quiet.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Wait for the commits under way and queued."""
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    def _take(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        size = 0
        while self._queue and len(group) < self.max_messages:
            waiting = self._queue[0]
            if waiting.done.done():
                self._queue.popleft()
                continue
            if group and size + waiting.size > self.max_bytes:
                break
            group.append(self._queue.popleft())
            size += waiting.size
        return group

    async def _run(self) -> None:
        try:
            while self._queue:
                group = self._take()
                if group:
                    await self._commit_or_split(group)
        finally:
            if not self._queue:
                self._quiet.set()
                if self.on_quiet is not None:
                    self.on_quiet(True)

    async def _commit_or_split(self, group: list[_Waiting]) -> None:
        try:
            await self._commit(group)
        except (IntegrityError, DataError) as exc:
            if len(group) > 1:
                for waiting in group:
                    await self._commit_or_split([waiting])
                return
            self._fail(group, exc)
        except Exception as exc:
            self._fail(group, exc)

    async def _commit(self, group: list[_Waiting]) -> None:
        rows = [raw_row(inbox_slug=d.inbox_slug, source="smtp", raw=w.mail.raw,
                        mail_from=w.mail.mail_from, rcpt_to=d.rcpt_to)
                for w in group for d in w.mail.deliveries]
        ids = await commit_raw(self.sessions, rows)
        # The senders get their answers first, without waiting for the job queue.
        unanswered = iter(ids)
        for waiting in group:
            row_ids = [next(unanswered) for _ in waiting.mail.deliveries]
            if not waiting.done.done():
                waiting.done.set_result(row_ids)
        await kick_raw(self.sessions, ids)

    @staticmethod
    def _fail(group: list[_Waiting], exc: Exception) -> None:
        log.error("could not store %d inbound mail(s)", len(group), exc_info=exc)
        for waiting in group:
            if not waiting.done.done():
                waiting.done.set_exception(StoreFailed(type(exc).__name__))


# ---------------------------------------------------------------- the SMTP handler


def rejected(reason: str, peer: Any, **fields: Any) -> None:
    """Count a refusal of inbound mail (`core.metrics.REJECTION_REASONS`) and log its line."""
    count_rejected(reason)
    client = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    log.info("inbound mail rejected (%s) from %s", reason, client,
             extra={"event": "inbound_mail", "outcome": "rejected", "reason": reason,
                    "client": client, **fields})


def _fault(point: str | None, here: str, also: tuple[int, ...]) -> None:
    if point == here:
        for pid in (*also, os.getpid()):
            os.kill(pid, signal.SIGKILL)


class InboundHandler:
    """aiosmtpd handler hooks: check the envelope, then store before answering."""

    def __init__(self, settings: Settings, committer: GroupCommit, *,
                 channels: Channels | None = None, limits: ClientLimits | None = None,
                 fault_point: str | None = None, fault_kills: tuple[int, ...] = ()):
        self.settings = settings
        self.channels = channels or Channels(ChannelDirectory.from_settings(settings))
        """Which inbox owns an address, read afresh at each RCPT (replaced on a reload)."""
        self.committer = committer
        self.limits = limits
        self.fault_point = fault_point
        self.fault_kills = fault_kills
        """The other processes a fault point kills with this one (the whole server)."""

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if not well_formed(address):
            rejected("malformed_address", session.peer)
            return BAD_SENDER
        refusal = self.limits and await self.limits.refuse_message(session.peer)
        if refusal:
            rejected("throttled", session.peer, mail_from=address)
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return OK_SENDER

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not well_formed(address):
            rejected("malformed_address", session.peer)
            return BAD_RECIPIENT
        if not self.channels.current.owns(address):
            rejected("unknown_recipient", session.peer, mail_from=envelope.mail_from,
                     recipient=address)
            return UNKNOWN_RECIPIENT
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            rejected("too_many_recipients", session.peer, mail_from=envelope.mail_from)
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK_RECIPIENT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail = AcceptedMail(mail_from=envelope.mail_from or "",
                            deliveries=deliveries_for(self.channels.current, envelope.rcpt_tos),
                            raw=raw)
        if not mail.deliveries:  # every recipient's address was removed since its RCPT
            rejected("unknown_recipient", session.peer, mail_from=envelope.mail_from)
            return TEMPORARY_FAILURE
        _fault(self.fault_point, "smtp-before-commit", self.fault_kills)
        try:
            ids = await self.committer.store(mail)
        except StoreFailed:
            rejected("not_stored", session.peer, mail_from=envelope.mail_from)
            return TEMPORARY_FAILURE
        _fault(self.fault_point, "smtp-after-commit", self.fault_kills)
        return f"250 2.0.0 Ok: queued as {','.join(map(str, ids))}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("inbound SMTP session failed", exc_info=error)
        return TEMPORARY_FAILURE


# ---------------------------------------------------------------- the server


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+|$)")
"""`<local@domain>` of dot-atoms, then the end or blanks: the path almost every sender
gives, which `_getaddr` reads without aiosmtpd's general parser."""


def plain_path(arg: str) -> tuple[str, str] | None:
    """(address, parameters) of a MAIL / RCPT argument that is a plain path, as aiosmtpd's
    parser would read it; None for any other argument."""
    match = _PLAIN_PATH.match(arg)
    if match is None or arg[match.end():match.end() + 1] == "(":
        return None
    return match.group(1), arg[match.end():]


class BareLineFeed(Exception):
    """DATA held a line feed without the carriage return before it."""


class _NoBareLineFeeds:
    """The reader aiosmtpd's DATA reads through: the same lines, but a line feed without
    the carriage return before it raises BareLineFeed as soon as it arrives.

    DATA reads lines up to CRLF (`readuntil(b"\\r\\n")`) and, past its line length limit,
    fragments (`read`). Lines are read here up to the next LF instead, so that a bare one
    is seen at once, not when (if ever) a CRLF follows; a line that ends in CRLF is the
    same either way. A fragment may end in the CR of a CRLF: the LF that follows ends
    that line, handed to DATA as the CRLF it expects (DATA keeps nothing of a line too
    long, only where it ends)."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader
        self._after_cr = False

    async def readuntil(self, separator: bytes = b"\r\n") -> bytes:
        line = self._checked(await self.reader.readuntil(b"\n"))
        return b"\r\n" if line == b"\n" else line  # b"\n" passed: it ends a fragment's CR

    async def read(self, n: int = -1) -> bytes:
        return self._checked(await self.reader.read(n))

    def _checked(self, data: bytes) -> bytes:
        if has_bare_line_feed(data, after_cr=self._after_cr):
            raise BareLineFeed()
        if data:
            self._after_cr = data.endswith(b"\r")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


_BARE_LF = re.compile(rb"(?<!\r)\n")


def has_bare_line_feed(data: bytes, *, after_cr: bool = False) -> bool:
    """Whether `data` holds a LF not preceded by CR (`after_cr`: the byte before `data`
    was a CR)."""
    if after_cr and data.startswith(b"\n"):
        data = data[1:]
    return _BARE_LF.search(data) is not None


class _Protocol(SMTP):
    """aiosmtpd's protocol, with the live sessions known to the server (to close them),
    that refuses a bare LF in DATA.

    Its address parser builds a class and a token tree per call, a good part of the cost
    of a session; plain paths take a short cut to the same result (`plain_path`)."""

    def __init__(self, server: SmtpServer, handler: InboundHandler, **kwargs: Any):
        super().__init__(handler, **kwargs)
        self._frontdesk_server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._frontdesk_server.connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._frontdesk_server.connections.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        limits = self._frontdesk_server.handler.limits
        assert self.session is not None  # connection_made opened it
        refusal = limits and await limits.refuse_connection(self.session.peer)
        if refusal:  # instead of the greeting (RFC 5321 3.1)
            rejected("throttled", self.session.peer)
            await self.push(refusal)
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, but a bare LF in the data is answered at once with 521 and the
        connection is closed, as Postfix does with `smtpd_forbid_bare_newline = reject`.
        SMTP ends lines with CRLF only (RFC 5321 2.3.8); a server that also takes LF can
        be made to see an end of data where the sender's server saw none, and the rest
        as commands (SMTP smuggling). aiosmtpd alone reads such data as one long line and
        waits for a CRLF.CRLF that a bare-LF sender never sends."""
        reader = self._reader
        # A stand-in, not a StreamReader: it has the two reads DATA makes and hands the
        # rest to the real reader (subclassing would bring a second, empty buffer).
        self._reader = _NoBareLineFeeds(reader)  # type: ignore[assignment]
        try:
            await super().smtp_DATA(arg)
        except BareLineFeed:
            log.info("%r sent a bare LF in DATA; refused, connection closed",
                     self.session.peer if self.session else None)
            self._set_rset_state()  # type: ignore[no-untyped-call]  # unannotated in aiosmtpd
            rejected("bare_line_feed", self.session.peer if self.session else None)
            await self.push(BARE_LINE_FEED.format(host=self.hostname))
            if self.transport is not None:
                self.transport.close()
        finally:
            self._reader = reader

    async def push(self, status: AnyStr) -> None:
        """aiosmtpd's push; its own refusals of a message too large are counted here."""
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        if text.startswith("552 "):
            rejected("too_large", self.session.peer if self.session else None)
        await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = plain_path(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, rest = plain
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest


def tls_context(settings: SmtpInSettings) -> ssl.SSLContext | None:
    """The STARTTLS context from `starttls_cert` / `starttls_key`, or None (no STARTTLS)."""
    if not settings.starttls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.starttls_cert, settings.starttls_key)
    return context


@dataclass
class SmtpServer:
    """A listening inbound SMTP server; `port` is the one bound (useful with port 0)."""

    committer: GroupCommit
    handler: InboundHandler
    listener: asyncio.Server | None = None
    connections: set[_Protocol] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self.listener is not None
        return int(self.listener.sockets[0].getsockname()[1])


async def start_smtp(runtime: Any, *, port: int | None = None,
                     listener: socket.socket | None = None,
                     on_quiet: Callable[[bool], None] | None = None,
                     fault_kills: tuple[int, ...] = ()) -> SmtpServer:
    """Serve SMTP in the running event loop: on `listener` (a bound, listening socket)
    when given, else on `[smtp_in]` host and port (or `port`). `runtime` needs only
    `settings`, `raw_sessions` (the raw store, where accepted mail is committed),
    `throttle` (per client limits) and `extras`, where `extras[CHANNELS]` is the directory
    it keeps current (without one, the configuration file's). `on_quiet` and
    `fault_kills`: see GroupCommit and InboundHandler (for a receiver in a process of its
    own)."""
    settings: Settings = runtime.settings
    config = settings.smtp_in
    fault_point = os.environ.get(FAULT_POINT_VARIABLE) or None
    if fault_point is not None and fault_point not in FAULT_POINTS:
        raise ValueError(f"{FAULT_POINT_VARIABLE}: unknown fault point {fault_point!r}")
    if fault_point is not None:
        log.warning("inbound SMTP armed with fault point %s", fault_point)
    # aiosmtpd logs every command at INFO (addresses included); keep it to warnings unless
    # the deployment configured that logger itself.
    mail_log = logging.getLogger("mail.log")
    if mail_log.level == logging.NOTSET:
        mail_log.setLevel(logging.WARNING)

    committer = GroupCommit(runtime.raw_sessions, on_quiet=on_quiet)
    runtime.extras[RECEIVER_COMMITS] = committer
    limits = ClientLimits(runtime.throttle, config, socket.gethostname())
    handler = InboundHandler(settings, committer, channels=runtime.extras.get(CHANNELS),
                             limits=limits, fault_point=fault_point, fault_kills=fault_kills)
    server = SmtpServer(committer=committer, handler=handler)
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {
        "data_size_limit": settings.limits.max_message_bytes, "enable_SMTPUTF8": True,
        "hostname": socket.gethostname(), "ident": "Frontdesk ESMTP",
        "tls_context": tls_context(config), "loop": loop,
    }
    def protocol() -> _Protocol:
        return _Protocol(server, handler, **options)

    if listener is not None:
        server.listener = await loop.create_server(protocol, sock=listener)
    else:
        server.listener = await loop.create_server(protocol, config.host,
                                                   config.port if port is None else port)
    log.info("inbound SMTP listening on %s:%d", config.host, server.port)
    return server


async def stop_smtp(server: SmtpServer, *, grace_seconds: float = 10.0) -> None:
    """Stop listening, let the commits under way finish (their senders get their `250`),
    then close every session."""
    if server.listener is not None:
        server.listener.close()
    try:
        async with asyncio.timeout(grace_seconds):
            await server.committer.close()
    except TimeoutError:
        log.warning("inbound SMTP stopped with commits still under way")
    sessions = [p._handler_coroutine for p in server.connections if p._handler_coroutine]
    for protocol in list(server.connections):
        if protocol.transport is not None:
            protocol.transport.close()
    await asyncio.gather(*sessions, return_exceptions=True)
    server.connections.clear()
    if server.listener is not None:
        await server.listener.wait_closed()
