"""What follows a chat by email, through a real SMTP relay on loopback (aiosmtpd): an
unread reply mailed to a visitor who left, threaded so their answer joins the chat, and
the transcript mailed on close."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from connectors.ingest import accept
from connectors.webchat import send, service
from connectors.webchat.models import ChatVisitor
from core.db import transaction
from inbox import service as inbox
from inbox.messages import InboundMessage
from inbox.models import Message
from tests.support import TEST_REDIS_URL, add_to_inbox, add_user, run_jobs, unused_port

VISITOR = "v" * 22


class Sink:
    """Keeps every mail it is given."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.mails.append(email.message_from_bytes(envelope.original_content,
                                                   policy=policy.default))  # type: ignore[arg-type]
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def sink_port() -> int:
    return unused_port()


@pytest.fixture
def settings_overrides(sink_port: int) -> dict:
    return {"smtp_out": {"host": "127.0.0.1", "port": sink_port, "timeout_seconds": 2.0}}


@pytest.fixture
def sink(sink_port: int):  # type: ignore[no-untyped-def]
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=sink_port)
    controller.start()
    yield handler
    controller.stop()


async def chat(runtime, *, transcript: bool = False, email_given: str | None = "vi@example.org"
               ) -> tuple[int, int]:
    """A chat of a visitor who left `email_given` before writing; (conversation, agent)."""
    async with transaction(runtime.sessions) as session:
        await service.save_settings(session, None, 1, "support", service.ChatValues(
            enabled=True, allowed_origins=("https://shop.example.org",),
            transcript=transcript, email_after_minutes=5))
        await service.save_details(session, 1, VISITOR, "Vi", email_given)
    result = await accept(runtime.sessions, service.to_inbound(
        "support", 1, VISITOR, "c1", "Is the blue one in stock?", "Vi", email_given))
    agent_id, _ = await add_user(runtime, "al@example.com", "agent", "Al")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    return result.conversation_id, agent_id


async def agent_reply(runtime, conversation_id: int, agent_id: int, text: str) -> int:
    async with transaction(runtime.sessions) as session:
        message = await inbox.add_agent_message(session, conversation_id, author_id=agent_id,
                                                kind="reply", text=text)
    await run_jobs(runtime)
    return message.id


async def test_an_unread_reply_is_mailed_once_and_the_answer_joins_the_chat(runtime,
                                                                            sink) -> None:
    conversation_id, agent_id = await chat(runtime)
    message_id = await agent_reply(runtime, conversation_id, agent_id, "Yes, two left.")
    assert sink.mails == []  # delivered to the chat; the mail waits for the delay
    ctx = {"runtime": runtime}
    await send.unread_reply(ctx, message_id)  # the look, `email_after_minutes` later
    await send.unread_reply(ctx, message_id)  # a second look mails nothing more
    await run_jobs(runtime)
    [mail] = sink.mails
    assert mail["To"] == "Vi <vi@example.org>" and "Yes, two left." in mail.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    # The visitor answers the mail: it joins the chat and the widget would show it next.
    answer = InboundMessage(
        inbox="support", channel="email", sender_email="vi@example.org", sender_name="Vi",
        subject=f"Re: {mail['Subject']}", text="Great, I will order it.",
        external_id="answer-1@example.org", in_reply_to=mail["Message-ID"].strip("<>"),
        references=(mail["Message-ID"].strip("<>"),))
    joined = await accept(runtime.sessions, answer)
    assert joined.conversation_id == conversation_id
    async with transaction(runtime.sessions) as session:
        visitor = await session.scalar(select(ChatVisitor))
        assert visitor is not None
        shown = await service.messages_after(session, conversation_id, 0, visitor.visitor,
                                             visitor.name)
    assert [(m.seq, m.author, m.text) for m in shown] == [
        (1, "visitor", "Is the blue one in stock?"), (2, "agent", "Yes, two left."),
        (3, "visitor", "Great, I will order it.")]


async def test_a_read_reply_or_a_visitor_without_address_gets_no_mail(runtime, sink) -> None:
    conversation_id, agent_id = await chat(runtime)
    message_id = await agent_reply(runtime, conversation_id, agent_id, "Yes.")
    async with transaction(runtime.sessions) as session:
        await service.mark_read(session, conversation_id, 2)
    await send.unread_reply({"runtime": runtime}, message_id)
    await run_jobs(runtime)
    assert sink.mails == []


async def test_no_address_no_mail(runtime, sink) -> None:
    conversation_id, agent_id = await chat(runtime, email_given=None)
    message_id = await agent_reply(runtime, conversation_id, agent_id, "Yes.")
    await send.unread_reply({"runtime": runtime}, message_id)
    await run_jobs(runtime)
    assert sink.mails == []


async def test_closing_mails_the_transcript_marked_auto_generated(runtime, sink) -> None:
    conversation_id, agent_id = await chat(runtime, transcript=True)
    await agent_reply(runtime, conversation_id, agent_id, "Yes, two left.")
    async with transaction(runtime.sessions) as session:
        await inbox.add_agent_message(session, conversation_id, author_id=agent_id,
                                      kind="comment", text="internal: call the warehouse")
        await inbox.set_status(session, conversation_id, "closed", actor_id=agent_id,
                               cause="agent")
    await run_jobs(runtime)
    transcripts = [m for m in sink.mails if m["Subject"] == "Your chat with Support"]
    [mail] = transcripts
    assert mail["Auto-Submitted"] == "auto-generated" and mail["To"] == "Vi <vi@example.org>"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Is the blue one in stock?" in body and "Yes, two left." in body
    assert "warehouse" not in body
    async with transaction(runtime.sessions) as session:
        assert await session.scalar(select(Message.id).where(
            Message.conversation_id == conversation_id, Message.direction == "comment"))


async def test_no_transcript_unless_the_inbox_asks(runtime, sink) -> None:
    conversation_id, agent_id = await chat(runtime, transcript=False)
    async with transaction(runtime.sessions) as session:
        await inbox.set_status(session, conversation_id, "closed", actor_id=agent_id,
                               cause="agent")
    await run_jobs(runtime)
    assert sink.mails == []


@pytest.mark.skipif(bool(TEST_REDIS_URL), reason="arq defers jobs on the wall clock")
async def test_the_look_comes_email_after_minutes_later(runtime, sink, manual_clock) -> None:
    conversation_id, agent_id = await chat(runtime)
    await agent_reply(runtime, conversation_id, agent_id, "Yes, two left.")
    manual_clock.advance(timedelta(minutes=4))
    await run_jobs(runtime)
    assert sink.mails == []
    manual_clock.advance(timedelta(minutes=2))
    await run_jobs(runtime)
    await run_jobs(runtime)  # the look queues the mail; the mail is its own job
    assert [m["To"] for m in sink.mails] == ["Vi <vi@example.org>"]
