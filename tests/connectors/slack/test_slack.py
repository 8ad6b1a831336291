"""Slack both ways against a Web API double on loopback, with the real slack-sdk client and
events signed as Slack signs them. Runs on SQLite and, with FRONTDESK_TEST_DATABASE_URL and
FRONTDESK_TEST_REDIS_URL, on PostgreSQL with real arq workers."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import func, select

from audit.models import AuditEntry
from connectors.outbound import ReplyDelivery
from connectors.slack.models import SlackEvent, SlackWorkspace
from core import clock, outbox
from core.db import transaction
from inbox import service as inbox
from inbox.messages import Attachment
from inbox.models import Contact, Conversation, Message, MessageAttachment
from tests.connectors.slack.conftest import callback, connect, deliver, message, sign
from tests.connectors.slack.double import (
    BOT_ID,
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    TOKEN,
    SlackDouble,
)
from tests.support import run_jobs
from tickets.models import Ticket


async def rows(runtime, model, *where):
    async with transaction(runtime.sessions) as session:
        return list((await session.scalars(select(model).where(*where)
                                           .order_by(model.id))).all())


async def count(runtime, model) -> int:
    async with transaction(runtime.sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


# ---------------------------------------------------------------- the connection


async def test_connecting_checks_the_token_and_never_gives_a_secret_back(
        client, runtime, admin, agent, slack: SlackDouble, manual_clock):
    _, headers = admin
    bad = await client.put("/api/admin/slack", headers=headers, json={
        "bot_token": "xoxb-9999-wrong-token", "signing_secret": SIGNING_SECRET,
        "inbox": "support"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "bot_token"
    assert (await client.put("/api/admin/slack", headers=headers, json={
        "bot_token": "not-a-token", "signing_secret": SIGNING_SECRET, "inbox": "support"})
            ).status_code == 422
    assert (await client.put("/api/admin/slack", headers=headers, json={
        "bot_token": TOKEN, "signing_secret": SIGNING_SECRET, "inbox": "nowhere"})
            ).json()["error"]["field"] == "inbox"
    assert await count(runtime, SlackWorkspace) == 0
    assert (await client.put("/api/admin/slack", headers=agent[1], json={
        "bot_token": TOKEN, "signing_secret": SIGNING_SECRET, "inbox": "support"})
            ).status_code == 403
    view = await connect(client, headers)
    assert (view["team_id"], view["team_name"], view["bot_user_id"], view["inbox"]) == (
        TEAM, "Acme", BOT_USER, "support")
    assert view["channels"] == [{"id": "C0HELP01", "name": "help"}]
    shown = json.dumps([view, (await client.get("/api/admin/slack", headers=headers)).json()])
    assert TOKEN not in shown and SIGNING_SECRET not in shown
    [stored] = await rows(runtime, SlackWorkspace)
    assert TOKEN not in stored.bot_token and SIGNING_SECRET not in stored.signing_secret
    entries = await rows(runtime, AuditEntry, AuditEntry.subject_type == "slack")
    assert [e.action for e in entries] == ["slack.connected", "slack.channels"]
    assert entries[0].after["bot_token"] == "(set)"
    logged = json.dumps([(e.before, e.after, e.summary) for e in entries])
    assert TOKEN not in logged and SIGNING_SECRET not in logged
    assert [c.method for c in slack.calls] == ["auth.test", "auth.test", "conversations.info"]


async def test_channels_are_checked_with_slack(client, runtime, admin, slack):
    _, headers = admin
    await connect(client, headers)
    listed = (await client.get("/api/admin/slack/channels", headers=headers)).json()["items"]
    assert [(c["name"], c["connected"]) for c in listed] == [("help", True), ("random", False)]
    unknown = await client.put("/api/admin/slack/channels", headers=headers,
                               json={"channels": ["C0GONE99"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "channels"
    junk = await client.put("/api/admin/slack/channels", headers=headers,
                            json={"channels": ["<script>"]})
    assert junk.status_code == 422
    [workspace] = await rows(runtime, SlackWorkspace)
    assert workspace.channels == [{"id": "C0HELP01", "name": "help"}]


# ---------------------------------------------------------------- the events endpoint


async def test_only_signed_fresh_requests_are_taken(client, runtime, admin, slack,
                                                    manual_clock):
    await connect(client, admin[1])
    payload = callback(message("Hello", "1772442000.000100"))
    wrong = await deliver(client, payload, secret="0" * 32)
    stale = await deliver(client, payload, at=int(manual_clock().timestamp()) - 301)
    future = await deliver(client, payload, at=int(manual_clock().timestamp()) + 301)
    unsigned = await client.post("/slack/events", content=json.dumps(payload))
    assert [r.status_code for r in (wrong, stale, future, unsigned)] == [401] * 4
    assert await count(runtime, SlackEvent) == 0
    words = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    challenge = await deliver(client, {"type": "url_verification", "token": "x",
                                       "challenge": words})
    assert challenge.status_code == 200 and challenge.text == words
    good = await deliver(client, payload)
    assert good.status_code == 200 and good.json() == {"ok": True}
    assert await count(runtime, SlackEvent) == 1


async def test_bad_bodies_are_refused_and_nothing_is_stored(client, runtime, admin, slack,
                                                           manual_clock):
    body = json.dumps(callback(message("x", "1.1"))).encode()
    none_yet = await client.post("/slack/events", content=body, headers=sign(body))
    assert none_yet.status_code == 401  # no workspace: nothing to check the signature with
    await connect(client, admin[1])
    for raw in (b"{not json", b"[]", json.dumps({"type": "event_callback"}).encode()):
        response = await client.post("/slack/events", content=raw, headers=sign(raw))
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "bad_event"
    other_team = await deliver(client, callback(message("x", "1.1"), team="T0OTHER1"))
    assert other_team.status_code == 400
    assert other_team.json()["error"]["code"] == "unknown_team"
    huge = json.dumps(callback(message("x" * 600_000, "1.1"))).encode()
    assert (await client.post("/slack/events", content=huge, headers=sign(huge))
            ).status_code == 413
    assert await count(runtime, SlackEvent) == 0


async def test_a_replayed_event_is_stored_once_and_processed_once(
        client, runtime, admin, slack, manual_clock):
    await connect(client, admin[1])
    payload = callback(message("My order is late", "1772442000.000100"))
    first = await deliver(client, payload)
    await run_jobs(runtime)
    again = await deliver(client, payload, retry_num=1)
    assert (first.status_code, again.status_code) == (200, 200)
    await run_jobs(runtime)
    [event] = await rows(runtime, SlackEvent)
    assert (event.status, event.attempts) == ("processed", 1)
    assert await count(runtime, Message) == 1


async def test_a_retry_storm_of_one_event_makes_one_message(client, runtime, admin, slack,
                                                           manual_clock):
    await connect(client, admin[1])
    payload = callback(message("Checkout is broken", "1772442000.000100"))
    answers = await asyncio.gather(*(deliver(client, payload, retry_num=n % 3 or None)
                                     for n in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    await run_jobs(runtime)
    assert await count(runtime, SlackEvent) == 1
    assert await count(runtime, Message) == 1
    assert await count(runtime, Conversation) == 1


# ---------------------------------------------------------------- inbound


async def test_a_top_level_message_opens_a_conversation_and_its_thread_joins_it(
        client, runtime, admin, slack, manual_clock):
    await connect(client, admin[1])
    top = "1772442000.000100"
    await deliver(client, callback(message("Printer on fire\nIt smokes.", top)))
    await run_jobs(runtime)
    manual_clock.advance(timedelta(minutes=1))
    await deliver(client, callback(message("Still smoking", "1772442060.000200",
                                           thread_ts=top)))
    await deliver(client, callback(message("Unrelated question", "1772442061.000300",
                                           user="U0BOB002")))
    await run_jobs(runtime)
    conversations = await rows(runtime, Conversation)
    assert [(c.channel, c.subject, c.thread_key) for c in conversations] == [
        ("slack", "Printer on fire", f"slack:{TEAM}:C0HELP01:{top}"),
        ("slack", "Unrelated question", f"slack:{TEAM}:C0HELP01:1772442061.000300")]
    first = await rows(runtime, Message, Message.conversation_id == conversations[0].id)
    assert [(m.text, m.external_id) for m in first] == [
        ("Printer on fire\nIt smokes.", f"slack:{TEAM}:C0HELP01:{top}"),
        ("Still smoking", f"slack:{TEAM}:C0HELP01:1772442060.000200")]
    assert await count(runtime, Ticket) == 2
    [anna] = await rows(runtime, Contact, Contact.id == conversations[0].contact_id)
    assert (anna.name, anna.email) == ("Anna B", "anna@customer.example")
    [bob] = await rows(runtime, Contact, Contact.id == conversations[1].contact_id)
    assert (bob.name, bob.email) == ("Bob Ek", None)
    # users.info once per user: the second message of Anna read the cache.
    assert [c.params["user"] for c in slack.called("users.info")] == ["U0ANNA01", "U0BOB002"]
    view = (await client.get("/api/admin/slack", headers=admin[1])).json()
    assert view["last_event_at"] is not None


async def test_an_author_without_an_address_is_one_contact_across_conversations(
        client, runtime, admin, slack, manual_clock):
    await connect(client, admin[1])
    await deliver(client, callback(message("First", "1772442000.000100", user="U0BOB002")))
    await deliver(client, callback(message("Second", "1772442001.000100", user="U0BOB002")))
    await run_jobs(runtime)
    conversations = await rows(runtime, Conversation)
    assert len(conversations) == 2
    [bob] = await rows(runtime, Contact)
    assert (bob.name, bob.email) == ("Bob Ek", None)
    assert {c.contact_id for c in conversations} == {bob.id}


async def test_the_user_cache_expires(client, runtime, admin, slack, manual_clock):
    await connect(client, admin[1])
    await deliver(client, callback(message("one", "1772442000.000100")))
    await run_jobs(runtime)
    manual_clock.advance(timedelta(days=1, seconds=1))
    await deliver(client, callback(message("two", "1772528401.000100")))
    await run_jobs(runtime)
    assert len(slack.called("users.info")) == 2


async def test_bots_and_other_channels_and_events_are_ignored(client, runtime, admin, slack,
                                                             manual_clock):
    await connect(client, admin[1])
    for event in (message("from us", "1.1", user=BOT_USER),
                  message("from an app", "1.2", bot_id=BOT_ID),
                  message("an app user", "1.3", user="U0HOOK01"),
                  message("elsewhere", "1.4", channel="C0RAND02"),
                  message("joined", "1.5", subtype="channel_join"),
                  {"type": "reaction_added", "user": "U0ANNA01", "reaction": "+1"}):
        assert (await deliver(client, callback(event))).status_code == 200
    await run_jobs(runtime)
    events = await rows(runtime, SlackEvent)
    assert [(e.status, e.error) for e in events] == [
        ("ignored", "a bot's message"), ("ignored", "a bot's message"),
        ("ignored", "a bot's message"), ("ignored", "the channel is not connected"),
        ("ignored", "message subtype channel_join is not handled"),
        ("ignored", "event type reaction_added is not handled")]
    assert events[-1].event_type == "reaction_added"
    assert await count(runtime, Message) == 0


async def test_edits_and_deletions_show_in_the_conversation(client, runtime, admin, slack,
                                                           manual_clock):
    await connect(client, admin[1])
    ts = "1772442000.000100"
    await deliver(client, callback(message("Order 1234 is late", ts)))
    await run_jobs(runtime)
    await deliver(client, callback(message(
        "", "1772442001.000000", subtype="message_changed",
        message={"type": "message", "user": "U0ANNA01", "text": "Order 1243 is late",
                 "ts": ts}, previous_message={"text": "Order 1234 is late", "ts": ts})))
    await run_jobs(runtime)
    [held] = await rows(runtime, Message)
    assert held.text == "Order 1243 is late\n\n(edited)"
    assert held.meta["edited_in"] == "slack"
    await deliver(client, callback(message("", "1772442002.000000",
                                           subtype="message_deleted", deleted_ts=ts)))
    await run_jobs(runtime)
    [held] = await rows(runtime, Message)
    assert held.text == "(This message was deleted in Slack.)"
    assert held.meta["deleted_in"] == "slack"
    assert await count(runtime, Message) == 1


async def test_files_arrive_as_attachments(client, runtime, admin, slack, manual_clock):
    await connect(client, admin[1])
    slack.files["shot.png"] = b"\x89PNG-bytes"
    event = message("See the screenshot", "1772442000.000100", subtype="file_share", files=[
        {"id": "F1", "name": "shot.png", "mimetype": "image/png", "size": 10,
         "url_private": slack.file_url("shot.png")},
        {"id": "F2", "name": "huge.bin", "mimetype": "application/octet-stream",
         "size": 10**9, "url_private": slack.file_url("huge.bin")},
        {"id": "F3", "name": "elsewhere.txt", "mimetype": "text/plain", "size": 3,
         "url_private": "https://attacker.example/steal"}])
    await deliver(client, callback(event))
    await run_jobs(runtime)
    [event_row] = await rows(runtime, SlackEvent)
    # A file at an address that is not Slack's never gets the token: processing fails.
    assert event_row.status == "failed" and "not a Slack file address" in event_row.error
    assert all(c.token == f"Bearer {TOKEN}" for c in slack.called("file"))
    event["files"].pop()
    await deliver(client, callback(event))
    await run_jobs(runtime)
    [message_row] = await rows(runtime, Message)
    [attachment] = await rows(runtime, MessageAttachment)
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "shot.png", "image/png", 10)
    assert message_row.truncated[0]["names"] == ["huge.bin"]
    assert [c.params["name"] for c in slack.called("file")] == ["shot.png", "shot.png"]


async def test_a_failed_event_waits_for_an_admins_retry(client, runtime, admin, slack,
                                                       manual_clock):
    _, headers = admin
    await connect(client, headers)
    slack.failing.add("users.info")
    await deliver(client, callback(message("Hello?", "1772442000.000100")))
    await run_jobs(runtime)
    [failed] = (await client.get("/api/admin/slack/events", headers=headers)).json()["items"]
    assert failed["status"] == "failed" and "fatal_error" in failed["error"]
    assert (await client.get("/api/admin/slack", headers=headers)).json()["failed_events"] == 1
    assert await count(runtime, Message) == 0
    slack.failing.clear()
    retried = await client.post(f"/api/admin/slack/events/{failed['id']}/retry",
                                headers=headers)
    assert retried.status_code == 202
    await run_jobs(runtime)
    assert (await client.post(f"/api/admin/slack/events/{failed['id']}/retry",
                              headers=headers)).status_code == 409
    [event] = await rows(runtime, SlackEvent)
    assert event.status == "processed"
    assert await count(runtime, Message) == 1


# ---------------------------------------------------------------- outbound


async def _opened(client, runtime, admin) -> tuple[int, str]:
    await connect(client, admin[1])
    top = "1772442000.000100"
    await deliver(client, callback(message("Can you help?", top)))
    await run_jobs(runtime)
    [conversation] = await rows(runtime, Conversation)
    return conversation.id, top


async def test_an_agent_reply_is_posted_in_the_thread_and_comments_stay(
        client, runtime, admin, slack, manual_clock):
    conversation_id, top = await _opened(client, runtime, admin)
    comment = await client.post(f"/api/conversations/{conversation_id}/messages",
                                headers=admin[1], json={"kind": "comment",
                                                        "text": "Internal: VIP customer"})
    reply = await client.post(f"/api/conversations/{conversation_id}/messages",
                              headers=admin[1], json={"kind": "reply",
                                                      "text": "On it <@channel> & more"})
    assert (comment.status_code, reply.status_code) == (201, 201)
    await run_jobs(runtime)
    [posted] = slack.posted
    assert (posted.params["channel"], posted.params["thread_ts"]) == ("C0HELP01", top)
    assert posted.params["text"] == "On it &lt;@channel&gt; &amp; more"
    assert posted.token == TOKEN
    [sent] = await rows(runtime, Message, Message.id == reply.json()["id"])
    assert sent.delivery_status == "sent"
    posted_ts = slack.threads[("C0HELP01", top)][0]["ts"]
    assert sent.external_id == f"slack:{TEAM}:C0HELP01:{posted_ts}"
    assert "VIP" not in json.dumps([c.params for c in slack.calls])
    # Our own reply comes back as an event: it is the bot's, and ignored.
    echo = slack.threads[("C0HELP01", top)][0]
    await deliver(client, callback(message(echo["text"], echo["ts"], user=BOT_USER,
                                           thread_ts=top, bot_id=BOT_ID)))
    await run_jobs(runtime)
    assert await count(runtime, Message) == 3


async def test_a_reply_under_a_rate_limit_is_posted_once_after_retry_after(
        client, runtime, admin, slack):
    # The clock starts at the real now: arq's deferred jobs are timed by Redis's clock.
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conversation_id, top = await _opened(client, runtime, admin)
        slack.rate_limited, slack.retry_after = 1, 30
        reply = await client.post(f"/api/conversations/{conversation_id}/messages",
                                  headers=admin[1], json={"kind": "reply", "text": "Looking"})
        await run_jobs(runtime)
        assert len(slack.called("chat.postMessage")) == 1 and slack.posted == []
        [waiting] = await rows(runtime, Message, Message.id == reply.json()["id"])
        assert waiting.delivery_status == "retrying"
        manual.advance(timedelta(seconds=29))
        assert await outbox.sweep({"runtime": runtime}) == 0
        await run_jobs(runtime)
        assert slack.posted == []
        manual.advance(timedelta(seconds=2))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)
    assert len(slack.posted) == 1 and len(slack.called("chat.postMessage")) == 2
    [sent] = await rows(runtime, Message, Message.id == reply.json()["id"])
    assert sent.delivery_status == "sent" and sent.external_id


async def test_a_reply_posted_before_a_crash_is_not_posted_again(
        client, runtime, admin, slack, manual_clock):
    """The post happened but its ts was never recorded (the worker stopped): sending
    again finds the reply in the thread by its metadata and records it instead."""
    conversation_id, top = await _opened(client, runtime, admin)
    async with transaction(runtime.sessions) as session:
        reply = await inbox.add_agent_message(session, conversation_id, author_id=admin[0],
                                              kind="reply", text="Fixed now")
    ts = "1772443000.000900"
    slack.threads[("C0HELP01", top)] = [{
        "type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts, "text": "Fixed now",
        "metadata": {"event_type": "frontdesk_reply",
                     "event_payload": {"message_id": reply.id}}}]
    outcome = await ReplyDelivery().deliver({"runtime": runtime}, {"message_id": reply.id})
    assert outcome.result == "sent"
    assert slack.posted == []
    [held] = await rows(runtime, Message, Message.id == reply.id)
    assert held.external_id == f"slack:{TEAM}:C0HELP01:{ts}"
    again = await ReplyDelivery().deliver({"runtime": runtime}, {"message_id": reply.id})
    assert again.result == "sent" and slack.posted == []


async def _reply_with_files(runtime, admin, conversation_id: int) -> int:
    async with transaction(runtime.sessions) as session:
        reply = await inbox.add_agent_message(
            session, conversation_id, author_id=admin[0], kind="reply", text="See attached",
            attachments=[Attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice"),
                         Attachment("photo.png", "image/png", b"\x89PNG photo")])
    return reply.id


def _shared_names(slack: SlackDouble, top: str) -> list[list[str]]:
    return [[f["name"] for f in m["files"]] for m in slack.threads[("C0HELP01", top)]
            if m.get("files")]


async def test_a_reply_with_files_shares_them_in_the_thread_once(
        client, runtime, admin, slack, manual_clock):
    conversation_id, top = await _opened(client, runtime, admin)
    reply_id = await _reply_with_files(runtime, admin, conversation_id)
    await run_jobs(runtime)
    [posted] = slack.posted
    assert posted.params["text"] == "See attached"
    [shared] = slack.shared
    assert (shared.params["channel_id"], shared.params["thread_ts"]) == ("C0HELP01", top)
    assert sorted(slack.uploads.values()) == [b"%PDF-1.4 invoice", b"\x89PNG photo"]
    assert _shared_names(slack, top) == [["invoice.pdf", "photo.png"]]
    [sent] = await rows(runtime, Message, Message.id == reply_id)
    assert sent.delivery_status == "sent"
    assert sent.meta["slack_files"] == {"ids": sorted(slack.uploads), "shared": True}
    # Delivered again (the outbox retried after a crash before it marked the row done):
    again = await ReplyDelivery().deliver({"runtime": runtime}, {"message_id": reply_id})
    assert again.result == "sent"
    assert (len(slack.posted), len(slack.shared)) == (1, 1)
    assert len(slack.called("files.getUploadURLExternal")) == 2


async def test_files_shared_before_a_crash_are_not_shared_again(
        client, runtime, admin, slack, manual_clock):
    """The upload was completed but that was never recorded: sending again finds the
    files in the thread and records it instead."""
    conversation_id, top = await _opened(client, runtime, admin)
    reply_id = await _reply_with_files(runtime, admin, conversation_id)
    await run_jobs(runtime)
    [held] = await rows(runtime, Message, Message.id == reply_id)
    async with transaction(runtime.sessions) as session:
        await inbox.add_message_meta(session, reply_id, "slack_files",
                                     {**held.meta["slack_files"], "shared": False})
    outcome = await ReplyDelivery().deliver({"runtime": runtime}, {"message_id": reply_id})
    assert outcome.result == "sent"
    assert len(slack.shared) == 1 and _shared_names(slack, top) == [["invoice.pdf",
                                                                        "photo.png"]]
    [held] = await rows(runtime, Message, Message.id == reply_id)
    assert held.meta["slack_files"]["shared"] is True


async def test_files_under_a_rate_limit_are_shared_once_after_retry_after(
        client, runtime, admin, slack):
    manual = clock.ManualClock(clock.now())
    with clock.use(manual):
        conversation_id, top = await _opened(client, runtime, admin)
        slack.limited_methods = {"files.completeUploadExternal"}
        slack.rate_limited, slack.retry_after = 1, 20
        reply_id = await _reply_with_files(runtime, admin, conversation_id)
        await run_jobs(runtime)
        assert len(slack.posted) == 1 and slack.shared == []
        [waiting] = await rows(runtime, Message, Message.id == reply_id)
        assert waiting.delivery_status == "retrying"
        assert waiting.meta["slack_files"]["shared"] is False
        manual.advance(timedelta(seconds=19))
        assert await outbox.sweep({"runtime": runtime}) == 0
        manual.advance(timedelta(seconds=2))
        assert await outbox.sweep({"runtime": runtime}) == 1
        await run_jobs(runtime)
    assert len(slack.posted) == 1 and len(slack.shared) == 1
    assert len(slack.called("files.completeUploadExternal")) == 2
    # The files were uploaded once: the retry completed the upload it had recorded.
    assert len(slack.called("files.getUploadURLExternal")) == 2 and len(slack.uploads) == 2
    assert _shared_names(slack, top) == [["invoice.pdf", "photo.png"]]
    [sent] = await rows(runtime, Message, Message.id == reply_id)
    assert sent.delivery_status == "sent"
