"""Replies leave through the outbox: after commit, once, with retries and recorded outcomes.

Runs on the in-process queue by default and on Redis with real arq workers when
FRONTDESK_TEST_REDIS_URL is set.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors import outbound
from core import clock, outbox
from core.db import transaction
from core.outbox import OutboxItem, Outcome
from tests.support import TEST_REDIS_URL, run_jobs, submit_form


class RecordingSender:
    """A channel sender that records what it sends and answers from a script."""

    def __init__(self, *outcomes: Outcome):
        self.outcomes = list(outcomes)
        self.sent: list[outbound.OutboundMessage] = []

    async def send(self, ctx, message):
        self.sent.append(message)
        return self.outcomes.pop(0) if self.outcomes else Outcome("sent")


@pytest.fixture
def form_sender(monkeypatch):
    sender = RecordingSender()
    monkeypatch.setitem(outbound.senders, "form", sender)
    return sender


async def reply(client, headers, text="Thanks, fixed") -> tuple[int, int]:
    number = (await submit_form(client)).json()["ticket_number"]
    conv = (await client.get(f"/api/tickets/{number}", headers=headers)).json()[
        "conversation_ids"][0]
    response = await client.post(f"/api/conversations/{conv}/messages", headers=headers,
                                 json={"kind": "reply", "text": text})
    assert response.status_code == 201
    assert response.json()["delivery_status"] == "queued"
    return conv, response.json()["id"]


async def message(client, headers, conv, message_id):
    body = (await client.get(f"/api/conversations/{conv}", headers=headers)).json()
    return next(m for m in body["messages"] if m["id"] == message_id)


async def outbox_rows(runtime):
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


async def test_reply_is_sent_once_after_commit(client, runtime, agent, form_sender):
    _, headers = agent
    conv, message_id = await reply(client, headers)
    await run_jobs(runtime)
    assert [m.text for m in form_sender.sent] == ["Thanks, fixed"]
    assert form_sender.sent[0].to_email == "anna@example.org"
    assert (await message(client, headers, conv, message_id))["delivery_status"] == "sent"
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts) == ("sent", 1)
    await outbox.deliver({"runtime": runtime}, row.id)
    await run_jobs(runtime)
    assert len(form_sender.sent) == 1


async def test_channel_without_sender_marks_the_reply_failed(client, runtime, agent,
                                                             monkeypatch):
    _, headers = agent
    monkeypatch.delitem(outbound.senders, "form", raising=False)
    conv, message_id = await reply(client, headers)
    await run_jobs(runtime)
    sent = await message(client, headers, conv, message_id)
    assert sent["delivery_status"] == "failed"
    assert "no outbound connector for channel 'form'" in sent["delivery_error"]


async def test_temporary_failure_retries_with_backoff(client, runtime, agent, monkeypatch):
    _, headers = agent
    sender = RecordingSender(Outcome("retry", "451 try later"), Outcome("sent"))
    monkeypatch.setitem(outbound.senders, "form", sender)
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, message_id = await reply(client, headers)
        await run_jobs(runtime)
        pending = await message(client, headers, conv, message_id)
        assert (pending["delivery_status"], pending["delivery_error"]) == ("retrying",
                                                                           "451 try later")
        [row] = await outbox_rows(runtime)
        assert row.status == "pending" and row.next_attempt_at == manual() + timedelta(seconds=30)
        assert await outbox.sweep({"runtime": runtime}) == 0
        manual.advance(timedelta(seconds=31))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)
    assert len(sender.sent) == 2
    assert (await message(client, headers, conv, message_id))["delivery_status"] == "sent"


async def test_permanent_failure_is_recorded(client, runtime, agent, monkeypatch):
    _, headers = agent
    monkeypatch.setitem(outbound.senders, "form",
                        RecordingSender(Outcome("failed", "550 no such user")))
    conv, message_id = await reply(client, headers)
    await run_jobs(runtime)
    failed = await message(client, headers, conv, message_id)
    assert (failed["delivery_status"], failed["delivery_error"]) == ("failed", "550 no such user")


async def test_a_row_is_claimed_once_even_when_kicked_twice(client, runtime, agent, form_sender):
    _, headers = agent
    await reply(client, headers)
    [row] = await outbox_rows(runtime)
    ctx = {"runtime": runtime}
    await outbox.deliver(ctx, row.id)
    await outbox.deliver(ctx, row.id)
    await run_jobs(runtime)
    assert len(form_sender.sent) == 1


async def test_rolled_back_reply_leaves_no_outbox_row(runtime):
    with pytest.raises(RuntimeError):
        async with transaction(runtime.sessions) as session:
            await outbox.add(session, "reply", {"message_id": 1})
            raise RuntimeError("boom")
    await run_jobs(runtime)
    assert await outbox_rows(runtime) == []


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis: set FRONTDESK_TEST_REDIS_URL")
async def test_jobs_travel_through_redis(client, runtime, agent, form_sender):
    from core.jobs import ArqQueue

    assert isinstance(runtime.queue, ArqQueue)
    _, headers = agent
    await reply(client, headers)
    queued = await runtime.queue.pool.zcard(runtime.settings.jobs.queue_name)
    assert queued == 1 and form_sender.sent == []
    await run_jobs(runtime)
    assert len(form_sender.sent) == 1


async def test_a_row_whose_worker_stopped_fails_and_is_never_performed_again(
        client, runtime, agent, monkeypatch):
    _, headers = agent

    class StopsDuringDelivery(RecordingSender):
        async def send(self, ctx, message):
            self.sent.append(message)
            raise asyncio.CancelledError

    sender = StopsDuringDelivery()
    monkeypatch.setitem(outbound.senders, "form", sender)
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conv, message_id = await reply(client, headers)
        await run_jobs(runtime)
        [row] = await outbox_rows(runtime)
        assert row.status == "sending"
        manual.advance(outbox.STUCK_AFTER - timedelta(seconds=1))
        await outbox.sweep({"runtime": runtime})
        assert (await outbox_rows(runtime))[0].status == "sending"
        manual.advance(timedelta(seconds=2))
        assert await outbox.sweep({"runtime": runtime}) == 0
        await run_jobs(runtime)
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, outbox.STUCK_DETAIL)
    stuck = await message(client, headers, conv, message_id)
    assert (stuck["delivery_status"], stuck["delivery_error"]) == ("failed", outbox.STUCK_DETAIL)
    assert len(sender.sent) == 1
