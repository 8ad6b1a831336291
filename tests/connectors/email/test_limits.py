"""Each limit of `[limits]`, against the real SMTP server: what the sender hears, what the
message shows (`truncated`, the note at the top of its text), and that the original email
is downloadable whole. Accepted means kept: whatever hears `250` becomes a message.

The first rows re-run what was observed on the default limits: a 252 KB plain-text mail
was accepted and then failed for good; 2,000 attachments came back as 199 and a body
nested 200 levels deep as empty text, with nothing saying so.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select

import server
from connectors.email.inbound import add_raw, raw_row, store_raw
from connectors.email.models import RawEmail
from connectors.email.smtp_in import (
    SmtpServer,
    _NoBareLineFeeds,
    has_bare_line_feed,
    start_smtp,
    stop_smtp,
)
from core.db import transaction
from core.runtime import Runtime
from inbox.models import Message
from tests.support import (
    add_user,
    client_for,
    make_queue,
    make_settings,
    retry_failed_inbound,
    run_jobs,
    submit_form,
)

NOTE = "[Frontdesk left part of this message out: "


@pytest.fixture
async def smtp(runtime: Runtime) -> AsyncIterator[SmtpServer]:
    server = await start_smtp(runtime, port=0)
    yield server
    await stop_smtp(server)


def head(subject: bytes = b"Limits") -> bytes:
    return (b"From: Anna Berg <anna@example.org>\r\nTo: help@example.com\r\n"
            b"Subject: " + subject + b"\r\nMessage-ID: <limits@example.org>\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n")


def plain(body: bytes, subject: bytes = b"Limits") -> bytes:
    return head(subject) + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body


def lines_of_x(count: int) -> bytes:
    return (b"x" * 70 + b"\r\n") * count


def with_attachments(sizes: list[int], *, body: bool = True) -> bytes:
    parts = [b"--b\r\nContent-Type: text/plain\r\n\r\nSee the files.\r\n"] if body else []
    parts += [b"--b\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Disposition: attachment; filename=\"a%d.bin\"\r\n\r\n" % n
              + lines_of_x(size // 72) for n, size in enumerate(sizes)]
    return (head() + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"".join(parts)
            + b"--b--\r\n")


def nested(levels: int) -> bytes:
    opening = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                       % (i - 1, i) for i in range(1, levels))
    leaf = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % (levels - 1)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))
    return head() + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + opening + leaf + closing


def folded(words: int) -> bytes:
    """A header value of `words` words, folded onto lines of about 70 characters."""
    return b"\r\n ".join(b" ".join([b"boots"] * 11) for _ in range(words // 11))


@dataclass(frozen=True)
class Case:
    mail: bytes
    truncated: list[dict[str, Any]]
    """Empty when the sender is refused."""
    told: str = ""
    attachments: int = 0


BIG_TEXT = lines_of_x(3550)  # 252,050 bytes of text
CASES = {
    "message size: refused with 552": (
        {"max_message_bytes": 64 * 1024}, Case(plain(lines_of_x(1000)), [])),
    "body length: a 252 KB mail on the default limits": ({}, Case(
        plain(BIG_TEXT),
        [{"what": "text", "limit": "max_text_chars", "max": 200_000,
          "dropped": len(BIG_TEXT.replace(b"\r\n", b"\n")) - 200_000, "names": []}],
        told="its text was cut at 200,000 characters (52,050 more)")),
    "parts: 2,000 attachments on the default limits": ({}, Case(
        with_attachments([10] * 2000, body=False),
        [{"what": "parts", "limit": "max_parts", "max": 200, "dropped": 1801, "names": []}],
        told="1,801 MIME parts beyond the first 200 were not read", attachments=199)),
    "depth: a body nested 200 levels deep on the default limits": ({}, Case(
        nested(200),
        [{"what": "parts", "limit": "max_depth", "max": 20, "dropped": 180, "names": []}],
        told="180 MIME parts nested deeper than 20 levels were not read")),
    "depth: 1,000 levels, more than the parser can follow": ({}, Case(
        nested(1000),
        [{"what": "parts", "limit": "max_depth", "max": 20, "dropped": 1000, "names": []}],
        told="1,000 MIME parts nested deeper than 20 levels were not read")),
    "one attachment's size": ({"max_attachment_bytes": 1000}, Case(
        with_attachments([2000, 500]),
        [{"what": "attachments", "limit": "max_attachment_bytes", "max": 1000, "dropped": 1,
          "names": ["a0.bin"]}],
        told="1 attachment over 1,000 bytes was left out (a0.bin)", attachments=1)),
    "total attachment size": ({"max_total_attachment_bytes": 1500}, Case(
        with_attachments([1000, 1000, 400]),
        [{"what": "attachments", "limit": "max_total_attachment_bytes", "max": 1500,
          "dropped": 1, "names": ["a1.bin"]}],
        told="1 attachment was left out, over 1,500 bytes in all (a1.bin)", attachments=2)),
    "header length": ({"max_header_chars": 2000}, Case(
        plain(b"Boots.\r\n", subject=folded(550)),
        [{"what": "headers", "limit": "max_header_chars", "max": 2000, "dropped": 1,
          "names": ["subject"]}],
        told="1 header field was cut at 2,000 characters (subject)")),
}


async def deliver(smtp: SmtpServer, raw: bytes) -> aiosmtplib.SMTPResponse:
    """One SMTP transaction; returns the reply to the end of DATA, refusal or not."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp.port, start_tls=False,
                             local_hostname="client.example", timeout=60)
    await client.connect()
    try:
        await client.ehlo()
        await client.mail("anna@example.org")
        await client.rcpt("help@example.com")
        try:
            return await client.data(raw)
        except aiosmtplib.SMTPDataError as refused:
            return aiosmtplib.SMTPResponse(refused.code, refused.message)
    finally:
        await client.quit()


async def stored(runtime: Runtime) -> tuple[int, int]:
    """(raw emails, messages) held."""
    async with transaction(runtime.raw_sessions) as raw:
        raws = await raw.scalar(select(func.count()).select_from(RawEmail))
    async with transaction(runtime.sessions) as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
    return raws, messages


async def the_message(client, headers) -> dict:
    [conversation] = (await client.get("/api/conversations", headers=headers,
                                       params={"status": "all"})).json()["items"]
    detail = await client.get(f"/api/conversations/{conversation['id']}", headers=headers)
    [message] = detail.json()["messages"]
    return message


@pytest.mark.parametrize(("settings_overrides", "case"),
                         [({"limits": limits}, case) for limits, case in CASES.values()],
                         ids=list(CASES))
async def test_each_limit_from_the_sender_to_the_agent(runtime, smtp, client, agent, case):
    _, headers = agent
    reply = await deliver(smtp, case.mail)
    if not case.truncated:
        assert (reply.code, reply.message) == (552, "Error: Too much mail data")
        assert await stored(runtime) == (0, 0)
        return
    assert reply.code == 250
    await run_jobs(runtime)
    message = await the_message(client, headers)
    assert message["truncated"] == case.truncated
    assert message["text"].startswith(NOTE + case.told)
    assert len(message["attachments"]) == case.attachments
    original = await client.get(message["original_url"], headers=headers)
    assert original.status_code == 200 and original.content == case.mail
    assert original.headers["content-type"] == "message/rfc822"
    assert original.headers["content-disposition"] == (
        f"attachment; filename=\"message-{message['id']}.eml\"; "
        f"filename*=UTF-8''message-{message['id']}.eml")
    assert original.headers["x-content-type-options"] == "nosniff"


async def test_mail_within_every_limit_is_kept_whole_and_says_nothing(runtime, smtp, client,
                                                                       agent):
    _, headers = agent
    raw = plain(lines_of_x(100))
    assert (await deliver(smtp, raw)).code == 250
    await run_jobs(runtime)
    message = await the_message(client, headers)
    assert message["truncated"] == [] and message["text"] == ("x" * 70 + "\n") * 100
    assert (await client.get(message["original_url"], headers=headers)).content == raw


# ---------------------------------------------------------------- the original email


async def test_the_original_is_for_an_agent_who_sees_a_live_conversation(runtime, smtp,
                                                                          client, agent, admin):
    _, headers = agent
    _, admin_headers = admin
    _, outsider = await add_user(runtime, "outsider@example.com")  # of no inbox
    await deliver(smtp, plain(b"Boots.\r\n"))
    await run_jobs(runtime)
    message = await the_message(client, headers)
    url = f"/api/messages/{message['id']}/original"
    assert message["original_url"] == url
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=outsider)).status_code == 404
    assert (await client.get("/api/messages/999999/original", headers=headers)).status_code == 404
    [conversation] = (await client.get("/api/conversations", headers=headers)).json()["items"]
    deleted = await client.delete(f"/api/conversations/{conversation['id']}",
                                  headers=admin_headers)
    assert deleted.status_code == 204
    assert (await client.get(url, headers=headers)).status_code == 404


async def test_a_message_that_came_by_no_email_has_no_original(runtime, client, agent):
    _, headers = agent
    assert (await submit_form(client)).status_code in (200, 201)
    await run_jobs(runtime)
    message = await the_message(client, headers)
    assert message["original_url"] is None
    missing = await client.get(f"/api/messages/{message['id']}/original", headers=headers)
    assert missing.status_code == 404 and "did not come by email" in missing.text


# ---------------------------------------------------------------- SMTP: bare LF, long lines


async def talk_data(smtp: SmtpServer, data: bytes) -> tuple[bytes, bytes]:
    """Send `data` after DATA's 354 on a raw connection; returns the reply line and what
    the server sends after it until it closes (b"" when it just closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp.port)
    try:
        await reader.readline()
        writer.write(b"EHLO client.example\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        for command in (b"MAIL FROM:<anna@example.org>", b"RCPT TO:<help@example.com>",
                        b"DATA"):
            writer.write(command + b"\r\n")
            assert (await reader.readline())[:3] in (b"250", b"354")
        writer.write(data)
        await writer.drain()
        reply = await reader.readline()
        try:
            after = await asyncio.wait_for(reader.read(), timeout=30)
        except ConnectionResetError:
            after = b""
        return reply, after
    finally:
        writer.close()


@pytest.mark.parametrize("data", [
    b"Subject: unix\n\nlines end in LF only\n.\n",
    b"Subject: unix\n\n" + b"a longer body\n" * 200 + b".\n",  # today: waits for ever
    b"Subject: one\r\n\r\nall lines CRLF but this\none\r\n.\r\n",
    # SMTP smuggling: an end of data some servers read, then a second message.
    b"Subject: first\r\n\r\nhello\r\n\n.\r\nMAIL FROM:<ceo@example.com>\r\n"
    b"RCPT TO:<help@example.com>\r\nDATA\r\nSubject: forged\r\n\r\nsend money\r\n.\r\n",
    b"Subject: first\r\n\r\nhello\n.\nMAIL FROM:<ceo@example.com>\r\n.\r\n",
], ids=["lf-only", "lf-only-long", "one-bare-lf", "smuggling-crlf-lf-dot", "smuggling-lf-dot-lf"])
async def test_a_bare_lf_in_data_is_refused_with_521_and_the_connection_closed(runtime, smtp,
                                                                                 data):
    reply, after = await talk_data(smtp, data)
    assert reply == (f"521 5.5.2 {socket.gethostname()}: Error: bare <LF> received\r\n"
                     .encode())
    assert after == b""
    assert await stored(runtime) == (0, 0)
    assert (await deliver(smtp, plain(b"Boots.\r\n"))).code == 250  # the next is heard


async def test_a_line_over_1000_bytes_is_refused_with_500(runtime, smtp):
    reply, _ = await talk_data(smtp, plain(b"x" * 1200 + b"\r\n") + b".\r\nQUIT\r\n")
    assert reply == b"500 Line too long (see RFC5321 4.5.3.1.6)\r\n"
    assert await stored(runtime) == (0, 0)


async def test_a_crlf_split_by_a_fragment_of_a_long_line_still_ends_it():
    """Past the line length limit DATA reads fragments; one may end in the CR of a CRLF."""
    reader = asyncio.StreamReader(limit=8)
    lines = _NoBareLineFeeds(reader)
    reader.feed_data(b"0123456789\r")
    with pytest.raises(asyncio.LimitOverrunError) as over:
        await lines.readuntil(b"\r\n")
    assert await lines.read(over.value.consumed) == b"0123456789\r"
    reader.feed_data(b"\n.\r\n")
    assert [await lines.readuntil(b"\r\n"), await lines.readuntil(b"\r\n")] == [
        b"\r\n", b".\r\n"]


@pytest.mark.parametrize(("data", "after_cr", "bare"), [
    (b"line\r\n", False, False),
    (b"line\n", False, True),
    (b"\n", False, True),
    (b"\n", True, False),  # the CR ended the previous read
    (b"a\r\nb\r\n", False, False),
    (b"a\r\nb\n", False, True),
    (b"a\rb", False, False),  # a bare CR is not a bare LF
    (b"", True, False),
])
def test_has_bare_line_feed(data, after_cr, bare):
    assert has_bare_line_feed(data, after_cr=after_cr) is bare


# ---------------------------------------------------------------- a retry once the cause is fixed


async def test_mail_that_failed_for_its_length_before_is_kept_on_retry(runtime, client, admin,
                                                                        agent):
    """The 252 KB mail that failed for good on the old ingest check waits in the failed
    list; its retry now makes it a message, cut and told."""
    _, admin_headers = admin
    _, headers = agent
    async with transaction(runtime.raw_sessions) as session:
        [raw_id] = await add_raw(session, [raw_row(
            inbox_slug="support", source="smtp", raw=plain(BIG_TEXT), status="failed",
            error="InvalidInput: message longer than 200000 characters")])
    assert await retry_failed_inbound(client, runtime, admin_headers, raw_id) == [raw_id]
    message = await the_message(client, headers)
    assert message["text"].startswith(NOTE + "its text was cut at 200,000 characters")
    assert (await client.get("/api/admin/failed-inbound", headers=admin_headers)).json()[
        "items"] == []


async def test_a_retry_succeeds_once_the_admin_fixes_the_configuration(runtime, client, admin):
    """Mail for an inbox the configuration no longer has fails, and fails again on a retry;
    once the admin configures the inbox again (and restarts), the retry makes it a message."""
    _, admin_headers = admin
    raw_id = await store_raw(runtime.raw_sessions, inbox_slug="sales", source="smtp",
                             raw=plain(b"Boots.\r\n"))
    await run_jobs(runtime)

    async def status() -> tuple[str, str | None]:
        async with transaction(runtime.raw_sessions) as session:
            row = await session.get(RawEmail, raw_id)
            return row.status, row.error

    assert await status() == ("failed", "InvalidInput: no inbox 'sales'")
    assert await retry_failed_inbound(client, runtime, admin_headers, raw_id) == [raw_id]
    assert (await status())[0] == "failed"

    fixed = make_settings(runtime.settings.database.url, inboxes=[
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "addresses": ["sales@example.com"]}])
    restarted = await Runtime.start(fixed, install=server.install, queue=make_queue(fixed))
    try:
        await server.prepare_database(restarted)
        async with client_for(server.create_app(runtime=restarted)) as fixed_client:
            await retry_failed_inbound(fixed_client, restarted, admin_headers, raw_id)
            assert await status() == ("processed", None)
            [conversation] = (await fixed_client.get(
                "/api/conversations", headers=admin_headers)).json()["items"]
            assert conversation["inbox"] == "sales"
    finally:
        await restarted.close()
