"""IMAP import: each enabled mailbox (`connectors.email.mailboxes`) is polled; new mail is
committed, then flagged.

    poll_all (job "email.imap_poll", every POLL_TICK_SECONDS; reads the mailboxes afresh)
      -> for each mailbox whose poll_seconds have passed and that nobody polls, a turn
         (ImapPoll, in the database: one poll of a mailbox at a time across all processes)
           ImapSession.open        thread: connect, log in, SELECT the folder -> UIDVALIDITY
           ImapSession.list_after  thread: UID and RFC822.SIZE of every UID above the cursor
           ImapSession.fetch       thread: BODY.PEEK[] (never sets \\Seen)
           store_raw               loop:   the durable accept, deduplicated on source_key
           ImapSession.settle      thread: after_import (leave, \\Seen, MOVE), after the commit
           ImapCursor              loop:   advances past a batch only once it is settled

A message is known by `source_key = "{mailbox}:{folder}:{uidvalidity}:{uid}"`. What follows:

- The server is flagged only after the commit. A poll that dies in between leaves the cursor
  where it was; the next poll finds the key stored, fetches nothing and settles the message.
- Messages are chosen by UID above the cursor, never by `\\Seen`: mail another client has
  already read is imported all the same.
- A new UIDVALIDITY walks the folder from the start. A message whose raw bytes (sha256) this
  mailbox stored before is settled, not imported again; one it never stored is imported.
- A message over `[limits] max_message_bytes` (by RFC822.SIZE, read before any body is
  fetched, and by the bytes fetched), one the server refuses to hand out (NO), or one whose
  fetch broke the session MAX_FETCH_FAILURES times in a row, is recorded once as
  `quarantined` with empty bytes and the reason, and left on the server as it is. Its key
  is stored, so it is never fetched again.
- Any other failure talking to the server (refused connection, failed login, a dropped session)
  ends that mailbox's poll with a log line naming the mailbox. What was committed stays
  committed; nothing is flagged that was not committed.

imap-tools is blocking, so every server conversation runs in `asyncio.to_thread`; the database
work happens on the event loop in between.
"""

from __future__ import annotations

import asyncio
import email.parser
import functools
import hashlib
import imaplib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import ImapToolsError, MailboxFetchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.email import mailboxes
from connectors.email.inbound import store_raw
from connectors.email.models import ImapCursor, ImapPoll, RawEmail
from connectors.email.tls import client_context
from core import clock
from core.db import transaction
from core.errors import SystemFault
from core.jobs import registry
from core.secrets import SecretBox
from core.settings import ImapSettings

log = logging.getLogger(__name__)

POLL_TICK_SECONDS = 10.0
POLL_LEASE = timedelta(minutes=10)
"""How long a poll holds its mailbox without a sign of life (it renews after each batch);
a process that dies mid-poll leaves the mailbox to the others after that."""
"""How often `poll_all` looks for due mailboxes; each is polled every `poll_seconds`."""
BATCH_SIZE = 50
"""Messages fetched, committed and settled together before the cursor advances."""
TIMEOUT_SECONDS = 60.0
MAX_FETCH_FAILURES = 3
FINGERPRINT_FIELDS = "MESSAGE-ID DATE FROM SUBJECT"

T = TypeVar("T")


class ImapError(SystemFault):
    """Talking to an IMAP server failed; the poll of that mailbox stops and runs again later."""


class MessageRefused(ImapError):
    """The server answered NO (or BAD) to fetching one message; the session is still usable."""


@dataclass(frozen=True, slots=True)
class Listed:
    """A message in the folder as the listing shows it."""

    uid: int
    size: int


@dataclass
class PollReport:
    """What one poll of one mailbox did."""

    mailbox: str
    uidvalidity: int
    imported: int = 0
    """Stored for the first time."""
    duplicates: int = 0
    """Stored before under another key (same bytes, or the same oversized message)."""
    quarantined: int = 0
    settled: int = 0
    """Given the after_import treatment (imported now or in an earlier poll)."""


# ---------------------------------------------------------------- pure helpers


def source_key(mailbox: str, folder: str, uidvalidity: int, uid: int) -> str:
    """The identity of one message on one server, as stored in `RawEmail.source_key`."""
    return f"{mailbox}:{folder}:{uidvalidity}:{uid}"


def is_due(last_poll: datetime | None, poll_seconds: float, now: datetime) -> bool:
    """Whether a mailbox last polled at `last_poll` is due at `now`. Half a tick of slack, so
    a mailbox is not left waiting a whole extra tick because a timer fired a little early."""
    if last_poll is None:
        return True
    return (now - last_poll).total_seconds() >= poll_seconds - POLL_TICK_SECONDS / 2


_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def parse_listing(lines: Iterable[Any], after_uid: int) -> list[Listed]:
    """`Listed` messages above `after_uid`, in UID order, from the data of a
    `UID FETCH n:* (UID RFC822.SIZE)` (which names the last message even when none is above)."""
    found: dict[int, Listed] = {}
    for item in lines:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, size = _UID.search(line), _SIZE.search(line)
        if uid and size and int(uid.group(1)) > after_uid:
            found[int(uid.group(1))] = Listed(int(uid.group(1)), int(size.group(1)))
    return [found[uid] for uid in sorted(found)]


def oversize_reason(size: int, limit: int, header_fields: bytes) -> str:
    """Why an oversized message is quarantined. The same message gives the same text under
    any UID, which is how a walk after a UIDVALIDITY change recognizes it."""
    headers = email.parser.BytesHeaderParser().parsebytes(header_fields)
    message_id = " ".join(str(headers.get("message-id", "") or "none").split())[:200]
    fingerprint = hashlib.sha256(header_fields + f"\n{size}".encode()).hexdigest()[:16]
    return (f"message of {size} bytes is over max_message_bytes ({limit}); "
            f"Message-ID {message_id}; fingerprint {fingerprint}")


# ---------------------------------------------------------------- the blocking session


class _RawMessage(MailMessage):
    """A fetched message that keeps the bytes exactly as the server sent them. It is not
    parsed here: parsing belongs to the processing job, which survives hostile input."""

    def __init__(self, fetch_data: list[Any]) -> None:
        raw, self._raw_uid_data, self._raw_flag_data = self._get_message_data_parts(fetch_data)
        self.raw: bytes = raw


_FOREIGN = (OSError, imaplib.IMAP4.error, ImapToolsError)


@contextmanager
def _talking(doing: str) -> Iterator[None]:
    """Turn what the socket, imaplib or imap-tools raise into `ImapError`."""
    try:
        yield
    except MailboxFetchError as exc:
        raise MessageRefused(f"{doing}: {exc}") from exc
    except _FOREIGN as exc:
        raise ImapError(f"{doing}: {exc}") from exc


def _connect(conf: ImapSettings) -> BaseMailBox:
    if conf.security == "ssl":
        return MailBox(conf.host, conf.port, timeout=TIMEOUT_SECONDS,
                       ssl_context=client_context(conf.ca_file))
    if conf.security == "starttls":
        return MailBoxStartTls(conf.host, conf.port, timeout=TIMEOUT_SECONDS,
                               ssl_context=client_context(conf.ca_file))
    return MailBoxUnencrypted(conf.host, conf.port, timeout=TIMEOUT_SECONDS)


def _one_at_a_time(method: Callable[..., T]) -> Callable[..., T]:
    """Hold the session's lock for the call: when a poll is cancelled while a request is
    under way in its thread, `close` waits for that request instead of sharing the socket."""

    @functools.wraps(method)
    def serialized(self: ImapSession, *args: Any) -> T:
        with self.busy:
            return method(self, *args)

    return serialized


class ImapSession:
    """One blocking session on one mailbox's folder. Every method runs in a worker thread,
    one at a time; every failure comes out as `ImapError`."""

    def __init__(self, conf: ImapSettings, password: str) -> None:
        self.conf = conf
        self.password = password
        self.mailbox: BaseMailBox | None = None
        self.busy = threading.RLock()

    @property
    def client(self) -> imaplib.IMAP4:
        assert self.mailbox is not None, "the session is not open"
        return self.mailbox.client

    @_one_at_a_time
    def open(self) -> int:
        """Connect, log in and select the folder (read-write); returns its UIDVALIDITY."""
        conf = self.conf
        with _talking(f"connecting to {conf.host}:{conf.port}"):
            try:
                self.mailbox = _connect(conf)
            except ValueError as exc:
                raise ImapError(f"connecting to {conf.host}:{conf.port}: {exc}") from exc
        self.mailbox.email_message_class = _RawMessage
        try:
            with _talking(f"logging in as {conf.username}"):
                self.mailbox.login(conf.username, self.password, initial_folder=None)
            with _talking(f"selecting {conf.folder}"):
                self._refresh_capabilities()
                if conf.after_import == "move" and not self.mailbox.folder.exists(conf.move_to):
                    self.mailbox.folder.create(conf.move_to)
                self.mailbox.folder.set(conf.folder)
                _, data = self.client.response("UIDVALIDITY")
            if not data or data[-1] is None:
                raise ImapError(f"the server named no UIDVALIDITY for {conf.folder}")
            return int(data[-1])
        except BaseException:
            self.close()
            raise

    def _refresh_capabilities(self) -> None:
        # imaplib reads CAPABILITY once, before login; servers announce MOVE, UIDPLUS and
        # the like only after it, and imap-tools' move() looks at `client.capabilities`.
        typ, data = self.client.capability()
        if typ == "OK" and data and isinstance(data[-1], bytes):
            self.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())

    @_one_at_a_time
    def list_after(self, last_uid: int) -> list[Listed]:
        """UID and RFC822.SIZE of every message above `last_uid`, in UID order."""
        with _talking(f"listing {self.conf.folder}"):
            typ, data = self.client.uid("FETCH", f"{last_uid + 1}:*", "(UID RFC822.SIZE)")
            if typ != "OK":
                raise ImapError(f"listing {self.conf.folder}: {typ} {data!r}")
        return parse_listing(data, last_uid)

    @_one_at_a_time
    def fetch(self, uid: int) -> bytes | None:
        """The message's bytes, without setting `\\Seen`; None when it has been expunged."""
        assert self.mailbox is not None, "the session is not open"
        with _talking(f"fetching UID {uid}"):
            found = list(self.mailbox.fetch(uid_list=[str(uid)], mark_seen=False))
        for message in found:
            if isinstance(message, _RawMessage) and message.uid == str(uid):
                return message.raw
        return None

    @_one_at_a_time
    def header_fields(self, uid: int) -> bytes:
        """The few header fields that recognize an oversized message, without its body."""
        with _talking(f"fetching the headers of UID {uid}"):
            typ, data = self.client.uid(
                "FETCH", str(uid), f"(BODY.PEEK[HEADER.FIELDS ({FINGERPRINT_FIELDS})])")
            if typ != "OK":
                raise MessageRefused(f"fetching the headers of UID {uid}: {typ} {data!r}")
        for item in data:
            if isinstance(item, tuple) and isinstance(item[1], bytes):
                return item[1]
        return b""

    @_one_at_a_time
    def settle(self, uids: Sequence[int]) -> None:
        """Apply `after_import` to committed messages: leave them, mark them `\\Seen`, or
        move them to `move_to`."""
        if not uids or self.conf.after_import == "leave":
            return
        uid_set = ",".join(str(uid) for uid in uids)
        with _talking(f"after_import {self.conf.after_import} of UIDs {uid_set}"):
            if self.conf.after_import == "seen":
                self._store(uid_set, r"(\Seen)")
            else:
                self._move(uid_set)

    def _store(self, uid_set: str, flags: str) -> None:
        # Not imap-tools' flag(): it follows every STORE with an EXPUNGE, which would also
        # purge whatever other clients of a shared mailbox have marked \Deleted.
        typ, data = self.client.uid("STORE", uid_set, "+FLAGS.SILENT", flags)
        if typ != "OK":
            raise ImapError(f"STORE {flags}: {typ} {data!r}")

    def _move(self, uid_set: str) -> None:
        assert self.mailbox is not None
        capabilities = self.client.capabilities
        if "MOVE" in capabilities:
            self.mailbox.move(uid_set, self.conf.move_to)
            return
        # Without MOVE: copy, mark \Deleted, and expunge only these UIDs (UIDPLUS); never a
        # plain EXPUNGE, which would take other clients' \Deleted mail with it.
        self.mailbox.copy(uid_set, self.conf.move_to)
        self._store(uid_set, r"(\Deleted)")
        if "UIDPLUS" in capabilities:
            typ, data = self.client.uid("EXPUNGE", uid_set)
            if typ != "OK":
                raise ImapError(f"UID EXPUNGE: {typ} {data!r}")

    @_one_at_a_time
    def close(self) -> None:
        """Log out, or just drop the connection when the server is past talking."""
        mailbox, self.mailbox = self.mailbox, None
        if mailbox is None:
            return
        try:
            mailbox.logout()
        except _FOREIGN:
            with suppress(*_FOREIGN):
                mailbox.client.shutdown()


# ---------------------------------------------------------------- the database side


async def _cursor(sessions: async_sessionmaker[AsyncSession],
                  conf: ImapSettings) -> tuple[int, int] | None:
    async with transaction(sessions) as session:
        row = await session.scalar(select(ImapCursor).where(
            ImapCursor.mailbox == conf.name, ImapCursor.folder == conf.folder))
        return None if row is None else (row.uidvalidity, row.last_uid)


async def _advance(sessions: async_sessionmaker[AsyncSession], conf: ImapSettings,
                   uidvalidity: int, last_uid: int) -> None:
    """Record the folder imported up to `last_uid` under `uidvalidity` (a new UIDVALIDITY
    starts over; under the same one the cursor only moves forward)."""
    for attempt in range(2):
        try:
            async with transaction(sessions) as session:
                row = await session.scalar(select(ImapCursor).where(
                    ImapCursor.mailbox == conf.name, ImapCursor.folder == conf.folder))
                if row is None:
                    session.add(ImapCursor(mailbox=conf.name, folder=conf.folder,
                                           uidvalidity=uidvalidity, last_uid=last_uid))
                elif row.uidvalidity != uidvalidity:
                    row.uidvalidity, row.last_uid = uidvalidity, last_uid
                else:
                    row.last_uid = max(row.last_uid, last_uid)
            return
        except IntegrityError:
            if attempt:
                raise


async def _known(sessions: async_sessionmaker[AsyncSession],
                 keys: Iterable[str]) -> dict[str, bool]:
    """Stored keys among `keys` -> whether that message was imported (so it is settled),
    as opposed to quarantined here without its bytes (so it is left alone)."""
    async with transaction(sessions) as session:
        rows = (await session.execute(select(RawEmail.source_key, RawEmail.status, RawEmail.size)
                                      .where(RawEmail.source_key.in_(list(keys))))).all()
    return {key: status != "quarantined" or size > 0 for key, status, size in rows if key}


def _of_mailbox(name: str) -> Any:
    return RawEmail.source_key.startswith(f"{name}:", autoescape=True)


async def _stored_before(sessions: async_sessionmaker[AsyncSession], name: str,
                         sha256: str) -> bool:
    async with transaction(sessions) as session:
        found = await session.scalar(select(RawEmail.id).where(
            RawEmail.sha256 == sha256, RawEmail.size > 0, _of_mailbox(name)).limit(1))
    return found is not None


async def _quarantined_before(sessions: async_sessionmaker[AsyncSession], name: str,
                              reason: str) -> bool:
    async with transaction(sessions) as session:
        found = await session.scalar(select(RawEmail.id).where(
            RawEmail.status == "quarantined", RawEmail.error == reason,
            _of_mailbox(name)).limit(1))
    return found is not None


# ---------------------------------------------------------------- one poll


@dataclass
class _MailboxState:
    """What a process remembers about one mailbox between polls."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetch_failures: dict[str, int] = field(default_factory=dict)


async def _take_turn(sessions: async_sessionmaker[AsyncSession], name: str,
                     poll_seconds: float | None) -> bool:
    """Take the turn to poll mailbox `name` for POLL_LEASE; False when a poll of it is
    under way in any process or, given `poll_seconds`, its last poll is more recent."""
    now = clock.now()
    for attempt in range(2):
        try:
            async with transaction(sessions) as session:
                turn = await session.scalar(select(ImapPoll).where(ImapPoll.mailbox == name)
                                            .with_for_update())
                if turn is None:
                    session.add(ImapPoll(mailbox=name, polled_at=now,
                                         polling_until=now + POLL_LEASE))
                    return True
                if turn.polling_until is not None and turn.polling_until > now:
                    return False
                if poll_seconds is not None and not is_due(turn.polled_at, poll_seconds, now):
                    return False
                turn.polled_at, turn.polling_until = now, now + POLL_LEASE
                return True
        except IntegrityError:  # another process took the first turn meanwhile
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _hold_turn(sessions: async_sessionmaker[AsyncSession], name: str,
                     until: datetime | None) -> None:
    """Extend the poll under way of `name` to `until`, or end it with None."""
    async with transaction(sessions) as session:
        await session.execute(update(ImapPoll).where(ImapPoll.mailbox == name)
                              .values(polling_until=until))


def _state(runtime: Any, name: str) -> _MailboxState:
    states: dict[str, _MailboxState] = runtime.extras.setdefault("imap", {})
    return states.setdefault(name, _MailboxState())


class _Import:
    """One poll of one mailbox: the steps of the module docstring, in order."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 raw_sessions: async_sessionmaker[AsyncSession], conf: ImapSettings,
                 state: _MailboxState, max_message_bytes: int) -> None:
        self.sessions = sessions
        """The main database: the cursor and the poll's turn."""
        self.raw_sessions = raw_sessions
        """The raw store: the imported mail."""
        self.conf = conf
        self.state = state
        self.max_message_bytes = max_message_bytes
        """`[limits] max_message_bytes`: a larger message is not imported."""

    async def run(self, password: str) -> PollReport:
        imap = ImapSession(self.conf, password)
        uidvalidity = await asyncio.to_thread(imap.open)
        try:
            report = PollReport(self.conf.name, uidvalidity)
            last_uid = await self._start(uidvalidity)
            listed = await asyncio.to_thread(imap.list_after, last_uid)
            for start in range(0, len(listed), BATCH_SIZE):
                await self._batch(imap, listed[start:start + BATCH_SIZE], report)
            return report
        finally:
            await asyncio.to_thread(imap.close)

    async def _start(self, uidvalidity: int) -> int:
        """The UID to list above: the cursor's, or 0 for a new folder or a new UIDVALIDITY."""
        cursor = await _cursor(self.sessions, self.conf)
        if cursor is not None and cursor[0] == uidvalidity:
            return cursor[1]
        if cursor is not None:
            log.warning("IMAP mailbox %s: UIDVALIDITY of %s changed from %s to %s; reading the "
                        "folder again, skipping mail stored before", self.conf.name,
                        self.conf.folder, cursor[0], uidvalidity)
        await _advance(self.sessions, self.conf, uidvalidity, 0)
        return 0

    async def _batch(self, imap: ImapSession, batch: list[Listed], report: PollReport) -> None:
        keys = {m.uid: source_key(self.conf.name, self.conf.folder, report.uidvalidity, m.uid)
                for m in batch}
        known = await _known(self.raw_sessions, keys.values())
        to_settle = []
        for message in batch:
            key = keys[message.uid]
            imported = known[key] if key in known else await self._take(imap, message, key,
                                                                         report)
            if imported:
                to_settle.append(message.uid)
        await asyncio.to_thread(imap.settle, to_settle)
        report.settled += len(to_settle)
        await _advance(self.sessions, self.conf, report.uidvalidity, batch[-1].uid)
        await _hold_turn(self.sessions, self.conf.name, clock.now() + POLL_LEASE)

    async def _take(self, imap: ImapSession, message: Listed, key: str,
                    report: PollReport) -> bool:
        """Import one message not seen before; returns whether it counts as imported."""
        failures = self.state.fetch_failures.get(key, 0)
        if failures >= MAX_FETCH_FAILURES:
            await self._quarantine(key, f"fetching it failed {failures} times in a row", report)
            return False
        if message.size > self.max_message_bytes:
            await self._oversized(imap, message, key, report)
            return False
        try:
            raw = await self._ask(key, imap.fetch, message.uid)
        except MessageRefused as exc:
            await self._quarantine(key, f"the server refused it: {exc}", report)
            return False
        if raw is None:
            return False
        if len(raw) > self.max_message_bytes:
            await self._quarantine(
                key, oversize_reason(len(raw), self.max_message_bytes, b""), report)
            return False
        if await _stored_before(self.raw_sessions, self.conf.name, hashlib.sha256(raw).hexdigest()):
            report.duplicates += 1
            return True
        stored = await store_raw(self.raw_sessions, inbox_slug=self.conf.inbox, source="imap",
                                 raw=raw, source_key=key)
        report.imported += stored is not None
        return True

    async def _oversized(self, imap: ImapSession, message: Listed, key: str,
                         report: PollReport) -> None:
        """Quarantine a message too big to fetch, unless it was quarantined here before
        under another UIDVALIDITY."""
        try:
            fields = await self._ask(key, imap.header_fields, message.uid)
        except MessageRefused:
            fields = b""
        reason = oversize_reason(message.size, self.max_message_bytes, fields)
        if await _quarantined_before(self.raw_sessions, self.conf.name, reason):
            report.duplicates += 1
            return
        await self._quarantine(key, reason, report)

    async def _ask(self, key: str, call: Callable[[int], T], uid: int) -> T:
        """Run a per-message request in a thread, counting the times it broke the session."""
        try:
            result = await asyncio.to_thread(call, uid)
        except MessageRefused:
            raise
        except ImapError:
            self.state.fetch_failures[key] = self.state.fetch_failures.get(key, 0) + 1
            raise
        self.state.fetch_failures.pop(key, None)
        return result

    async def _quarantine(self, key: str, reason: str, report: PollReport) -> None:
        self.state.fetch_failures.pop(key, None)
        await store_raw(self.raw_sessions, inbox_slug=self.conf.inbox, source="imap", raw=b"",
                        source_key=key, status="quarantined", error=reason)
        report.quarantined += 1
        log.warning("IMAP mailbox %s: %s quarantined: %s", self.conf.name, key, reason)


# ---------------------------------------------------------------- jobs


@dataclass(frozen=True)
class _Target:
    """A mailbox to poll as its row reads now, and its password (or why it has none)."""

    conf: ImapSettings
    password: mailboxes.Password


def _box(runtime: Any) -> SecretBox:
    box: SecretBox = runtime.extras.setdefault("mail_secrets",
                                               SecretBox(runtime.settings.secret_key))
    return box


async def _targets(runtime: Any, name: str | None = None) -> list[_Target]:
    """The enabled mailboxes (or the one named `name`, enabled or not), read afresh."""
    async with transaction(runtime.sessions) as session:
        if name is None:
            rows = await mailboxes.enabled_mailboxes(session)
        else:
            found = await mailboxes.mailbox_named(session, name)
            rows = [] if found is None else [found]
    return [_Target(mailboxes.conf_of(row, slug), mailboxes.password_of(row, _box(runtime)))
            for row, slug in rows if name is None or row.enabled]


async def poll(ctx: dict[str, Any], name: str) -> PollReport | None:
    """Job: import what is new in the enabled mailbox `name` now, unless a poll of it is
    under way (in any process). Returns what it did, or None when the mailbox could not be
    polled (unknown or disabled, polled elsewhere, no password, the server failed or refused
    us); that is logged with the mailbox's name and never raised."""
    runtime = ctx["runtime"]
    targets = await _targets(runtime, name)
    if not targets:
        log.error("IMAP mailbox %s: no enabled mailbox of that name", name)
        return None
    state = _state(runtime, name)
    if state.lock.locked() or not await _take_turn(runtime.sessions, name, None):
        log.info("IMAP mailbox %s: a poll is under way already", name)
        return None
    return await _poll_turn(runtime, targets[0], state)


async def _poll_turn(runtime: Any, target: _Target, state: _MailboxState
                     ) -> PollReport | None:
    """Poll `target`'s mailbox on the turn taken for it, and end the turn."""
    conf = target.conf
    name = conf.name
    try:
        async with state.lock:
            if target.password.text is None:
                log.error("IMAP mailbox %s: %s", name, target.password.problem)
                return None
            try:
                report = await _Import(runtime.sessions, runtime.raw_sessions, conf, state,
                                       runtime.settings.limits.max_message_bytes
                                       ).run(target.password.text)
            except ImapError as exc:
                log.warning("IMAP mailbox %s (%s:%s): %s", name, conf.host, conf.port, exc)
                return None
    finally:
        await _hold_turn(runtime.sessions, name, None)
    if report.imported or report.quarantined or report.duplicates:
        log.info("IMAP mailbox %s: %d imported, %d stored before, %d quarantined", name,
                 report.imported, report.duplicates, report.quarantined)
    return report


async def poll_all(ctx: dict[str, Any]) -> int:
    """Periodic job: poll every enabled mailbox (as the database has it now) whose
    `poll_seconds` have passed since its last poll by any process, and that no process
    polls now; returns how many were polled."""
    runtime = ctx["runtime"]
    due = []
    for target in await _targets(runtime):
        state = _state(runtime, target.conf.name)
        if not state.lock.locked() and await _take_turn(runtime.sessions, target.conf.name,
                                                        target.conf.poll_seconds):
            due.append((target, state))
    results = await asyncio.gather(*(_poll_turn(runtime, target, state)
                                     for target, state in due), return_exceptions=True)
    for (target, _), result in zip(due, results, strict=True):
        if isinstance(result, BaseException):
            log.error("IMAP mailbox %s: poll failed", target.conf.name, exc_info=result)
    return len(due)


registry.register("email.imap_poll", poll_all, every_seconds=POLL_TICK_SECONDS)
registry.register("email.imap_poll_mailbox", poll)
