"""The pure part of the Slack connector, as tables: what an event means for the inbox."""

from __future__ import annotations

import pytest

from connectors.slack import parse
from connectors.slack.parse import Delete, Edit, Facts, Ignore, Post

FACTS = Facts("T1", "UBOT", "BBOT", frozenset({"C1"}))


def body(event: dict, team: str = "T1") -> dict:
    return {"type": "event_callback", "team_id": team, "event_id": "Ev1", "event": event}


def msg(**fields: object) -> dict:
    return {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.1",
            **fields}


@pytest.mark.parametrize(("event", "team", "expected"), [
    (msg(), "T1", Post("T1", "C1", "1.1", "1.1", "U1", "hi")),
    (msg(thread_ts="1.0"), "T1", Post("T1", "C1", "1.1", "1.0", "U1", "hi")),
    (msg(text="a &lt;b&gt; <https://x.example|site> <@U9>"), "T1",
     Post("T1", "C1", "1.1", "1.1", "U1", "a <b> site (https://x.example) @U9")),
    (msg(text="a\x00b"), "T1", Post("T1", "C1", "1.1", "1.1", "U1", "ab")),
    (msg(), "T2", Ignore("another workspace")),
    (msg(channel="C2"), "T1", Ignore("the channel is not connected")),
    (msg(bot_id="B7"), "T1", Ignore("a bot's message")),
    (msg(user="UBOT"), "T1", Ignore("a bot's message")),
    (msg(subtype="bot_message"), "T1", Ignore("a bot's message")),
    (msg(subtype="channel_join"), "T1", Ignore("message subtype channel_join is not handled")),
    ({"type": "reaction_added", "user": "U1"}, "T1",
     Ignore("event type reaction_added is not handled")),
    (msg(subtype="message_changed", message={"ts": "1.1", "user": "U1", "text": "new"},
         previous_message={"ts": "1.1", "text": "old"}), "T1", Edit("T1", "C1", "1.1", "new")),
    (msg(subtype="message_changed", message={"ts": "1.1", "user": "U1", "text": "same"},
         previous_message={"ts": "1.1", "text": "same"}), "T1",
     Ignore("changed without a change of text (an unfurl, a reply count)")),
    (msg(subtype="message_changed", message={"ts": "1.1", "bot_id": "BBOT", "text": "x"}),
     "T1", Ignore("a bot's message")),
    (msg(subtype="message_deleted", deleted_ts="1.1"), "T1", Delete("T1", "C1", "1.1")),
    (msg(user=""), "T1", Ignore("a message without a user or ts")),
])
def test_classify(event: dict, team: str, expected: object) -> None:
    assert parse.classify(body(event, team), FACTS) == expected


def test_files_are_named_with_their_private_url() -> None:
    event = msg(subtype="file_share", files=[
        {"id": "F1", "name": "a.png", "mimetype": "image/png", "size": 3,
         "url_private": "https://files.slack.com/a.png"},
        {"id": "F2", "name": "no-url", "size": 1}, "junk"])
    post = parse.classify(body(event), FACTS)
    assert isinstance(post, Post)
    assert post.files == (parse.File("F1", "a.png", "image/png", 3,
                                     "https://files.slack.com/a.png"),)


@pytest.mark.parametrize(("payload", "expected"), [
    ({"type": "url_verification", "challenge": "abc"},
     parse.Envelope("url_verification", challenge="abc")),
    ({"type": "event_callback", "team_id": "T1", "event_id": "Ev1",
      "event": {"type": "message"}},
     parse.Envelope("event_callback", team_id="T1", event_id="Ev1", event_type="message")),
    ({"type": "app_rate_limited", "team_id": "T1"},
     parse.Envelope("app_rate_limited", team_id="T1")),
])
def test_envelope(payload: dict, expected: parse.Envelope) -> None:
    assert parse.envelope(payload) == expected


@pytest.mark.parametrize("payload", [
    [], "x", {}, {"type": 3}, {"type": "url_verification"},
    {"type": "event_callback", "team_id": "T1", "event": {}},
    {"type": "event_callback", "team_id": "T1", "event_id": "x" * 65, "event": {}},
    {"type": "event_callback", "team_id": 5, "event_id": "Ev1", "event": {}},
])
def test_envelope_refuses(payload: object) -> None:
    with pytest.raises(parse.EventError):
        parse.envelope(payload)


@pytest.mark.parametrize(("key", "expected"), [
    ("slack:T1:C1:1.5", ("T1", "C1", "1.5")), ("slack:T1:C1", None), (None, None),
    ("chat:T1:C1:1.5", None), ("slack:T1::1.5", None),
])
def test_parse_thread_key(key: str | None, expected: object) -> None:
    assert parse.parse_thread_key(key) == expected


@pytest.mark.parametrize(("text", "files", "subject"), [
    ("\n  Printer on fire\nmore", (), "Printer on fire"),
    ("x" * 100, (), "x" * 79 + "…"),
    ("", (parse.File("F", "shot.png", "image/png", 1, "u"),), "shot.png"),
    ("", (), "Slack message"),
])
def test_subject(text: str, files: tuple, subject: str) -> None:
    assert parse.subject_of(text, files) == subject


def test_mrkdwn_escape_makes_no_mentions() -> None:
    assert parse.mrkdwn_escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
