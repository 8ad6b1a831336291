"""One log line and the metrics per inbound email, once its outcome is committed: accepted
(with its message and conversation), quarantined (unreadable, or given up)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from connectors.email import inbound
from connectors.email.inbound import add_raw, raw_row, store_raw
from connectors.email.models import RawEmail
from core.db import transaction
from inbox.models import Message
from tests.connectors.email.test_pipeline import mail
from tests.support import run_jobs


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcome_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "inbound_mail"]


async def test_accepted_mail_is_logged_with_its_message_and_conversation(runtime, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.inbound")
    accepted = value("frontdesk_mail_accepted_total", source="imap")
    lags = value("frontdesk_ingest_lag_seconds_count")
    raw_id = await store_raw(runtime.raw_sessions, inbox_slug="support", source="imap",
                             raw=mail("outcome-1@example.org"))
    await run_jobs(runtime)
    async with transaction(runtime.sessions) as session:
        message = (await session.scalars(select(Message).where(
            Message.external_id == "outcome-1@example.org"))).one()
    [line] = outcome_lines(caplog)
    assert (line.outcome, line.raw_id, line.message_id, line.conversation_id, line.inbox,
            line.source) == ("accepted", raw_id, message.id, message.conversation_id,
                             "support", "imap")
    assert value("frontdesk_mail_accepted_total", source="imap") - accepted == 1
    assert value("frontdesk_ingest_lag_seconds_count") - lags == 1


async def test_unreadable_mail_is_logged_as_quarantined(runtime, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.inbound")
    before = value("frontdesk_mail_quarantined_total", reason="unreadable")
    raw_id = await store_raw(runtime.raw_sessions, inbox_slug="support", source="smtp",
                             raw=b"\r\nno header at all\r\n")
    await run_jobs(runtime)
    [line] = outcome_lines(caplog)
    assert (line.outcome, line.status, line.raw_id, line.message_id, line.conversation_id
            ) == ("quarantined", "quarantined", raw_id, None, None)
    assert line.error == "no header fields: this is not an email"
    assert value("frontdesk_mail_quarantined_total", reason="unreadable") - before == 1


async def test_mail_given_up_is_logged_as_quarantined(runtime, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.inbound")
    before = value("frontdesk_mail_quarantined_total", reason="failed")
    async with transaction(runtime.raw_sessions) as session:
        session.info.pop("jobs")  # no kick: the sweep finds it
        [raw_id] = await add_raw(session, [raw_row(
            inbox_slug="support", source="smtp", raw=mail("doomed-2@example.org"))])
        await session.execute(update(RawEmail).where(RawEmail.id == raw_id)
                              .values(attempts=inbound.MAX_ATTEMPTS))
    await inbound.sweep({"runtime": runtime})
    await run_jobs(runtime)
    [line] = outcome_lines(caplog)
    assert (line.outcome, line.status, line.raw_id, line.inbox) == (
        "quarantined", "failed", raw_id, "support")
    assert value("frontdesk_mail_quarantined_total", reason="failed") - before == 1
