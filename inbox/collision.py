"""Whether an agent's message may go out as written: the send-time check of a reply
against what the agent saw, and the form key that makes a message once. Pure: the facts
come in (the messages newer than the one seen), the decision comes out; no I/O.

A reply form carries `seen_message_id`, the newest message of the conversation when the
page was rendered. A reply is held back (NewerMessages) when a message the contact or a
colleague sent came after it, unless the agent said "send anyway": they answer what they
have read. Internal comments never hold a reply back, and comments themselves are never
held back. A form also carries a `client_key`; see `valid_client_key`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import Conflict, InvalidInput

CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


class NewerMessages(Conflict):
    """The conversation has messages the agent did not see when writing; nothing was
    sent. `message_ids` names them, oldest first."""

    code = "newer_messages"

    def __init__(self, message_ids: list[int]):
        count = len(message_ids)
        many = count != 1
        super().__init__(
            f"{count} new message{'s' if many else ''} arrived after you opened this "
            f"conversation: read {'them' if many else 'it'}, then send anyway or review "
            "your reply",
            field="seen_message_id")
        self.message_ids = message_ids


@dataclass(frozen=True)
class Later:
    """A message of the conversation newer than the one the agent saw."""

    id: int
    direction: str
    """inbound, outbound or comment."""


def unseen_blocking(kind: str, seen_message_id: int | None, send_anyway: bool,
                    later: Iterable[Later]) -> list[int]:
    """The ids of the messages that hold this message back (oldest first); empty when it
    may be sent. Only a reply is checked, only when the form said what it saw and did not
    say "send anyway", and only against messages that are not comments."""
    if kind != "reply" or seen_message_id is None or send_anyway:
        return []
    return sorted(m.id for m in later if m.id > seen_message_id and m.direction != "comment")


def valid_client_key(key: str | None) -> str | None:
    """The form's key as given (None when there is none); InvalidInput when it is not
    8-64 letters, digits, '-' or '_'."""
    if key is None or key == "":
        return None
    if not CLIENT_KEY.fullmatch(key):
        raise InvalidInput("client_key must be 8-64 letters, digits, '-' or '_'",
                           field="client_key")
    return key
