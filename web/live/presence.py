"""Who is looking at which conversation, as last heard: a board of presence claims.

Every process keeps one board, fed by the presence events its hub delivers (from this
process on the embedded default; from every server through Redis when configured, so
all servers agree). A claim lives for twice PRESENCE_SECONDS unless renewed (browsers
renew every PRESENCE_SECONDS); "left" removes it at once. Pure: events and the time come
in, claims come out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.live import LiveEvent
from web.live.protocol import PRESENCE_SECONDS, PRESENCE_STATES

CLAIM_LIFETIME = timedelta(seconds=2 * PRESENCE_SECONDS)


@dataclass(frozen=True)
class Claim:
    """A user's presence at a conversation: "viewing" or "replying", heard at a time."""

    conversation_id: int
    inbox_id: int
    user_id: int
    name: str
    state: str
    heard_at: datetime

    def frame(self) -> dict[str, object]:
        """The presence frame that tells a browser of this claim."""
        return {"type": "presence", "conversation_id": self.conversation_id,
                "user_id": self.user_id, "name": self.name, "state": self.state}


def claim_of(event: LiveEvent, now: datetime) -> Claim | None:
    """The claim a presence event makes (state "left" included), or None for an event
    that is not a well-formed presence event."""
    data = event.data
    ids = (data.get("conversation_id"), data.get("user_id"), event.inbox_id)
    if event.kind != "presence" or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None
    state = data.get("state")
    if state not in (*PRESENCE_STATES, "left"):
        return None
    conversation_id, user_id, inbox_id = ids
    assert isinstance(conversation_id, int) and isinstance(user_id, int)
    assert isinstance(inbox_id, int)
    return Claim(conversation_id, inbox_id, user_id, str(data.get("name") or ""), str(state),
                 now)


class PresenceBoard:
    """The live claims per conversation."""

    def __init__(self, lifetime: timedelta = CLAIM_LIFETIME):
        self.lifetime = lifetime
        self._claims: dict[int, dict[int, Claim]] = {}

    def heard(self, event: LiveEvent, now: datetime) -> None:
        """Record a presence event (anything else is ignored), and forget expired claims."""
        self._forget_expired(now)
        claim = claim_of(event, now)
        if claim is None:
            return
        here = self._claims.setdefault(claim.conversation_id, {})
        if claim.state == "left":
            here.pop(claim.user_id, None)
        else:
            here[claim.user_id] = claim
        if not here:
            del self._claims[claim.conversation_id]

    def present(self, conversation_id: int, now: datetime) -> list[Claim]:
        """The unexpired claims at `conversation_id`, by user id."""
        here = self._claims.get(conversation_id, {})
        return [claim for _, claim in sorted(here.items())
                if now - claim.heard_at < self.lifetime]

    @property
    def conversations(self) -> set[int]:
        """The conversations the board holds claims for (expired ones go when anything
        is heard next)."""
        return set(self._claims)

    def _forget_expired(self, now: datetime) -> None:
        for conversation_id in list(self._claims):
            here = self._claims[conversation_id]
            for user_id in [u for u, c in here.items() if now - c.heard_at >= self.lifetime]:
                del here[user_id]
            if not here:
                del self._claims[conversation_id]
