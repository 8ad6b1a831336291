"""Replies carry files: from the page and the API, held to the `[limits]`, and sent as
MIME attachments through a real SMTP relay on loopback (aiosmtpd)."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox.messages import InboundMessage
from inbox.service import ingest
from tests.connectors.email.test_smtp_out import RecordingRelay, free_port, running_relay
from tests.support import CHROMIUM, add_to_inbox, add_user, run_jobs
from tests.web.site import chromium, logged_in_page, screenshots, serving

RELAY_PORT = free_port()
REPORT = b"date,amount\n2026-03-01,120.00\n" * 40


@pytest.fixture
def settings_overrides() -> dict:
    return {"inboxes": [{"slug": "support", "name": "Support",
                         "addresses": ["help@example.com"]}],
            "smtp_out": {"host": "127.0.0.1", "port": RELAY_PORT, "timeout_seconds": 2.0},
            "limits": {"max_attachment_bytes": 4096, "max_total_attachment_bytes": 6144,
                       "max_parts": 3}}


@pytest.fixture
def relay():
    handler = RecordingRelay()
    with running_relay(RELAY_PORT, handler):
        yield handler


async def receive(runtime) -> int:
    message = InboundMessage(inbox="support", channel="email", sender_email="anna@example.org",
                             sender_name="Anna Berg", subject="Send me the report",
                             text="Could you send the March report?",
                             external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


def attachments_of(mail) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_payload(decode=True))
            for part in mail.iter_attachments()]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
async def test_an_agent_replies_with_a_file_from_the_page_and_the_mail_carries_it(
        runtime, relay, tmp_path):
    agent_id, _ = await add_user(runtime, "ann@example.com", "agent", "Ann Agent")
    await add_to_inbox(runtime, "support", user_ids=(agent_id,))
    conversation_id = await receive(runtime)
    async with serving(runtime) as base, chromium() as browser:
        page = await logged_in_page(browser, base, "ann@example.com")
        await page.goto(f"http://{base}/conversations/{conversation_id}")
        await page.get_by_label("Reply").fill("Here is the March report.")
        await page.get_by_label("Attach files").set_input_files(files=[
            {"name": "march-report.csv", "mimeType": "text/csv", "buffer": REPORT}])
        await page.get_by_role("button", name="Send").click()
        await page.get_by_role("status").filter(has_text="Reply queued").wait_for()
        reply = page.locator(".kind-reply")
        assert await reply.get_by_role("link", name="march-report.csv").count() == 1
        await screenshots(page, tmp_path, "reply-with-attachment")

        await page.get_by_label("Reply").fill("And the whole year.")
        await page.get_by_label("Attach files").set_input_files(files=[
            {"name": "year.csv", "mimeType": "text/csv", "buffer": REPORT * 4}])
        await page.get_by_role("button", name="Send").click()
        await page.get_by_role("alert").filter(has_text="'year.csv' is larger than").wait_for()
        assert await page.locator(".kind-reply").count() == 1
    await run_jobs(runtime)
    [received] = relay.accepted
    assert received.rcpt_tos == ["anna@example.org"]
    mail = received.parsed()
    assert "Here is the March report." in mail.get_body(("plain",)).get_content()
    [(filename, content)] = attachments_of(mail)
    assert filename == "march-report.csv"
    assert content == REPORT


async def test_a_reply_with_files_through_the_api(runtime, client, agent, relay):
    _, headers = agent
    conversation_id = await receive(runtime)
    response = await client.post(
        f"/api/conversations/{conversation_id}/messages/multipart", headers=headers,
        data={"kind": "reply", "text": "Both files attached."},
        files=[("attachments", ("a.bin", b"\x00\x01\x02" * 100, "application/octet-stream")),
               ("attachments", ("notes.txt", b"see a.bin\n", "text/plain"))])
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(a["filename"], a["size"]) for a in body["attachments"]] == [
        ("a.bin", 300), ("notes.txt", 10)]
    download = await client.get(body["attachments"][0]["url"], headers=headers)
    assert download.content == b"\x00\x01\x02" * 100
    await run_jobs(runtime)
    [received] = relay.accepted
    assert [name for name, _ in attachments_of(received.parsed())] == ["a.bin", "notes.txt"]
    assert received.parsed().get_content_type() == "multipart/mixed"


@pytest.mark.parametrize(("files", "says"), [
    ([("big.bin", b"x" * 4097)], "'big.bin' is larger than 4096 bytes"),
    ([("a.bin", b"x" * 4000), ("b.bin", b"y" * 4000)], "together are larger than 6144 bytes"),
    ([(f"{n}.txt", b"n") for n in range(4)], "at most 3 files"),
])
async def test_files_past_the_limits_are_refused_naming_the_field(
        runtime, client, agent, relay, files, says):
    _, headers = agent
    conversation_id = await receive(runtime)
    response = await client.post(
        f"/api/conversations/{conversation_id}/messages/multipart", headers=headers,
        data={"kind": "reply", "text": "Too much"},
        files=[("attachments", (name, content, "application/octet-stream"))
               for name, content in files])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "attachments"
    assert says in error["message"]
    detail = (await client.get(f"/api/conversations/{conversation_id}", headers=headers)).json()
    assert [m["direction"] for m in detail["messages"]] == ["inbound"]
    await run_jobs(runtime)
    assert relay.accepted == []


async def test_a_reply_without_files_through_the_multipart_route(runtime, client, agent):
    _, headers = agent
    conversation_id = await receive(runtime)
    response = await client.post(
        f"/api/conversations/{conversation_id}/messages/multipart", headers=headers,
        data={"kind": "comment", "text": "No files"})
    assert response.status_code == 201, response.text
    assert response.json()["attachments"] == []
    missing = await client.post(
        f"/api/conversations/{conversation_id}/messages/multipart", headers=headers,
        data={"kind": "reply"})
    assert missing.status_code == 422
    assert "text" in missing.text
