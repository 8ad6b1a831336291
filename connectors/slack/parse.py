"""What a Slack event means for the inbox: pure decisions, plain values in and out.

No database, no network, no clock. `classify(body, facts)` reads one stored
`event_callback` and says what to do with it: a new customer message (`Post`), an edit
(`Edit`), a deletion (`Delete`) or nothing (`Ignore`, with the reason kept on the event).
The ids: a message is `slack:{team}:{channel}:{ts}`; a conversation is its Slack thread,
`slack:{team}:{channel}:{thread_ts}` (a top-level message's own ts starts the thread).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

SUBJECT_CHARS = 80
"""A conversation's subject: the first line of its first message, cut to this."""
HANDLED_SUBTYPES = frozenset({"", "file_share", "thread_broadcast"})
"""Message subtypes a person writes; every other one (joins, topic changes...) is ignored."""


def message_key(team: str, channel: str, ts: str) -> str:
    """The external id of the message `ts` in `channel` of `team`."""
    return f"slack:{team}:{channel}:{ts}"


def thread_key(team: str, channel: str, thread_ts: str) -> str:
    """The thread key (and conversation) of the Slack thread `thread_ts`."""
    return f"slack:{team}:{channel}:{thread_ts}"


def parse_thread_key(key: str | None) -> tuple[str, str, str] | None:
    """(team, channel, thread_ts) of a Slack thread key; None for anything else."""
    parts = (key or "").split(":")
    if len(parts) != 4 or parts[0] != "slack" or not all(parts[1:]):
        return None
    return parts[1], parts[2], parts[3]


@dataclass(frozen=True)
class File:
    """A file shared with a message, as the event names it (downloaded later)."""

    id: str
    name: str
    mimetype: str
    size: int
    url: str


@dataclass(frozen=True)
class Post:
    """A person's message in a connected channel: opens a conversation (top level) or
    joins its thread's."""

    team: str
    channel: str
    ts: str
    thread_ts: str
    user: str
    text: str
    files: tuple[File, ...] = field(default_factory=tuple)

    @property
    def top_level(self) -> bool:
        return self.thread_ts == self.ts

    @property
    def external_id(self) -> str:
        return message_key(self.team, self.channel, self.ts)

    @property
    def thread(self) -> str:
        return thread_key(self.team, self.channel, self.thread_ts)


@dataclass(frozen=True)
class Edit:
    """The message `ts` was edited in Slack; `text` is what it says now."""

    team: str
    channel: str
    ts: str
    text: str

    @property
    def external_id(self) -> str:
        return message_key(self.team, self.channel, self.ts)


@dataclass(frozen=True)
class Delete:
    """The message `ts` was deleted in Slack."""

    team: str
    channel: str
    ts: str

    @property
    def external_id(self) -> str:
        return message_key(self.team, self.channel, self.ts)


@dataclass(frozen=True)
class Ignore:
    reason: str


Action = Post | Edit | Delete | Ignore


@dataclass(frozen=True)
class Facts:
    """What classifying needs to know of the workspace."""

    team_id: str
    bot_user_id: str
    bot_id: str
    channels: frozenset[str]


class EventError(ValueError):
    """The request is not an Events API payload we can store (a 400)."""


@dataclass(frozen=True)
class Envelope:
    """The outer fields of an Events API request."""

    type: str
    team_id: str = ""
    event_id: str = ""
    event_type: str = ""
    challenge: str = ""


def envelope(body: Any) -> Envelope:
    """The outer fields of a decoded request body; EventError naming what is missing."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise EventError("the body is not an Events API payload")
    kind = body["type"]
    if kind == "url_verification":
        challenge = body.get("challenge")
        if not isinstance(challenge, str) or not challenge or len(challenge) > 1000:
            raise EventError("url_verification without a challenge")
        return Envelope(kind, challenge=challenge)
    if kind != "event_callback":
        return Envelope(kind, team_id=_text(body.get("team_id")))
    event = body.get("event")
    event_id, team_id = body.get("event_id"), body.get("team_id")
    if not (isinstance(event, dict) and _short_id(event_id, 64) and _short_id(team_id, 32)):
        raise EventError("event_callback needs event_id, team_id and event")
    return Envelope(kind, team_id=str(team_id), event_id=str(event_id),
                    event_type=_text(event.get("type"))[:64])


def _short_id(value: Any, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def classify(body: dict[str, Any], facts: Facts) -> Action:
    """What the stored `event_callback` `body` asks of the inbox, by these rules:
    only `message` events of the workspace in a connected channel count; the bot's own
    messages and every other bot's are ignored, and so are subtypes no person writes;
    `message_changed` is an `Edit`, `message_deleted` a `Delete`; a message without a
    user or a ts is ignored."""
    event = body.get("event")
    if not isinstance(event, dict):
        return Ignore("no event")
    if body.get("team_id") != facts.team_id:
        return Ignore("another workspace")
    kind = _text(event.get("type"))
    if kind != "message":
        return Ignore(f"event type {kind or '(none)'} is not handled")
    channel = _text(event.get("channel"))
    if channel not in facts.channels:
        return Ignore("the channel is not connected")
    subtype = _text(event.get("subtype"))
    if subtype == "message_changed":
        return _edit(facts, channel, event)
    if subtype == "message_deleted":
        ts = _text(event.get("deleted_ts"))
        return Delete(facts.team_id, channel, ts) if ts else Ignore("deleted without a ts")
    if _from_a_bot(event, facts):
        return Ignore("a bot's message")
    if subtype not in HANDLED_SUBTYPES:
        return Ignore(f"message subtype {subtype} is not handled")
    user, ts = _text(event.get("user")), _text(event.get("ts"))
    if not user or not ts:
        return Ignore("a message without a user or ts")
    thread_ts = _text(event.get("thread_ts")) or ts
    return Post(facts.team_id, channel, ts, thread_ts, user,
                plain_text(_text(event.get("text"))), _files(event.get("files")))


def _from_a_bot(event: dict[str, Any], facts: Facts) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message" or (
        bool(facts.bot_user_id) and event.get("user") == facts.bot_user_id)


def _edit(facts: Facts, channel: str, event: dict[str, Any]) -> Action:
    changed = event.get("message")
    if not isinstance(changed, dict) or not _text(changed.get("ts")):
        return Ignore("message_changed without the message")
    if _from_a_bot(changed, facts):
        return Ignore("a bot's message")
    previous = event.get("previous_message")
    new_text = plain_text(_text(changed.get("text")))
    if isinstance(previous, dict) and plain_text(_text(previous.get("text"))) == new_text:
        return Ignore("changed without a change of text (an unfurl, a reply count)")
    return Edit(facts.team_id, channel, _text(changed["ts"]), new_text)


def _files(value: Any) -> tuple[File, ...]:
    if not isinstance(value, list):
        return ()
    files = []
    for item in value:
        if not isinstance(item, dict):
            continue
        url = _text(item.get("url_private_download")) or _text(item.get("url_private"))
        size = item.get("size")
        if not url or not isinstance(size, int):
            continue
        files.append(File(_text(item.get("id")), _text(item.get("name")) or "file",
                          _text(item.get("mimetype")) or "application/octet-stream", size, url))
    return tuple(files)


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(mrkdwn: str) -> str:
    """Slack's message text as plain text: `<url|label>` becomes `label (url)`, a bare
    `<url>` the url, mentions stay as Slack writes them (`@U123`), entities unescaped, NUL
    characters (which no text column holds) dropped."""
    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")):
            return label or target
        return f"{label} ({target})" if label and label != target else target
    return html.unescape(_LINK.sub(link, mrkdwn)).replace("\x00", "")


def subject_of(text: str, files: tuple[File, ...] = ()) -> str:
    """A conversation's subject from its first message: the first line that says
    something, cut to SUBJECT_CHARS; the first file's name for a message of files alone."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= SUBJECT_CHARS else line[:SUBJECT_CHARS - 1] + "…"
    return files[0].name if files else "Slack message"


def mrkdwn_escape(text: str) -> str:
    """An agent's plain text as Slack message text: `&`, `<` and `>` escaped, so nothing
    becomes a link, a mention or a broadcast Slack would act on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
