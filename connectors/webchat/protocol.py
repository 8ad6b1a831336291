"""The chat widget's socket protocol, without I/O: frames in, actions out.

A visitor's widget opens `/chat/socket?inbox=<slug>` (a websocket; text frames of JSON
objects). The Origin of the page must be on the inbox's allow-list, else the socket is
closed with 4403 before anything is read.

    widget -> server
      {"type": "hello", "token": T | null, "last_seq": N}
                        first and once: resume the session of token T (none: a new visitor)
                        and send every message after sequence number N
      {"type": "message", "client_id": C, "text": S}
                        a message of the visitor; C (1-64 printable characters) names it:
                        sent again (after a lost ack), it is acked again and stored once
      {"type": "details", "name": S | null, "email": S | null}
                        the visitor's name and email address (before or during the chat)
      {"type": "typing"}                      the visitor is typing
      {"type": "read", "seq": N}              the visitor has seen everything up to N
    server -> widget
      {"type": "welcome", "token": T, "conversation": id | null, "seq": N, "open": bool,
       "ask": "no" | "optional" | "yes", "greeting": S, "name": S, "email": S | null}
                        the answer to hello (again when the first message opens the
                        conversation: keep the new token). `open` false: outside office
                        hours, offer a "leave a message" form (sent as details + message)
      {"type": "message", "seq": N, "author": "visitor" | "agent", "name": S,
       "text": S, "at": ISO time, "client_id": C | null}
                        one message of the conversation (agents' internal comments never)
      {"type": "ack", "client_id": C, "seq": N}
                        message C is committed with sequence number N (its message frame
                        came first)
      {"type": "typing", "name": S}           an agent is writing a reply
      {"type": "agent_joined", "name": S}     an agent opened the conversation
      {"type": "closed"}                      the conversation was closed
      {"type": "error", "code": S, "message": S}
                        a mistake the visitor can fix (the socket stays open)

Sequence numbers count the messages of one conversation the visitor sees, from 1, in the
order they were committed. The server sends message frames in that order without gaps,
each once per socket, starting after the hello's `last_seq`; the widget keeps the last one
it got and sends it in its next hello, so a reconnect loses nothing and repeats nothing.

The server closes the socket with a code saying why: 1003 a binary frame, 1007 text that
is not a JSON object, 1008 a frame the protocol does not know, out of order (anything
before hello, a second hello) or with a bad field, 1009 a frame over MAX_FRAME_CHARS or a
text over MAX_TEXT_CHARS, 4401 a token that is not valid (forged, expired, of another
inbox: start again without it), 4403 an Origin the inbox does not allow (or chat is off),
4429 too many messages or new conversations (wait, then reconnect), 1013 the server is
going away (reconnect).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

MAX_FRAME_CHARS = 16_384
MAX_TEXT_CHARS = 4_000
MAX_CLIENT_ID = 64
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254
TYPING_EVERY = timedelta(seconds=3)
"""A visitor's typing is told to the agents at most this often."""
REMEMBERED_ACKS = 256

CLOSE_BINARY = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_BAD_TOKEN = 4401
CLOSE_ORIGIN = 4403
CLOSE_RATE_LIMITED = 4429

Ask = Literal["no", "optional", "yes"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"[^\s@<>()\[\]\\,;:\"]+@[^\s@<>()\[\]\\,;:\"]+\.[^\s@<>()\[\]\\,;:\".]+")


# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class Send:
    """Send this frame to the widget."""

    frame: dict[str, Any]


@dataclass(frozen=True)
class Close:
    """Close the socket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Resume:
    """Check `token` (None: a new visitor) and answer with `welcomed`, then send the
    messages after `last_seq` (`deliver`)."""

    token: str | None
    last_seq: int


@dataclass(frozen=True)
class Store:
    """Commit the visitor's message `text` named `client_id`, then call `stored`."""

    client_id: str
    text: str


@dataclass(frozen=True)
class SaveDetails:
    """Keep the visitor's name and email (None: not given)."""

    name: str | None
    email: str | None


@dataclass(frozen=True)
class Typing:
    """Tell the agents who see the conversation that the visitor is typing."""


@dataclass(frozen=True)
class MarkRead:
    """The visitor has seen the messages up to `seq`."""

    seq: int


Action = Send | Close | Resume | Store | SaveDetails | Typing | MarkRead


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation as the visitor sees it."""

    seq: int
    author: Literal["visitor", "agent"]
    name: str
    text: str
    at: datetime
    client_id: str | None = None

    def frame(self) -> dict[str, Any]:
        return {"type": "message", "seq": self.seq, "author": self.author, "name": self.name,
                "text": self.text, "at": self.at.isoformat(), "client_id": self.client_id}


@dataclass(frozen=True)
class Welcome:
    """What the server answers a hello with."""

    token: str
    conversation: int | None
    seq: int
    open: bool
    ask: Ask
    greeting: str
    name: str
    email: str | None = None

    def frame(self) -> dict[str, Any]:
        return {"type": "welcome", "token": self.token, "conversation": self.conversation,
                "seq": self.seq, "open": self.open, "ask": self.ask,
                "greeting": self.greeting, "name": self.name, "email": self.email}


# ---------------------------------------------------------------- pure checks


def clean_text(text: str) -> str:
    """A visitor's text as mail text is kept: line ends as \\n, no NUL or other control
    characters (tabs and line ends stay), trimmed."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def clean_name(name: str | None) -> str | None:
    """A name on one line, spaces collapsed; None when empty."""
    if name is None:
        return None
    collapsed = " ".join(_CONTROL.sub("", name).split())
    return collapsed or None


def clean_email(email: str | None) -> str | None:
    """An email address, lower-cased; None when empty; ValueError when it is none."""
    if email is None or not email.strip():
        return None
    value = email.strip().lower()
    if len(value) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(value):
        raise ValueError("that is not an email address")
    return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _optional_text(frame: dict[str, Any], key: str) -> tuple[bool, str | None]:
    value = frame.get(key)
    return (value is None or isinstance(value, str)), value


# ---------------------------------------------------------------- the machine


class ChatProtocol:
    """One widget's socket: what to do for what arrives.

    States: `new` (waiting for hello) -> `resuming` (the driver checks the token) ->
    `open` -> `closed`. `sent_seq` is the last sequence number sent to the widget."""

    def __init__(self) -> None:
        self.state: Literal["new", "resuming", "open", "closed"] = "new"
        self.sent_seq = 0
        self.read_seq = 0
        self.conversation: int | None = None
        self._typing_told: datetime | None = None
        self._acked: OrderedDict[str, int] = OrderedDict()
        self._agents_joined: set[int] = set()

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    # ---- frames from the widget

    def received(self, data: str | bytes, now: datetime) -> list[Action]:
        """The actions for one frame from the widget, received at `now`."""
        if self.closed:
            return []
        if isinstance(data, bytes):
            return self._close(CLOSE_BINARY, "text frames only")
        if len(data) > MAX_FRAME_CHARS:
            return self._close(CLOSE_TOO_BIG, f"frames are at most {MAX_FRAME_CHARS} characters")
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            return self._close(CLOSE_INVALID, "frames are JSON objects")
        if not isinstance(frame, dict):
            return self._close(CLOSE_INVALID, "frames are JSON objects")
        return self._frame(frame, now)

    def _frame(self, frame: dict[str, Any], now: datetime) -> list[Action]:
        kind = frame.get("type")
        if self.state == "new":
            if kind != "hello":
                return self._close(CLOSE_POLICY, "hello first")
            return self._hello(frame)
        if self.state == "resuming" or kind == "hello":
            return self._close(CLOSE_POLICY, "one hello, then wait for welcome")
        if kind == "typing":
            return self._typing(now)
        handlers = {"message": self._message, "details": self._details, "read": self._read}
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return self._close(CLOSE_POLICY, f"unknown frame type {kind!r}")
        return handler(frame)

    def _hello(self, frame: dict[str, Any]) -> list[Action]:
        token, last_seq = frame.get("token"), frame.get("last_seq", 0)
        if token is not None and (not isinstance(token, str) or not 0 < len(token) <= 512):
            return self._close(CLOSE_POLICY, "token must be a string")
        if not _is_count(last_seq):
            return self._close(CLOSE_POLICY, "last_seq must be a number from 0")
        self.state = "resuming"
        return [Resume(token, last_seq)]

    def _message(self, frame: dict[str, Any]) -> list[Action]:
        client_id, text = frame.get("client_id"), frame.get("text")
        if (not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID
                or not client_id.isprintable()):
            return self._close(CLOSE_POLICY,
                               f"client_id must be 1 to {MAX_CLIENT_ID} printable characters")
        if not isinstance(text, str):
            return self._close(CLOSE_POLICY, "text must be a string")
        if len(text) > MAX_TEXT_CHARS:
            return self._close(CLOSE_TOO_BIG, f"messages are at most {MAX_TEXT_CHARS} characters")
        if client_id in self._acked:
            return [Send({"type": "ack", "client_id": client_id,
                          "seq": self._acked[client_id]})]
        cleaned = clean_text(text)
        if not cleaned:
            return [Send({"type": "error", "code": "empty", "message": "write a message first"})]
        return [Store(client_id, cleaned)]

    def _details(self, frame: dict[str, Any]) -> list[Action]:
        name_ok, name = _optional_text(frame, "name")
        email_ok, email = _optional_text(frame, "email")
        if not name_ok or not email_ok:
            return self._close(CLOSE_POLICY, "name and email must be strings or null")
        if (name and len(name) > MAX_NAME_CHARS) or (email and len(email) > MAX_EMAIL_CHARS):
            return self._close(CLOSE_TOO_BIG, "name or email too long")
        try:
            cleaned_email = clean_email(email)
        except ValueError as exc:
            return [Send({"type": "error", "code": "invalid_email", "message": str(exc)})]
        return [SaveDetails(clean_name(name), cleaned_email)]

    def _typing(self, now: datetime) -> list[Action]:
        if self._typing_told is not None and now - self._typing_told < TYPING_EVERY:
            return []
        self._typing_told = now
        return [Typing()]

    def _read(self, frame: dict[str, Any]) -> list[Action]:
        seq = frame.get("seq")
        if not isinstance(seq, int) or not _is_count(seq) or seq > self.sent_seq:
            return self._close(CLOSE_POLICY, "seq must be one the server sent")
        if seq <= self.read_seq:
            return []
        self.read_seq = seq
        return [MarkRead(seq)]

    def _close(self, code: int, reason: str) -> list[Action]:
        self.state = "closed"
        return [Close(code, reason)]

    # ---- what the driver learnt

    def welcomed(self, welcome: Welcome, last_seq: int) -> list[Action]:
        """The session is known: greet the widget; messages after `last_seq` (at most the
        conversation's newest) follow through `deliver`."""
        if self.closed:
            return []
        self.state = "open"
        self.conversation = welcome.conversation
        self.sent_seq = min(last_seq, welcome.seq)
        self.read_seq = min(self.read_seq, self.sent_seq)
        return [Send(welcome.frame())]

    def renewed(self, welcome: Welcome) -> list[Action]:
        """The session changed (the first message opened the conversation): a new token."""
        if self.closed:
            return []
        self.conversation = welcome.conversation
        return [Send(welcome.frame())]

    def refused_token(self) -> list[Action]:
        """The hello's token is not valid."""
        return self._close(CLOSE_BAD_TOKEN, "not a valid session: start again without it")

    def deliver(self, messages: list[ChatMessage]) -> list[Action]:
        """Message frames for `messages` (in sequence order) the widget has not had: each
        once, in order, stopping at a gap."""
        if self.state != "open":
            return []
        actions: list[Action] = []
        for message in sorted(messages, key=lambda m: m.seq):
            if message.seq <= self.sent_seq:
                continue
            if message.seq != self.sent_seq + 1:
                break  # a later fetch brings the rest in order
            self.sent_seq = message.seq
            actions.append(Send(message.frame()))
        return actions

    def stored(self, client_id: str, seq: int) -> list[Action]:
        """The visitor's message `client_id` is committed as `seq` (its message frame went
        out through `deliver` first)."""
        if self.closed:
            return []
        self._acked[client_id] = seq
        while len(self._acked) > REMEMBERED_ACKS:
            self._acked.popitem(last=False)
        return [Send({"type": "ack", "client_id": client_id, "seq": seq})]

    def agent_typing(self, name: str) -> list[Action]:
        return [] if self.state != "open" else [Send({"type": "typing", "name": name})]

    def agent_present(self, user_id: int, name: str) -> list[Action]:
        """An agent is at the conversation: announced once per agent and socket."""
        if self.state != "open" or user_id in self._agents_joined:
            return []
        self._agents_joined.add(user_id)
        return [Send({"type": "agent_joined", "name": name})]

    def conversation_closed(self) -> list[Action]:
        return [] if self.state != "open" else [Send({"type": "closed"})]

    def rate_limited(self, wait_seconds: int) -> list[Action]:
        return self._close(CLOSE_RATE_LIMITED, f"too many messages; wait {wait_seconds} s")

    def going_away(self) -> list[Action]:
        return self._close(CLOSE_TRY_AGAIN, "reconnect")

    def ended(self) -> None:
        """The socket is gone."""
        self.state = "closed"
