"""Each limit of `[limits]`, against the real SMTP server: what the sender hears, what the
message shows (`truncated`, the note at the top of its text), and that the original email
is downloadable whole. Accepted means kept: whatever hears `250` becomes a message.

The first rows re-run what was observed on the default limits: a 252 KB plain-text mail
was accepted and then failed for good; 2,000 attachments came back as 199 and a body
nested 200 levels deep as empty text, with nothing saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select

import server
from connectors.email.inbound import add_raw, raw_row, store_raw
from connectors.email.models import RawEmail
from connectors.email.smtp_in import SmtpServer, start_smtp, stop_smtp
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
