"""IMAP import against a real Dovecot: what is new is committed, then flagged, exactly once.

Each test has its own Dovecot account. The `desk` mailbox reads it; `imap_options` (override
with `pytest.mark.parametrize`) changes its configuration for one test, `limits` the
`[limits]` section, `extra_mailboxes` adds more.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from connectors.email import imap
from connectors.email.imap import ImapError, ImapSession, Listed, PollReport
from connectors.email.models import ImapCursor, ImapPoll, RawEmail
from core import clock
from core.db import transaction
from core.jobs import registry
from inbox.models import Conversation, Message
from tests.connectors.email.dovecot import (  # noqa: F401
    Account,
    Dovecot,
    dovecot_server,
    free_port,
    imap_account,
)
from tests.support import run_jobs

PASSWORD_ENV = "FRONTDESK_TEST_IMAP_PASSWORD"


@pytest.fixture
def imap_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def limits() -> dict[str, Any]:
    return {}


@pytest.fixture
def extra_mailboxes() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def tls() -> str:
    """How `desk` talks to Dovecot: "none", "ssl" or "starttls" (trusting Dovecot's
    certificate through `ca_file`), or "ssl-untrusted" (the system's authorities only)."""
    return "none"


@pytest.fixture
def settings_overrides(dovecot: Dovecot, account: Account, imap_options: dict[str, Any],
                       limits: dict[str, Any], extra_mailboxes: list[dict[str, Any]],
                       tls: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSWORD_ENV, account.password)
    connection = {
        "none": {"port": dovecot.port, "security": "none"},
        "starttls": {"port": dovecot.port, "security": "starttls", "ca_file": dovecot.ca_file},
        "ssl": {"port": dovecot.ssl_port, "security": "ssl", "ca_file": dovecot.ca_file},
        "ssl-untrusted": {"port": dovecot.ssl_port, "security": "ssl"},
    }[tls]
    desk = {"name": "desk", "inbox": "support", "host": dovecot.host, **connection,
            "username": account.username, "password_env": PASSWORD_ENV,
            "after_import": "leave", **imap_options}
    return {"imap": [desk, *extra_mailboxes], "limits": limits}


def mail(message_id: str, *, subject: str = "Printer on fire", body: str = "It smokes.") -> bytes:
    return (f"From: Anna Berg <anna@example.org>\r\nTo: help@example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


async def poll(runtime, name: str = "desk") -> PollReport | None:
    return await imap.poll({"runtime": runtime}, name)


async def raw_rows(runtime) -> list[RawEmail]:
    async with transaction(runtime.raw_sessions) as session:
        return list((await session.scalars(select(RawEmail).order_by(RawEmail.id))).all())


async def external_ids(runtime) -> list[str | None]:
    async with transaction(runtime.sessions) as session:
        return sorted((await session.scalars(select(Message.external_id))).all())


async def cursor(runtime) -> tuple[int, int] | None:
    async with transaction(runtime.sessions) as session:
        row = await session.scalar(select(ImapCursor).where(ImapCursor.mailbox == "desk"))
        return None if row is None else (row.uidvalidity, row.last_uid)


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """UIDs whose bodies the poller fetches, in order (the real fetch still runs)."""
    calls: list[int] = []
    real = ImapSession.fetch

    def spy(self: ImapSession, uid: int) -> bytes | None:
        calls.append(uid)
        return real(self, uid)

    monkeypatch.setattr(ImapSession, "fetch", spy)
    return calls


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(("last_poll", "poll_seconds", "elapsed", "due"), [
    (None, 60, 0, True),
    ("t0", 60, 0, False),
    ("t0", 60, 10, False),
    ("t0", 60, 54, False),
    ("t0", 60, 56, True),
    ("t0", 60, 60, True),
    ("t0", 5, 0, True),
    ("t0", 300, 290, False),
])
def test_is_due(last_poll, poll_seconds, elapsed, due):
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    previous = None if last_poll is None else t0
    assert imap.is_due(previous, poll_seconds, t0 + timedelta(seconds=elapsed)) is due


@pytest.mark.parametrize(("lines", "after", "expected"), [
    ([None], 0, []),
    ([b"1 (UID 4 RFC822.SIZE 53)"], 4, []),
    ([b"1 (UID 4 RFC822.SIZE 53)", b"2 (RFC822.SIZE 7 UID 9)"], 4, [Listed(9, 7)]),
    ([b"1 (UID 3 RFC822.SIZE 10)", b"2 (UID 2 RFC822.SIZE 20)"], 0,
     [Listed(2, 20), Listed(3, 10)]),
    ([(b"1 (UID 5 RFC822.SIZE 11)", b""), b")"], 0, [Listed(5, 11)]),
    ([b"1 (FLAGS (\\Seen))"], 0, []),
])
def test_parse_listing(lines, after, expected):
    assert imap.parse_listing(lines, after) == expected


def test_source_key_names_mailbox_folder_uidvalidity_and_uid():
    assert imap.source_key("desk", "INBOX", 1795377949, 12) == "desk:INBOX:1795377949:12"


def test_oversize_reason_recognizes_the_same_message_only():
    fields = b"Message-ID: <big@example.org>\r\nSubject: Logs\r\n\r\n"
    reason = imap.oversize_reason(5000, 2048, fields)
    assert "5000 bytes" in reason and "<big@example.org>" in reason
    assert imap.oversize_reason(5000, 2048, fields) == reason
    assert imap.oversize_reason(5001, 2048, fields) != reason
    assert imap.oversize_reason(5000, 2048, fields.replace(b"big@", b"other@")) != reason
    assert "Message-ID none" in imap.oversize_reason(5000, 2048, b"")


def test_the_poll_is_a_periodic_job():
    assert registry.functions["email.imap_poll"] is imap.poll_all
    assert registry.periodic["email.imap_poll"] == imap.POLL_TICK_SECONDS
    assert registry.functions["email.imap_poll_mailbox"] is imap.poll


# ---------------------------------------------------------------- against Dovecot


async def test_import_makes_a_conversation_and_leaves_the_mail_unseen(runtime, account):
    uidvalidity, uid = account.append(mail("a1@example.org"))
    report = await poll(runtime)
    assert report is not None and (report.imported, report.settled) == (1, 1)
    await run_jobs(runtime)
    [row] = await raw_rows(runtime)
    assert row.source == "imap" and row.inbox == "support" and row.status == "processed"
    assert row.source_key == f"desk:INBOX:{uidvalidity}:{uid}"
    assert row.raw == mail("a1@example.org")
    assert await external_ids(runtime) == ["a1@example.org"]
    async with transaction(runtime.sessions) as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.subject == "Printer on fire"
    assert "\\Seen" not in account.flags()[uid]
    assert await cursor(runtime) == (uidvalidity, uid)


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
async def test_import_over_tls_checks_the_servers_certificate(runtime, account, tls):
    uidvalidity, uid = account.append(mail("tls@example.org"))
    report = await poll(runtime)
    assert report is not None and (report.imported, report.settled) == (1, 1)
    await run_jobs(runtime)
    assert await external_ids(runtime) == ["tls@example.org"]
    assert await cursor(runtime) == (uidvalidity, uid)


@pytest.mark.parametrize("tls", ["ssl-untrusted"])
async def test_a_certificate_we_do_not_trust_stops_the_poll_before_login(
        runtime, account, tls, caplog):
    account.append(mail("untrusted@example.org"))
    with caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
        assert await poll(runtime) is None
    [record] = [r for r in caplog.records if r.name == "connectors.email.imap"]
    assert "CERTIFICATE_VERIFY_FAILED" in record.getMessage()
    assert await raw_rows(runtime) == [] and await cursor(runtime) is None


@pytest.mark.parametrize("imap_options", [{"after_import": "seen"}])
async def test_after_import_seen_marks_it_seen_on_the_server(runtime, account):
    _, uid = account.append(mail("s1@example.org"))
    await poll(runtime)
    assert "\\Seen" in account.flags()[uid]
    assert len(await raw_rows(runtime)) == 1


@pytest.mark.parametrize("imap_options", [{"after_import": "move", "move_to": "Imported"}])
async def test_after_import_move_moves_it(runtime, account):
    account.append(mail("m1@example.org"))
    account.append(mail("m2@example.org"))
    report = await poll(runtime)
    assert report is not None and report.imported == 2
    assert account.flags("INBOX") == {}
    assert len(account.flags("Imported")) == 2
    account.append(mail("m3@example.org"))
    report = await poll(runtime)
    assert report is not None and report.imported == 1
    assert len(account.flags("Imported")) == 3 and account.flags("INBOX") == {}
    await run_jobs(runtime)
    assert await external_ids(runtime) == ["m1@example.org", "m2@example.org", "m3@example.org"]


async def test_mail_another_client_already_read_is_imported(runtime, account):
    _, uid = account.append(mail("read@example.org"))
    account.mark_seen(uid)
    report = await poll(runtime)
    assert report is not None and report.imported == 1
    await run_jobs(runtime)
    assert await external_ids(runtime) == ["read@example.org"]


async def test_polling_again_imports_nothing_twice(runtime, account, fetched):
    account.append(mail("p1@example.org"))
    account.append(mail("p2@example.org"))
    first = await poll(runtime)
    second = await poll(runtime)
    assert first is not None and first.imported == 2
    assert second is not None and second.imported == 0
    account.append(mail("p3@example.org"))
    third = await poll(runtime)
    assert third is not None and third.imported == 1
    assert fetched == [1, 2, 3]
    await run_jobs(runtime)
    assert len(await raw_rows(runtime)) == 3
    assert await external_ids(runtime) == ["p1@example.org", "p2@example.org", "p3@example.org"]


@pytest.mark.parametrize("imap_options", [{"after_import": "seen"}])
async def test_a_crash_between_commit_and_flag_is_repaired_without_duplicate(
        runtime, account, fetched, monkeypatch, caplog):
    _, uid = account.append(mail("crash@example.org"))

    def connection_lost(self: ImapSession, uids: list[int]) -> None:
        raise ImapError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(ImapSession, "settle", connection_lost)
        with caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
            assert await poll(runtime) is None
    assert "desk" in caplog.text and "connection lost" in caplog.text
    [row] = await raw_rows(runtime)
    assert "\\Seen" not in account.flags()[uid]
    assert await cursor(runtime) == (account.uidvalidity(), 0)

    report = await poll(runtime)
    assert report is not None and (report.imported, report.settled) == (0, 1)
    assert "\\Seen" in account.flags()[uid]
    assert [r.id for r in await raw_rows(runtime)] == [row.id]
    assert fetched == [uid]
    await run_jobs(runtime)
    assert await external_ids(runtime) == ["crash@example.org"]


@pytest.mark.parametrize("imap_options", [{"folder": "Desk"}])
@pytest.mark.parametrize("limits", [{"max_message_bytes": 2048}])
async def test_a_new_uidvalidity_neither_imports_again_nor_skips(runtime, account):
    big = mail("big@example.org", body="x" * 5000)
    account.create("Desk")
    first_validity, _ = account.append(mail("old1@example.org"), "Desk")
    account.append(mail("old2@example.org"), "Desk")
    account.append(big, "Desk")
    report = await poll(runtime)
    assert report is not None and (report.imported, report.quarantined) == (2, 1)

    account.delete("Desk")
    account.create("Desk")
    # The new message takes UID 1, below the old cursor; the old ones come after it.
    new_validity, new_uid = account.append(mail("new@example.org"), "Desk")
    account.append(mail("old1@example.org"), "Desk")
    account.append(big, "Desk")
    account.append(mail("old2@example.org"), "Desk")
    assert new_validity != first_validity and new_uid == 1

    report = await poll(runtime)
    assert report is not None
    assert (report.imported, report.duplicates, report.quarantined) == (1, 3, 0)
    assert await cursor(runtime) == (new_validity, 4)
    await run_jobs(runtime)
    rows = await raw_rows(runtime)
    assert len(rows) == 4
    assert rows[-1].source_key == f"desk:Desk:{new_validity}:1"
    assert [r.status for r in rows].count("quarantined") == 1
    assert await external_ids(runtime) == ["new@example.org", "old1@example.org",
                                           "old2@example.org"]
    again = await poll(runtime)
    assert again is not None and (again.imported, again.duplicates) == (0, 0)


@pytest.mark.parametrize("imap_options", [{"after_import": "seen"}])
@pytest.mark.parametrize("limits", [{"max_message_bytes": 2048}])
async def test_an_oversized_message_is_quarantined_once_and_never_fetched(
        runtime, account, fetched):
    account.append(mail("small1@example.org"))
    _, big_uid = account.append(mail("big@example.org", body="x" * 5000))
    account.append(mail("small2@example.org"))
    report = await poll(runtime)
    assert report is not None and (report.imported, report.quarantined) == (2, 1)
    assert big_uid not in fetched
    flags = account.flags()
    assert "\\Seen" not in flags[big_uid]
    assert all("\\Seen" in flags[uid] for uid in flags if uid != big_uid)

    [big] = [row for row in await raw_rows(runtime) if row.status == "quarantined"]
    assert big.raw == b"" and big.size == 0 and big.source_key.endswith(f":{big_uid}")
    assert "over max_message_bytes (2048)" in big.error and "<big@example.org>" in big.error

    # Even with the cursor lost, nothing is fetched or stored again.
    async with transaction(runtime.sessions) as session:
        await session.execute(delete(ImapCursor))
    fetched.clear()
    report = await poll(runtime)
    assert report is not None and (report.imported, report.quarantined) == (0, 0)
    assert fetched == []
    await run_jobs(runtime)
    rows = await raw_rows(runtime)
    assert len(rows) == 3 and [r.status for r in rows].count("quarantined") == 1
    assert "\\Seen" not in account.flags()[big_uid]


@pytest.mark.parametrize("imap_options", [{"after_import": "seen"}])
async def test_unparseable_bytes_are_stored_and_quarantined_by_the_processing_job(
        runtime, account):
    junk = b"this is not an email at all\r\n"
    _, uid = account.append(junk)
    report = await poll(runtime)
    assert report is not None and report.imported == 1
    assert "\\Seen" in account.flags()[uid]
    await run_jobs(runtime)
    [row] = await raw_rows(runtime)
    assert row.status == "quarantined" and row.raw == junk and "not an email" in row.error
    assert await external_ids(runtime) == []


async def test_a_message_the_server_cannot_hand_out_is_quarantined_once(
        runtime, account, dovecot, fetched, caplog):
    account.append(mail("good1@example.org"))
    _, poison_uid = account.append(mail("poison@example.org"))
    account.append(mail("good2@example.org"))
    [poison_file] = [path for path in dovecot.maildir(account.username).glob("*/*")
                     if path.is_file() and b"poison@" in path.read_bytes()]
    poison_file.chmod(0)  # Dovecot (as nobody) answers a FETCH of it with BYE

    with caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
        for _ in range(imap.MAX_FETCH_FAILURES):
            assert await poll(runtime) is None
    assert "IMAP mailbox desk" in caplog.text
    assert len(await raw_rows(runtime)) == 1

    report = await poll(runtime)
    assert report is not None and (report.imported, report.quarantined) == (1, 1)
    fetched.clear()
    assert (await poll(runtime)) is not None and fetched == []
    await run_jobs(runtime)
    rows = await raw_rows(runtime)
    assert [r.status for r in rows] == ["processed", "quarantined", "processed"]
    assert rows[1].source_key.endswith(f":{poison_uid}") and rows[1].raw == b""
    assert await external_ids(runtime) == ["good1@example.org", "good2@example.org"]


@pytest.mark.parametrize("imap_options", [
    pytest.param({"password_env": "FRONTDESK_TEST_IMAP_WRONG"}, id="wrong-password"),
    pytest.param({"password_env": "FRONTDESK_TEST_IMAP_UNSET"}, id="password-not-set"),
    pytest.param({"port": free_port()}, id="connection-refused"),
    pytest.param({"folder": "Nowhere"}, id="no-such-folder"),
])
async def test_a_server_that_refuses_us_is_logged_and_nothing_is_stored(
        runtime, account, monkeypatch, caplog):
    monkeypatch.setenv("FRONTDESK_TEST_IMAP_WRONG", "not-the-password")
    monkeypatch.delenv("FRONTDESK_TEST_IMAP_UNSET", raising=False)
    account.append(mail("waiting@example.org"))
    with caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
        assert await poll(runtime) is None
    [record] = [r for r in caplog.records if r.name == "connectors.email.imap"]
    assert record.getMessage().startswith("IMAP mailbox desk")
    assert await raw_rows(runtime) == [] and await cursor(runtime) is None
    assert "\\Seen" not in account.flags()[1]


@pytest.mark.parametrize("imap_options", [{"poll_seconds": 60}])
@pytest.mark.parametrize("extra_mailboxes", [[{
    "name": "broken", "inbox": "support", "host": "127.0.0.1", "port": free_port(),
    "security": "none", "username": "nobody", "password_env": PASSWORD_ENV,
}]])
async def test_poll_all_keeps_each_mailboxs_interval_and_survives_a_broken_one(
        runtime, account, caplog):
    manual = clock.ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    ctx = {"runtime": runtime}
    account.append(mail("t1@example.org"))
    with clock.use(manual), caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
        assert await imap.poll_all(ctx) == 2
        assert len(await raw_rows(runtime)) == 1
        assert "IMAP mailbox broken" in caplog.text

        account.append(mail("t2@example.org"))
        manual.advance(timedelta(seconds=imap.POLL_TICK_SECONDS))
        assert await imap.poll_all(ctx) == 0
        assert len(await raw_rows(runtime)) == 1

        manual.advance(timedelta(seconds=60 - imap.POLL_TICK_SECONDS))
        assert await imap.poll_all(ctx) == 2
        assert len(await raw_rows(runtime)) == 2


def another_process(runtime) -> dict[str, Any]:
    """A job context like that of another worker process: the same database, nothing in
    memory."""
    return {"runtime": dataclasses.replace(runtime, extras={})}


async def test_workers_share_each_mailboxs_interval(runtime, account):
    manual = clock.ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    account.append(mail("w1@example.org"))
    with clock.use(manual):
        assert await imap.poll_all({"runtime": runtime}) == 1
        account.append(mail("w2@example.org"))
        manual.advance(timedelta(seconds=imap.POLL_TICK_SECONDS))
        assert await imap.poll_all(another_process(runtime)) == 0
        manual.advance(timedelta(seconds=60))
        assert await imap.poll_all(another_process(runtime)) == 1
    assert len(await raw_rows(runtime)) == 2


async def test_a_poll_under_way_elsewhere_is_left_alone_until_its_lease_ends(runtime, account):
    manual = clock.ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    account.append(mail("l1@example.org"))
    with clock.use(manual):
        async with transaction(runtime.sessions) as session:  # a process that died polling
            session.add(ImapPoll(mailbox="desk", polled_at=manual() - timedelta(hours=1),
                                 polling_until=manual() + imap.POLL_LEASE))
        assert await imap.poll_all({"runtime": runtime}) == 0
        assert await poll(runtime) is None
        assert await raw_rows(runtime) == []
        manual.advance(imap.POLL_LEASE)
        assert await imap.poll_all({"runtime": runtime}) == 1
        assert len(await raw_rows(runtime)) == 1
        async with transaction(runtime.sessions) as session:
            turn = await session.scalar(select(ImapPoll))
            assert turn.polling_until is None and turn.polled_at == manual()


async def test_an_explicit_poll_of_an_unknown_mailbox_is_logged(runtime, caplog):
    with caplog.at_level(logging.WARNING, logger="connectors.email.imap"):
        assert await poll(runtime, "nope") is None
    assert "IMAP mailbox nope" in caplog.text
