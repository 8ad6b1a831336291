"""The contract between connectors and the inbox.

A connector turns whatever arrives on its wire (an email, a Slack event, a form POST)
into an `InboundMessage` and hands it to `inbox.service.ingest`. It is plain data: no
database, no I/O, so parsers can be tested by comparing values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Channel = Literal["email", "chat", "slack", "form", "api"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file that came with a message; `content` holds the decoded bytes."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class Truncation:
    """What one limit (`core.limits.Limits`) left out of a message, counted.

    - `what`: "text" or "html" (then `dropped` counts characters), "parts" (MIME parts),
      "attachments", or "headers" (header fields, each cut at the limit).
    - `limit`: the name of the limit in `[limits]`, e.g. "max_parts"; `max`: its value.
    - `names`: the file names of attachments left out, or the names of header fields cut.
    """

    what: str
    limit: str
    max: int
    dropped: int
    names: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The form stored on the message and returned by the API."""
        return {"what": self.what, "limit": self.limit, "max": self.max,
                "dropped": self.dropped, "names": list(self.names)}


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a customer, normalized by its connector.

    - `inbox`: slug of the inbox that received it.
    - `external_id`: the outside world's id (Message-ID, Slack event id, form idempotency
      key); ingest is idempotent on (inbox, channel, external_id).
    - `thread_key`: the channel's conversation key (a Slack thread ts, a chat session id).
      Email threads by `in_reply_to` / `references` instead and may leave it empty.
    - `automatic`: an auto-reply, bounce or bulk mail (RFC 3834); it never triggers an
      automatic answer, never reopens a closed ticket, and when it threads nowhere it opens
      a conversation in spam without a ticket.
    - `to`, `cc`: the other people the message was written to (lower-cased, the inbox's own
      addresses left out); they take part in the conversation it lands in.
    - `sender_identity`: the channel's own id of the sender ("slack:T123:U456",
      "webchat:<inbox id>:<visitor>"), by which ingest knows them again without an
      address (`inbox.identities`).
    - `unverified_sender`: an authentication service the inbox trusts found that the sender
      address is forged (DMARC failed); such a message never joins a conversation by its
      sender's address.
    """

    inbox: str
    channel: Channel
    sender_email: str | None
    sender_name: str | None
    subject: str
    text: str
    external_id: str
    html: str | None = None
    sender_phone: str | None = None
    sender_company: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    sent_at: datetime | None = None
    thread_key: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False
    unverified_sender: bool = False
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    quoted_text_start: int | None = None
    """Offset in `text` where quoted history or a signature begins, for the UI to fold."""
    truncated: tuple[Truncation, ...] = ()
    """What the limits left out of the message as it arrived (ingest adds its own cut)."""
    sender_identity: str | None = None
