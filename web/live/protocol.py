"""The live socket's protocol, without I/O: frames in, actions out.

The browser of a signed-in user opens `/live` (a websocket; text frames of JSON objects).

    server -> browser
      {"type": "hello", "user_id": N}                    once, first
      {"type": "conversation", "conversation_id": N, "change": C, ...}
                                                         C: opened, message, amended
                                                            (with message_id: its text
                                                            changed), owner, status,
                                                            deleted, ticket
      {"type": "presence", "conversation_id": N, "user_id": U, "name": S,
       "state": "viewing" | "replying" | "left"}       someone else's, for N
      {"type": "notification", ...}                      for this user only
      {"type": "typing", "conversation_id": N, "name": S}
                                                         a chat visitor is typing in N
      {"type": "reload"}                                 updates were missed (the browser
                                                         fell behind): fetch what it shows
      {"type": "pong"}                                   the answer to a ping
    browser -> server
      {"type": "viewing", "conversation_id": N}          opened conversation N
      {"type": "replying", "conversation_id": N}         is writing a reply in N
      {"type": "left"}                                   closed it
      {"type": "ping"}

Presence is a claim with a lifetime: the browser says "viewing" again at least every
PRESENCE_SECONDS, and others forget a claim not renewed within twice that. A browser that
starts watching a conversation is told at once who else is there (one presence frame per
colleague, as the server's presence board knows them).

The server closes the socket with a code saying why: 1003 a binary frame, 1007 text that
is not a JSON object, 1008 a frame the protocol does not know or with a bad field, 1009 a
frame over MAX_FRAME_CHARS, 4401 the login ended (log in again), 1013 the server is going
away or the socket fell too far behind (reconnect and reload).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.live import LiveEvent

MAX_FRAME_CHARS = 1024
PRESENCE_SECONDS = 20
PRESENCE_STATES = ("viewing", "replying")

CLOSE_BINARY = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_LOGGED_OUT = 4401


@dataclass(frozen=True)
class Send:
    """Send this frame to the browser."""

    frame: dict[str, Any]


@dataclass(frozen=True)
class Close:
    """Close the socket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Announce:
    """Tell the others who see `conversation_id` what this user is doing there ("left"
    when they stopped). The driver checks the user may see it before announcing."""

    conversation_id: int
    state: str


@dataclass(frozen=True)
class Tell:
    """Send this browser the presence of the others at `conversation_id` (the driver
    checks the user may see it first)."""

    conversation_id: int


Action = Send | Close | Announce | Tell


class LiveProtocol:
    """One socket of one user: what to send and announce for what arrives."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        self.watching: int | None = None
        self.closed = False

    def start(self) -> list[Action]:
        """What to send once the socket is open."""
        return [Send({"type": "hello", "user_id": self.user_id})]

    def received(self, data: str | bytes) -> list[Action]:
        """The actions for one frame from the browser."""
        if self.closed:
            return []
        if isinstance(data, bytes):
            return self._close(CLOSE_BINARY, "text frames only")
        if len(data) > MAX_FRAME_CHARS:
            return self._close(CLOSE_TOO_BIG, f"frames are at most {MAX_FRAME_CHARS} characters")
        try:
            frame = json.loads(data)
        except ValueError:
            return self._close(CLOSE_INVALID, "frames are JSON objects")
        if not isinstance(frame, dict):
            return self._close(CLOSE_INVALID, "frames are JSON objects")
        return self._frame(frame)

    def _frame(self, frame: dict[str, Any]) -> list[Action]:
        kind = frame.get("type")
        if kind == "ping":
            return [Send({"type": "pong"})]
        if kind == "left":
            return self._leave()
        if kind in PRESENCE_STATES:
            conversation_id = frame.get("conversation_id")
            if (isinstance(conversation_id, bool) or not isinstance(conversation_id, int)
                    or not 1 <= conversation_id < 2**31):
                return self._close(CLOSE_POLICY, "conversation_id must be a positive integer")
            if self.watching == conversation_id:
                return [Announce(conversation_id, kind)]  # a renewal or a change of state
            actions = self._leave()
            self.watching = conversation_id
            return [*actions, Announce(conversation_id, kind), Tell(conversation_id)]
        return self._close(CLOSE_POLICY, f"unknown frame type {kind!r}")

    def _leave(self) -> list[Action]:
        if self.watching is None:
            return []
        left, self.watching = self.watching, None
        return [Announce(left, "left")]

    def _close(self, code: int, reason: str) -> list[Action]:
        self.closed = True
        return [*self._leave(), Close(code, reason)]

    def event(self, event: LiveEvent) -> list[Action]:
        """The frame for a live event this user may see (the hub filtered it by access);
        none for their own presence."""
        if self.closed:
            return []
        if event.kind == "presence" and event.data.get("user_id") == self.user_id:
            return []
        return [Send({"type": event.kind, **event.data})]

    def present(self, frames: list[dict[str, Any]]) -> list[Action]:
        """The presence frames (`Claim.frame()`) answering a Tell: those of the
        conversation still watched, none of this user's own."""
        if self.closed:
            return []
        return [Send(frame) for frame in frames
                if frame.get("conversation_id") == self.watching
                and frame.get("user_id") != self.user_id]

    def fell_behind(self) -> list[Action]:
        """The socket missed events: the browser must reload what it shows."""
        return [Send({"type": "reload"}), *self._close(CLOSE_TRY_AGAIN, "fell behind")]

    def logged_out(self) -> list[Action]:
        """The user's login ended (logged out, deactivated, expired)."""
        return self._close(CLOSE_LOGGED_OUT, "log in again")

    def ended(self) -> list[Action]:
        """The socket is gone (closed by either side): what to announce."""
        self.closed = True
        return self._leave()
