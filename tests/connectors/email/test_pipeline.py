"""Inbound mail after the wire: stored raw, then parsed, routed, threaded and ingested.

These tests hand raw bytes to the durable accept (`store_raw`) the SMTP server and the
IMAP poller use, then run the jobs, and look at the result through the API.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from connectors.email import inbound
from connectors.email.inbound import add_raw, process, store_raw
from connectors.email.inbound import raw_row as inbound_row
from connectors.email.models import RawEmail
from core.db import transaction
from inbox.events import ConversationOpened
from inbox.models import Contact, Conversation, Message
from tests.support import retry_failed_inbound, run_jobs
from tickets.models import Ticket

CORPUS = Path(__file__).parent / "corpus"


def mail(message_id: str, *, subject: str = "Printer on fire", body: str = "It smokes.",
         sender: str = "Anna Berg <anna@example.org>", headers: str = "") -> bytes:
    text = (f"From: {sender}\r\nTo: help@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
    return text.encode()


async def deliver(runtime, raw: bytes) -> int:
    raw_id = await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp", raw=raw,
                             mail_from="anna@example.org", rcpt_to=["help@example.com"])
    await run_jobs(runtime)
    return raw_id


async def raw_row(runtime, raw_id: int) -> RawEmail:
    async with transaction(runtime.raw_sessions) as session:
        row = await session.get(RawEmail, raw_id)
        assert row is not None
        return row


async def conversations(client, headers, **params) -> list[dict]:
    params.setdefault("status", "all")
    body = (await client.get("/api/conversations", headers=headers, params=params)).json()
    return body["items"]


async def detail(client, headers, conversation_id: int) -> dict:
    return (await client.get(f"/api/conversations/{conversation_id}", headers=headers)).json()


async def counts(runtime) -> tuple[int, int, int]:
    async with transaction(runtime.sessions) as session:
        return tuple([await session.scalar(select(func.count()).select_from(m))
                      for m in (Conversation, Message, Ticket)])


async def test_mail_becomes_conversation_and_ticket_with_its_message_id(client, runtime, agent):
    _, headers = agent
    raw_id = await deliver(runtime, mail("a1@example.org"))
    [conversation] = await conversations(client, headers)
    assert conversation["channel"] == "email" and conversation["ticket_id"] is not None
    [message] = (await detail(client, headers, conversation["id"]))["messages"]
    assert message["external_id"] == "a1@example.org" and message["text"].strip() == "It smokes."
    row = await raw_row(runtime, raw_id)
    assert row.status == "processed" and row.message_id == message["id"]


async def test_the_same_mail_twice_is_one_message(client, runtime, agent):
    await deliver(runtime, mail("dup@example.org"))
    second = await deliver(runtime, mail("dup@example.org"))
    assert await counts(runtime) == (1, 1, 1)
    assert (await raw_row(runtime, second)).facts["duplicate"] is True


async def test_a_reused_message_id_with_another_body_is_kept(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("reused@example.org", body="first text"))
    await deliver(runtime, mail("reused@example.org", body="another text"))
    texts = [m["text"] for c in await conversations(client, headers)
             for m in (await detail(client, headers, c["id"]))["messages"]]
    assert sorted(t.strip() for t in texts) == ["another text", "first text"]


async def test_reply_joins_by_in_reply_to(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("q@example.org"))
    await deliver(runtime, mail("r@example.org", subject="Re: Printer on fire",
                                headers="In-Reply-To: <q@example.org>\r\n"))
    [conversation] = await conversations(client, headers)
    assert len((await detail(client, headers, conversation["id"]))["messages"]) == 2


async def test_out_of_order_reply_first_then_the_original_joins_it(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("later@example.org", subject="Re: Invoice",
                                headers="In-Reply-To: <earlier@example.org>\r\n"
                                        "References: <earlier@example.org>\r\n"))
    await deliver(runtime, mail("earlier@example.org", subject="Invoice"))
    [conversation] = await conversations(client, headers)
    ids = [m["external_id"] for m in (await detail(client, headers, conversation["id"]))[
        "messages"]]
    assert sorted(ids) == ["earlier@example.org", "later@example.org"]
    assert (await counts(runtime))[2] == 1


async def test_ticket_token_threads_only_for_participants(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("t1@example.org"))
    [conversation] = await conversations(client, headers)
    number = conversation["ticket_id"]
    await deliver(runtime, mail("t2@example.org", subject=f"Re: Printer on fire [#{number}]"))
    assert len(await conversations(client, headers)) == 1
    await deliver(runtime, mail("t3@example.org", subject=f"Re: Printer on fire [#{number}]",
                                sender="Mallory <mallory@example.net>"))
    assert len(await conversations(client, headers)) == 2


async def test_same_subject_never_merges_unrelated_mail(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("s1@example.org", subject="Help"))
    await deliver(runtime, mail("s2@example.org", subject="Help"))
    await deliver(runtime, mail("s3@example.org", subject="Help",
                                sender="Bo <bo@example.net>"))
    assert len(await conversations(client, headers)) == 3


async def test_auto_reply_that_threads_nowhere_is_spam_without_ticket(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, (CORPUS / "auto_reply.eml").read_bytes())
    [conversation] = await conversations(client, headers)
    assert conversation["status"] == "spam" and conversation["ticket_id"] is None
    assert (await counts(runtime))[2] == 0


async def test_auto_reply_never_reopens_a_closed_ticket(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("c1@example.org"))
    [conversation] = await conversations(client, headers)
    await client.patch(f"/api/tickets/{conversation['ticket_id']}", headers=headers,
                       json={"status": "closed"})
    await deliver(runtime, mail("c2@example.org", subject="Automatic reply: Printer",
                                headers="In-Reply-To: <c1@example.org>\r\n"
                                        "Auto-Submitted: auto-replied\r\n"))
    body = await detail(client, headers, conversation["id"])
    assert body["status"] == "closed" and body["messages"][-1]["automatic"] is True
    ticket = (await client.get(f"/api/tickets/{conversation['ticket_id']}",
                               headers=headers)).json()
    assert ticket["status"] == "closed"


async def test_mail_from_our_own_address_is_automatic(client, runtime, agent):
    _, headers = agent
    await deliver(runtime, mail("loop@example.com", sender="Support <help@example.com>"))
    [conversation] = await conversations(client, headers)
    assert conversation["status"] == "spam" and conversation["ticket_id"] is None


async def test_bounce_of_our_reply_marks_its_delivery_failed(client, runtime, agent):
    """The bounce's sender (a mail server) takes no part in the conversation: the failure
    shows on the reply, and the bounce itself lands in spam, linked to the conversation."""
    _, headers = agent
    await deliver(runtime, mail("b1@example.org"))
    [conversation] = await conversations(client, headers)
    reply = (await client.post(f"/api/conversations/{conversation['id']}/messages",
                               headers=headers, json={"kind": "reply", "text": "Fixed?"})).json()
    await run_jobs(runtime)
    messages = (await detail(client, headers, conversation["id"]))["messages"]
    ours = next(m for m in messages if m["id"] == reply["id"])["external_id"]
    bounce = (CORPUS / "bounce.eml").read_bytes()
    ids = re.findall(rb"Message-ID: <([^>]+)>", bounce)
    assert len(ids) == 2, "the corpus bounce quotes its original's Message-ID"
    await deliver(runtime, bounce.replace(ids[1], ours.encode()))
    messages = (await detail(client, headers, conversation["id"]))["messages"]
    sent = next(m for m in messages if m["id"] == reply["id"])
    assert sent["delivery_status"] == "failed" and sent["delivery_error"]
    assert messages[-1]["id"] == reply["id"]
    [bounced] = await conversations(client, headers, status="spam")
    assert bounced["replies_to"] == {"conversation_id": conversation["id"],
                                     "ticket_id": conversation["ticket_id"]}
    assert await counts(runtime) == (2, 3, 1)


async def test_unreadable_mail_is_quarantined_listed_and_retried(client, runtime, admin, agent):
    _, admin_headers = admin
    _, agent_headers = agent
    raw_id = await deliver(runtime, b"\r\n\r\nno headers at all")
    assert (await raw_row(runtime, raw_id)).status == "quarantined"
    listed = (await client.get("/api/admin/failed-inbound", headers=admin_headers)).json()
    assert [item["id"] for item in listed["items"]] == [raw_id]
    assert listed["items"][0]["error"]
    forbidden = await client.get("/api/admin/failed-inbound", headers=agent_headers)
    assert forbidden.status_code == 403
    retried = await client.post(f"/api/admin/failed-inbound/{raw_id}/retry",
                                headers=admin_headers)
    assert retried.status_code == 202
    await run_jobs(runtime)
    assert (await raw_row(runtime, raw_id)).status == "quarantined"
    again = await client.post("/api/admin/failed-inbound/999/retry", headers=admin_headers)
    assert again.status_code == 409


async def test_mail_that_never_finishes_processing_is_given_up_then_retried(client, runtime,
                                                                          admin):
    """A raw email whose processing died with its process again and again (each claim
    counted, none finished) is marked failed, listed, and processed after a retry."""
    _, admin_headers = admin
    async with transaction(runtime.raw_sessions) as session:
        session.info.pop("jobs")  # no kicks: the sweep finds it
        [raw_id] = await add_raw(session, [inbound_row(
            inbox_slug="support", source="smtp", raw=mail("doomed@example.org"))])
        await session.execute(update(RawEmail).where(RawEmail.id == raw_id)
                              .values(attempts=inbound.MAX_ATTEMPTS))
    await inbound.sweep({"runtime": runtime})
    await run_jobs(runtime)
    row = await raw_row(runtime, raw_id)
    assert (row.status, row.attempts) == ("failed", inbound.MAX_ATTEMPTS)
    assert f"{inbound.MAX_ATTEMPTS} attempts" in row.error
    assert (await counts(runtime))[0] == 0
    assert await retry_failed_inbound(client, runtime, admin_headers, raw_id) == [raw_id]
    row = await raw_row(runtime, raw_id)
    assert (row.status, row.attempts) == ("processed", 1)


async def test_one_bad_message_does_not_block_the_others(client, runtime, agent):
    _, headers = agent
    await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp", raw=b"\x00\xff")
    await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp",
                    raw=(CORPUS / "backslashes_8bit.eml").read_bytes())
    await store_raw(runtime.raw_sessions, inbox_slug="nope", source="smtp",
                    raw=mail("x@example.org"))
    await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp",
                    raw=mail("after@example.org"))
    await run_jobs(runtime)
    async with transaction(runtime.raw_sessions) as session:
        statuses = (await session.scalars(select(RawEmail.status).order_by(RawEmail.id))).all()
    assert statuses == ["quarantined", "processed", "failed", "processed"]
    texts = [m["text"] for c in await conversations(client, headers)
             for m in (await detail(client, headers, c["id"]))["messages"]]
    assert any("C:\\Users\\" in text for text in texts)


async def test_a_batch_keeps_the_good_and_rolls_back_the_bad_alone(client, runtime, agent):
    """Mail committed together is processed in one job; a message that fails halfway
    (after its contact and conversation were written) leaves nothing behind, is marked
    failed, and the messages around it are kept."""
    _, headers = agent

    async def explode(session, event: ConversationOpened) -> None:
        conversation = await session.get(Conversation, event.conversation_id)
        if conversation.subject == "Explode":
            raise RuntimeError("a subscriber broke")

    runtime.bus.subscribe(ConversationOpened, explode)
    raws = [mail("one@example.org", subject="First"),
            mail("two@example.org", subject="Explode", sender="bo@example.net"),
            mail("three@example.org", subject="Third")]
    async with transaction(runtime.raw_sessions) as session:
        ids = await add_raw(session, [
            inbound_row(inbox_slug="support", source="smtp", raw=raw) for raw in raws])
    await run_jobs(runtime)
    rows = [await raw_row(runtime, raw_id) for raw_id in ids]
    assert [row.status for row in rows] == ["processed", "failed", "processed"]
    assert "a subscriber broke" in rows[1].error and rows[1].message_id is None
    subjects = sorted(c["subject"] for c in await conversations(client, headers))
    assert subjects == ["First", "Third"]
    async with transaction(runtime.sessions) as session:
        assert await session.scalar(select(Contact).where(Contact.email == "bo@example.net")) \
            is None
    assert (await counts(runtime)) == (2, 2, 2)


async def test_a_job_that_finds_another_at_work_hands_its_mail_over(client, runtime, agent):
    """Mail kicked while a job is processing joins that job's next batch instead of
    queueing a second writer."""
    _, headers = agent
    async with transaction(runtime.raw_sessions) as session:
        session.info.pop("jobs")  # no kicks: this test runs the jobs itself
        first, second = await add_raw(session, [
            inbound_row(inbox_slug="support", source="smtp", raw=mail(f"{n}@example.org",
                                                                      subject=f"Mail {n}"))
            for n in (1, 2)])
    ctx = {"runtime": runtime}
    working, handed = await asyncio.gather(process(ctx, [first]), process(ctx, second))
    assert handed == {"handed_over": 1}
    assert working == {"skipped": 0, "processed": 2}
    assert [(await raw_row(runtime, raw_id)).status for raw_id in (first, second)] == [
        "processed", "processed"]
    assert sorted(c["subject"] for c in await conversations(client, headers)) == [
        "Mail 1", "Mail 2"]


async def test_batches_prepared_ahead_still_ingest_in_order(client, runtime, agent,
                                                          monkeypatch):
    """While one batch is ingested the next is claimed and parsed; each reply still finds
    the message it answers, ingested by the batch before."""
    _, headers = agent
    monkeypatch.setattr(inbound, "BATCH_SIZE", 2)
    raws = [mail("chain-0@example.org", subject="Printer")] + [
        mail(f"chain-{n}@example.org", subject="Re: Printer",
             headers=f"In-Reply-To: <chain-{n - 1}@example.org>\r\n") for n in range(1, 7)]
    async with transaction(runtime.raw_sessions) as session:
        session.info.pop("jobs")  # no kicks: this test runs the job itself
        ids = await add_raw(session, [
            inbound_row(inbox_slug="support", source="smtp", raw=raw) for raw in raws])
    assert await process({"runtime": runtime}, ids) == {"skipped": 0, "processed": 7}
    [conversation] = await conversations(client, headers)
    assert len((await detail(client, headers, conversation["id"]))["messages"]) == 7


@pytest.mark.parametrize("name", ["text_attachment.eml", "pdf_attachment.eml",
                                  "inline_image.eml"])
async def test_attachments_are_kept_and_only_downloaded(client, runtime, agent, name):
    import json

    _, headers = agent
    expected = json.loads((CORPUS / name.replace(".eml", ".json")).read_text())
    await deliver(runtime, (CORPUS / name).read_bytes())
    [conversation] = await conversations(client, headers)
    [message] = (await detail(client, headers, conversation["id"]))["messages"]
    names = sorted(a["filename"] for a in message["attachments"])
    assert names == sorted(a["filename"] for a in expected["attachments"])
    for attachment in message["attachments"]:
        response = await client.get(attachment["url"], headers=headers)
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-type"] == "application/octet-stream"
        assert len(response.content) == attachment["size"]
    assert (await client.get("/api/attachments/999", headers=headers)).status_code == 404


async def test_attachment_files_are_written_and_read_off_the_event_loop(client, runtime, agent,
                                                                        monkeypatch):
    """Writing a file (and syncing it) or reading one back never blocks the event loop:
    the store is called from a thread, where no loop runs."""
    _, headers = agent
    store = runtime.sessions.kw["info"]["attachments"]
    calls: list[tuple[str, bool]] = []

    def on_the_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def watched(name: str):
        method = getattr(store, name)

        def call(*args):
            calls.append((name, on_the_loop()))
            return method(*args)
        return call

    monkeypatch.setattr(store, "put", watched("put"))
    monkeypatch.setattr(store, "read", watched("read"))
    await deliver(runtime, (CORPUS / "text_attachment.eml").read_bytes())
    [conversation] = await conversations(client, headers)
    [message] = (await detail(client, headers, conversation["id"]))["messages"]
    [attachment] = message["attachments"]
    assert (await client.get(attachment["url"], headers=headers)).status_code == 200
    assert calls == [("put", False), ("read", False)]


async def test_a_forged_reference_to_one_of_our_ids_threads_nowhere(client, runtime, agent):
    from connectors.email.ids import make_message_id

    _, headers = agent
    await deliver(runtime, mail("f1@example.org"))
    [conversation] = await conversations(client, headers)
    reply = (await client.post(f"/api/conversations/{conversation['id']}/messages",
                               headers=headers, json={"kind": "reply", "text": "Hi"})).json()
    await run_jobs(runtime)
    genuine = make_message_id(runtime.settings.secret_key, "example.com", f"m{reply['id']}")
    async with transaction(runtime.sessions) as session:
        row = await session.get(Message, reply["id"])
        row.external_id = genuine
    forged = genuine.split("@")[0][:-10] + "0000000000@" + genuine.split("@")[1]
    fake = await deliver(runtime, mail("f2@example.org", sender="Mallory <m@example.net>",
                                       headers=f"In-Reply-To: <{forged}>\r\n"))
    assert len(await conversations(client, headers)) == 2
    assert (await raw_row(runtime, fake)).facts["forged_references"] == [forged]
    real = await deliver(runtime, mail("f3@example.org",
                                       headers=f"In-Reply-To: <{genuine}>\r\n"))
    assert len(await conversations(client, headers)) == 2
    assert (await raw_row(runtime, real)).facts["forged_references"] == []


class _Flood:
    """Stands for the SMTP receiver's commits while senders keep it busy."""

    def __init__(self) -> None:
        self.over = asyncio.Event()

    async def quiet(self, patience: float) -> None:
        await self.over.wait()


async def test_under_a_flood_mail_is_parsed_ahead_and_ingested_once_it_is_over(
        runtime, monkeypatch):
    """While the receiver is busy, processing claims and parses the backlog ahead (in the
    parser processes) but ingests nothing; once it falls quiet, all of it is ingested."""
    monkeypatch.setattr(inbound, "BATCH_SIZE", 2)
    flood = _Flood()
    runtime.extras["smtp_in.commits"] = flood
    async with transaction(runtime.raw_sessions) as session:
        session.info.pop("jobs")
        ids = await add_raw(session, [inbound_row(inbox_slug="support", source="smtp",
                                                  raw=mail(f"f{n}@example.org"))
                                      for n in range(6)])
    parsed_ahead = asyncio.Semaphore(0)
    parse_batch = inbound.parse_batch

    async def parsing(items, limits):
        results = await parse_batch(items, limits)
        parsed_ahead.release()
        return results

    monkeypatch.setattr(inbound, "parse_batch", parsing)
    processing = asyncio.create_task(process({"runtime": runtime}, ids))
    async with asyncio.timeout(30):
        for _ in range(3):
            await parsed_ahead.acquire()
    rows = [await raw_row(runtime, raw_id) for raw_id in ids]
    assert [row.attempts for row in rows] == [1] * 6  # all claimed, three batches ahead
    assert {row.status for row in rows} == {"pending"}
    assert (await counts(runtime))[0] == 0 and not processing.done()
    flood.over.set()
    assert (await processing)["processed"] == 6
    assert (await counts(runtime)) == (6, 6, 6)
