"""The inbound SMTP server, for real: it listens on loopback inside the test's event loop
with the test's runtime, and aiosmtplib talks to it.

Durable before acknowledged is checked from outside: a `250` means the raw row is visible
to a connection of another engine; while the database is locked the `250` waits; when the
database cannot store (SQLite: another connection holds `BEGIN EXCLUSIVE`; PostgreSQL:
another connection holds `LOCK TABLE raw_emails`) the sender hears a clean `451`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

import server
from connectors.email.models import RawEmail
from connectors.email.smtp_in import (
    AcceptedMail,
    Delivery,
    GroupCommit,
    SmtpServer,
    StoreFailed,
    plain_path,
    start_smtp,
    stop_smtp,
)
from core.db import make_engine, raw_store_url
from core.runtime import Runtime
from inbox.models import Conversation, Message
from tests.support import make_certificate, make_queue, run_jobs

CORPUS = Path(__file__).parent / "corpus"
LOCK_WAIT_MS = 300


@pytest.fixture
def settings_overrides() -> dict:
    return {
        # Loopback is spared the per client limits: they count in the raw store, which
        # these tests lock; test_smtp_limits.py tests them.
        "smtp_in": {"catch_all_domains": ["any.example"], "unthrottled_clients": ["127.0.0.1"]},
        "limits": {"max_message_bytes": 64 * 1024},
        "inboxes": [
            {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
            {"slug": "billing", "name": "Billing", "addresses": ["billing@example.com"]},
        ],
        "forms": [],
    }


@pytest.fixture
async def smtp(runtime: Runtime) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(runtime, port=0)
    yield server
    await stop_smtp(server)


def mail(subject: str = "Order 4711 has not arrived", *, message_id: str | None = None,
         to: str = "help@example.com", body: str = "Where are my boots?\n") -> bytes:
    message = EmailMessage()
    message["From"] = "Anna Svensson <anna@example.se>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 03 Feb 2025 09:12:44 +0100"
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@mail.example.se>"
    message.set_content(body)
    return message.as_bytes(policy=policy.SMTP)


@asynccontextmanager
async def connected(server: SmtpServer, **kwargs: Any) -> AsyncIterator[aiosmtplib.SMTP]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, start_tls=False,
                             local_hostname="client.example", timeout=30, **kwargs)
    await client.connect()
    try:
        await client.ehlo()
        yield client
    finally:
        if client.is_connected:
            await client.quit()


async def deliver(server: SmtpServer, raw: bytes, *, rcpt: tuple[str, ...] = ("help@example.com",),
                  sender: str = "anna@example.se") -> aiosmtplib.SMTPResponse:
    """One transaction; returns the reply to the end of DATA (raises on earlier refusals)."""
    async with connected(server) as client:
        await client.mail(sender)
        for address in rcpt:
            await client.rcpt(address)
        return await client.data(raw)


async def data_refused(server: SmtpServer, raw: bytes, **kwargs: Any) -> aiosmtplib.SMTPDataError:
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await deliver(server, raw, **kwargs)
    return refused.value


async def raw_rows(runtime: Runtime) -> list[RawEmail]:
    """The raw rows as another engine sees them (committed, nothing cached)."""
    engine = make_engine(raw_store_url(runtime.settings.database.url))
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(RawEmail).order_by(RawEmail.id))
            return list(result.all())
    finally:
        await engine.dispose()


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- a locked database


@asynccontextmanager
async def database_locked(runtime: Runtime) -> AsyncIterator[None]:
    """Another connection holds the lock every raw mail insert needs, until the block ends."""
    url = raw_store_url(runtime.settings.database.url)
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                 user=parsed.username, database=parsed.database)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE raw_emails IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


@pytest.fixture
async def impatient(runtime: Runtime) -> AsyncIterator[Runtime]:
    """Another runtime on the test's database whose connections give up on a lock held
    elsewhere after LOCK_WAIT_MS: SQLite by the `database.busy_timeout_ms` setting,
    PostgreSQL by `lock_timeout` on each connection (no setting says that there)."""
    database = runtime.settings.database.model_copy(update={"busy_timeout_ms": LOCK_WAIT_MS})
    settings = runtime.settings.model_copy(update={"database": database})
    other = await Runtime.start(settings, install=server.install, queue=make_queue(settings))
    if other.engine.dialect.name != "sqlite":
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")
            cursor.close()

        event.listen(other.engine.sync_engine, "connect", on_connect)
    yield other
    await other.close()


# ---------------------------------------------------------------- accepting mail


async def test_mail_is_committed_before_250_then_becomes_a_ticket(runtime, smtp, client,
                                                                  admin):
    _, headers = admin
    reply = await deliver(smtp, mail(message_id="<order-4711@mail.example.se>"),
                          sender="anna@example.se")
    assert reply.code == 250 and reply.message.startswith("2.0.0 Ok: queued as ")
    [row] = await raw_rows(runtime)  # committed: another engine sees it
    assert reply.message == f"2.0.0 Ok: queued as {row.id}"
    assert (row.inbox, row.source) == ("support", "smtp")
    assert row.mail_from == "anna@example.se" and row.rcpt_to == ["help@example.com"]
    assert row.raw == mail(message_id="<order-4711@mail.example.se>")

    await run_jobs(runtime)
    listing = (await client.get("/api/conversations", headers=headers)).json()
    [conversation] = listing["items"]
    assert conversation["ticket_id"] is not None
    assert conversation["subject"] == "Order 4711 has not arrived"
    detail = (await client.get(f"/api/conversations/{conversation['id']}",
                               headers=headers)).json()
    [message] = detail["messages"]
    assert message["external_id"] == "order-4711@mail.example.se"
    assert message["text"].strip() == "Where are my boots?"
    ticket = (await client.get(f"/api/tickets/{conversation['ticket_id']}",
                               headers=headers)).json()
    assert ticket["conversation_ids"] == [conversation["id"]]


async def test_the_exact_bytes_are_kept(runtime, smtp):
    lines = (CORPUS / "windows1252_italian.eml").read_bytes().splitlines()
    raw = b"\r\n".join([*lines, b".a line that starts with a dot", b"."]) + b"\r\n"
    await deliver(smtp, raw)
    [row] = await raw_rows(runtime)
    assert row.raw == raw
    assert row.size == len(raw)


async def test_the_250_waits_for_the_commit(runtime, smtp):
    async with database_locked(runtime):
        sending = asyncio.create_task(deliver(smtp, mail()))
        await asyncio.sleep(0.2)  # within the default lock wait: the insert is still waiting
        assert not sending.done()
    reply = await sending
    assert reply.code == 250
    assert len(await raw_rows(runtime)) == 1


async def test_database_that_cannot_store_answers_451_and_the_retry_lands(runtime, impatient,
                                                                          caplog):
    smtp = await start_smtp(impatient, port=0)
    try:
        raw = mail()
        async with database_locked(runtime):
            refused = await data_refused(smtp, raw)
        assert refused.code == 451
        assert refused.message == "4.3.0 Temporary failure, please retry"
        assert "could not store" in caplog.text  # the exception is logged, not told
        assert await raw_rows(runtime) == []

        reply = await deliver(smtp, raw)
        assert reply.code == 250
        assert len(await raw_rows(runtime)) == 1
    finally:
        await stop_smtp(smtp)


async def test_many_senders_at_once_each_get_their_own_row(runtime, smtp):
    raws = [mail(f"Question {n}") for n in range(40)]
    replies = await asyncio.gather(*(deliver(smtp, raw) for raw in raws))
    rows = await raw_rows(runtime)
    assert sorted(r.raw for r in rows) == sorted(raws)
    by_raw = {r.raw: r.id for r in rows}
    for raw, reply in zip(raws, replies, strict=True):
        assert reply.message == f"2.0.0 Ok: queued as {by_raw[raw]}"
    await run_jobs(runtime)
    assert await count(runtime, Conversation) == 40


async def test_several_messages_in_one_session(runtime, smtp):
    async with connected(smtp) as client:
        for n in range(3):
            await client.mail("anna@example.se")
            await client.rcpt("help@example.com")
            assert (await client.data(mail(f"Question {n}"))).code == 250
    assert len(await raw_rows(runtime)) == 3


def watch_raw_commits(runtime: Runtime) -> list[int]:
    """On SQLite, from SQLite's own trace of the statements it runs: how many raw rows each
    committed transaction inserted (filled in as they commit)."""
    commits: list[int] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        inserted = [0]

        def seen(sql: str) -> None:
            if sql.startswith("INSERT INTO raw_emails"):
                inserted[0] += 1
            elif sql.startswith(("COMMIT", "ROLLBACK")):
                if inserted[0] and sql.startswith("COMMIT"):
                    commits.append(inserted[0])
                inserted[0] = 0

        dbapi_connection.driver_connection.set_trace_callback(seen)

    event.listen(runtime.raw_engine.sync_engine, "connect", trace)
    return commits


async def raw_commits_by_transaction_id(runtime: Runtime) -> list[int]:
    """On PostgreSQL, from each row's `xmin` (the transaction that wrote it): how many raw
    rows each transaction inserted, in the order of their ids."""
    async with runtime.raw_engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT count(*) FROM raw_emails GROUP BY xmin::text ORDER BY min(id)"))
        return [count for (count,) in rows]


async def test_mail_arriving_during_a_commit_shares_the_next_one(runtime, smtp):
    sqlite = runtime.engine.dialect.name == "sqlite"
    if sqlite:
        await runtime.engine.dispose()  # new connections, traced
        commits = watch_raw_commits(runtime)
    raws = [mail(f"Question {n}") for n in range(8)]
    async with database_locked(runtime):
        first = asyncio.create_task(deliver(smtp, raws[0]))
        await asyncio.sleep(0.1)  # its commit is under way, waiting for the lock
        rest = [asyncio.create_task(deliver(smtp, raw)) for raw in raws[1:]]
        while len(smtp.committer._queue) < len(rest):
            await asyncio.sleep(0.01)
    replies = await asyncio.gather(first, *rest)
    assert all(reply.code == 250 for reply in replies)
    if not sqlite:
        commits = await raw_commits_by_transaction_id(runtime)
    assert commits == [1, 7]
    assert sorted(r.raw for r in await raw_rows(runtime)) == sorted(raws)


async def test_one_bad_message_does_not_fail_the_others_in_its_group(runtime):
    committer = GroupCommit(runtime.raw_sessions)
    good = AcceptedMail("anna@example.se", (Delivery("support", ("help@example.com",)),),
                        mail())
    bad = AcceptedMail("anna@example.se", (Delivery(None, ("help@example.com",)),),  # type: ignore[arg-type]
                       mail())
    async with database_locked(runtime):
        blocker = asyncio.create_task(committer.store(good))
        await asyncio.sleep(0.1)
        grouped = [asyncio.create_task(committer.store(m)) for m in (good, bad, good)]
        await asyncio.sleep(0.1)
    await blocker
    first, failed, last = await asyncio.gather(*grouped, return_exceptions=True)
    assert isinstance(failed, StoreFailed)
    assert len(first) == 1 and len(last) == 1
    assert len(await raw_rows(runtime)) == 3
    await committer.close()


async def test_quiet_waits_for_queued_mail_but_no_longer_than_its_patience(runtime):
    """Processing gives way to the receiver: `quiet` returns once no mail waits to be
    committed, and while the database is held it gives up after its patience."""
    committer = GroupCommit(runtime.raw_sessions)
    await committer.quiet(patience=60)  # nothing queued: returns at once
    good = AcceptedMail("anna@example.se", (Delivery("support", ("help@example.com",)),),
                        mail())
    async with database_locked(runtime):
        stored = asyncio.create_task(committer.store(good))
        await asyncio.sleep(0)
        await committer.quiet(patience=0.05)
        assert not stored.done()  # still waiting for the lock: quiet gave up
        waited = asyncio.create_task(committer.quiet(patience=60))
        await asyncio.sleep(0.05)
        assert not waited.done()
    await waited
    assert stored.done() and len(stored.result()) == 1
    await committer.close()


# ---------------------------------------------------------------- recipients


async def test_unknown_recipient_is_refused_with_550_and_nothing_is_stored(runtime, smtp):
    async with connected(smtp) as client:
        await client.mail("anna@example.se")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("nobody@example.com")
        assert refused.value.code == 550
        assert refused.value.message.startswith("5.1.1 ")
        with pytest.raises(aiosmtplib.SMTPResponseException) as no_rcpt:
            await client.data(mail())
        assert no_rcpt.value.code == 503
    assert await raw_rows(runtime) == []


async def test_a_known_recipient_among_unknown_ones_gets_the_mail(runtime, smtp):
    async with connected(smtp) as client:
        await client.mail("anna@example.se")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused):
            await client.rcpt("nobody@example.com")
        await client.rcpt("HELP@Example.com")
        assert (await client.data(mail())).code == 250
    [row] = await raw_rows(runtime)
    assert (row.inbox, row.rcpt_to) == ("support", ["HELP@Example.com"])


async def test_catch_all_domain_goes_to_the_first_inbox(runtime, smtp):
    reply = await deliver(smtp, mail(to="anything@any.example"), rcpt=("anything@ANY.example",))
    assert reply.code == 250
    [row] = await raw_rows(runtime)
    assert row.inbox == "support"


async def test_recipients_in_several_inboxes_store_one_row_per_inbox(runtime, smtp, client,
                                                                     admin):
    _, headers = admin
    raw = mail(to="help@example.com, billing@example.com")
    reply = await deliver(smtp, raw, rcpt=("help@example.com", "billing@example.com",
                                           "whoever@any.example"))
    rows = await raw_rows(runtime)
    assert reply.message == f"2.0.0 Ok: queued as {rows[0].id},{rows[1].id}"
    assert [(r.inbox, r.rcpt_to) for r in rows] == [
        ("support", ["help@example.com", "whoever@any.example"]),
        ("billing", ["billing@example.com"])]
    assert all(r.raw == raw for r in rows)
    await run_jobs(runtime)
    listing = (await client.get("/api/conversations", headers=headers)).json()
    assert sorted(c["inbox"] for c in listing["items"]) == ["billing", "support"]
    assert all(c["ticket_id"] is not None for c in listing["items"])


async def test_a_client_retry_of_the_same_message_is_one_conversation_message(runtime, smtp):
    raw = mail(message_id="<retry-1@mail.example.se>")
    for _ in range(2):
        assert (await deliver(smtp, raw)).code == 250
    await run_jobs(runtime)
    assert len(await raw_rows(runtime)) == 2
    assert await count(runtime, Conversation) == 1
    assert await count(runtime, Message) == 1
    assert {r.status for r in await raw_rows(runtime)} == {"processed"}


async def test_too_many_recipients_are_deferred(runtime, smtp):
    async with connected(smtp) as client:
        await client.mail("anna@example.se")
        for n in range(100):
            await client.rcpt(f"r{n}@any.example")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("one-more@any.example")
        assert refused.value.code == 452
        assert (await client.data(mail())).code == 250
    [row] = await raw_rows(runtime)
    assert len(row.rcpt_to) == 100


# ---------------------------------------------------------------- size and bad input


async def test_oversized_message_gets_552_and_nothing_is_stored(runtime, smtp):
    big = mail(body=("0123456789" * 7 + "\n") * 1000)  # about 72 KB, over the 64 KB limit
    refused = await data_refused(smtp, big)
    assert (refused.code, refused.message) == (552, "Error: Too much mail data")
    assert (await deliver(smtp, mail())).code == 250  # the server carries on
    assert len(await raw_rows(runtime)) == 1


async def test_declared_size_over_the_limit_is_refused_at_mail_from(runtime, smtp):
    async with connected(smtp) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail("anna@example.se", options=["SIZE=100000"])
        assert refused.value.code == 552
    assert await raw_rows(runtime) == []


async def test_bad_commands_do_not_crash_the_server(runtime, smtp):
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp.port)

    async def say(line: bytes) -> bytes:
        writer.write(line + b"\r\n")
        await writer.drain()
        return await reader.readline()

    assert (await reader.readline()).startswith(b"220 ")
    assert (await say(b"MAIL FROM:<a@b.example>")).startswith(b"503")  # no EHLO yet
    assert (await say(b"EHLO client.example")).startswith(b"250-")
    while not (await reader.readline()).startswith(b"250 "):
        pass
    assert (await say(b"DATA")).startswith(b"503")
    assert (await say(b"RCPT TO:<help@example.com>")).startswith(b"503")
    assert (await say(b"MAIL FROM:<a\x01b@example.se>")).startswith(b"553 ")
    assert (await say(b"MAIL FROM:")).startswith(b"501")
    assert (await say(b"MAIL FROM:<anna@example.se>")).startswith(b"250")
    assert (await say(b"RCPT TO:<help\x00@example.com>")).startswith(b"553 5.1.3")
    assert (await say(b"RCPT TO:<" + b"x" * 2000 + b"@example.com>")).startswith(b"500")
    assert (await say(b"RCPT TO:<\xff\xfe@any.example>")).startswith(b"553")
    assert (await say(b"XYZZY")).startswith(b"500")
    assert (await say(b"\xff\xfe")).startswith(b"500")
    assert (await say(b"VRFY help@example.com")).startswith(b"252")
    assert (await say(b"RSET")).startswith(b"250")
    writer.write(b"MAIL FROM:<anna@example.se>\r\nRCPT TO:<help@exa")  # and hang up
    writer.close()
    await writer.wait_closed()

    assert (await deliver(smtp, mail())).code == 250
    assert len(await raw_rows(runtime)) == 1


async def test_a_session_that_hangs_up_in_data_stores_nothing(runtime, smtp):
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp.port)
    await reader.readline()
    for line in (b"HELO client.example", b"MAIL FROM:<anna@example.se>",
                 b"RCPT TO:<help@example.com>", b"DATA"):
        writer.write(line + b"\r\n")
        await writer.drain()
        await reader.readline()
    writer.write(b"Subject: half\r\n\r\nonly half of it")
    writer.close()
    await writer.wait_closed()
    assert (await deliver(smtp, mail())).code == 250
    assert len(await raw_rows(runtime)) == 1


# ---------------------------------------------------------------- STARTTLS


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    return make_certificate(tmp_path)


async def test_starttls_when_a_certificate_is_configured(runtime, certificate):
    cert, key = certificate
    settings = runtime.settings.model_copy(update={"smtp_in": runtime.settings.smtp_in.model_copy(
        update={"starttls_cert": cert, "starttls_key": key})})
    tls_runtime = dataclasses.replace(runtime, settings=settings, extras={})
    server = await start_smtp(tls_runtime, port=0)
    try:
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        async with connected(server) as client:
            assert client.supports_extension("starttls")
            await client.starttls(tls_context=context)
            await client.ehlo()
            await client.mail("anna@example.se")
            await client.rcpt("help@example.com")
            assert (await client.data(mail())).code == 250
        async with connected(server) as client:  # plain mail is still taken (an MX must)
            await client.mail("anna@example.se")
            await client.rcpt("help@example.com")
            assert (await client.data(mail())).code == 250
    finally:
        await stop_smtp(server)
    assert len(await raw_rows(runtime)) == 2


# ---------------------------------------------------------------- stopping


async def test_stop_closes_idle_sessions_and_the_port(runtime):
    server = await start_smtp(runtime, port=0)
    port = server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"220 ")
    await stop_smtp(server)
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_an_unknown_fault_point_stops_the_start(runtime, monkeypatch):
    monkeypatch.setenv("FRONTDESK_FAULT_POINT", "smtp-sometimes")
    with pytest.raises(ValueError, match="unknown fault point"):
        await start_smtp(runtime, port=0)


_LOCAL = st.lists(st.sampled_from(["a", "Zz9", ".", "..", "-", "+", "{", "'", '"', "é", " ", "(",
                                   "_", "%", "!", "\\"]), min_size=1, max_size=5).map("".join)
_DOMAIN = st.lists(st.sampled_from(["ex", "ample", "-", ".", "..", "a-b", "9", "_", "é",
                                    "[1.2.3.4]", " "]), min_size=1, max_size=5).map("".join)
_AFTER = st.sampled_from(["", " ", "  ", "\t", "  SIZE=10", " BODY=8BITMIME SMTPUTF8", "(c)",
                          " (c) X", "x", ">", " <", " \t X"])


@examples(max_examples=3000, deadline=None)
@given(local=_LOCAL, domain=_DOMAIN, after=_AFTER)
def test_plain_paths_read_as_aiosmtpd_reads_them(local: str, domain: str, after: str):
    """The short cut reads a path exactly as aiosmtpd's parser does, or leaves it to it."""
    arg = f"<{local}@{domain}>{after}"
    plain = plain_path(arg)
    if plain is not None:
        loop = asyncio.new_event_loop()
        try:
            assert plain == SMTP._getaddr(SMTP(None, loop=loop), arg)
        finally:
            loop.close()


def test_the_usual_paths_take_the_short_cut():
    assert plain_path("<anna.svensson+shop@mail.example.se>") == (
        "anna.svensson+shop@mail.example.se", "")
    assert plain_path("<a@b.example> SIZE=1000 BODY=8BITMIME") == (
        "a@b.example", "SIZE=1000 BODY=8BITMIME")
    assert plain_path("<>") is None
    assert plain_path('<"quoted"@example.com>') is None
    assert plain_path("<a@b.example> (comment) SIZE=1") is None
