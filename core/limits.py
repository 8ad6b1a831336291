"""The limits on one inbound message, in one place: `[limits]` in the configuration.

The SMTP receiver, the IMAP poller, the email parser and ingest all read this one set, so
that what a message may be is decided before a sender hears `250` (or an IMAP message is
imported). A limit does one of two things:

- refuse: a message over `max_message_bytes` is never accepted (SMTP answers 552; an IMAP
  message is left on the server and listed as quarantined);
- cut, and say so: whatever is accepted becomes a message. What a limit left out of it is
  counted on the message (`truncated`) and told at the top of its text, and the original
  email stays downloadable whole.

Pure: plain values, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds of one inbound message; each must be a positive integer."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}
    """Read from the configuration file: an unknown key is an error."""

    max_message_bytes: int = 25 * MIB
    """The raw email, in bytes. SMTP: a larger SIZE at MAIL FROM, or more bytes in DATA,
    is refused with 552. IMAP: a larger message (RFC822.SIZE) is not fetched."""
    max_text_chars: int = 200_000
    """The text of a message (and the HTML of an email), in characters; the rest is cut."""
    max_parts: int = 200
    """MIME parts read from one email; the parser stops reading at this many."""
    max_depth: int = 20
    """How deep MIME parts may be nested; deeper ones are not read."""
    max_header_chars: int = 10_000
    """One header field's value, in characters; the rest is cut."""
    max_attachment_bytes: int = 25 * MIB
    """One attachment, decoded; a larger one is left out."""
    max_total_attachment_bytes: int = 50 * MIB
    """The attachments of one message together, decoded; those that would pass it are
    left out."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive integer, not {value!r}")
