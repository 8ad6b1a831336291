"""What the limits left out of a message, told to the agents who read it.

Pure: messages in, messages out. `as_kept(msg, max_text_chars)` is what ingest stores: the
text cut at the limit (counted in `truncated`, like every cut a connector made before), and
when anything was left out a note at the top of the text saying what and how much, so that
no message is ever shorter than it arrived without saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from inbox.messages import InboundMessage, Truncation

MIB = 1024 * 1024
NAMES_SHOWN = 5
"""File or header names a note lists before it says how many more there are."""


def as_kept(msg: InboundMessage, max_text_chars: int) -> InboundMessage:
    """`msg` as it is stored: its text at most `max_text_chars` long (the rest cut and
    counted), then, when any limit left something out, opened by `note(...)` and a blank
    line; `quoted_text_start` moves with the text (None when it fell in the cut)."""
    text, truncated, start = msg.text, msg.truncated, msg.quoted_text_start
    if len(text) > max_text_chars:
        truncated += (Truncation("text", "max_text_chars", max_text_chars,
                                 len(text) - max_text_chars),)
        text = text[:max_text_chars]
        start = start if start is not None and start < len(text) else None
    if not truncated:
        return msg
    opening = note(truncated, email=msg.channel == "email") + ("\n\n" if text else "")
    return replace(msg, text=opening + text, truncated=truncated,
                   quoted_text_start=None if start is None else start + len(opening))


def note(truncated: Sequence[Truncation], *, email: bool) -> str:
    """One bracketed paragraph naming each cut, e.g. "[Frontdesk left part of this message
    out: its text was cut at 200,000 characters (52,114 more). The original email has it
    all.]"; for an email it points at the original, which is always kept whole."""
    said = "; ".join(_told(cut) for cut in truncated)
    ending = " The original email has it all." if email else ""
    return f"[Frontdesk left part of this message out: {said}.{ending}]"


def _told(cut: Truncation) -> str:
    """One cut, in words."""
    n, limit = cut.dropped, cut.max
    told = {
        ("text", "max_text_chars"):
            f"its text was cut at {limit:,} characters ({n:,} more)",
        ("html", "max_text_chars"):
            f"its formatted (HTML) version was cut at {limit:,} characters ({n:,} more)",
        ("parts", "max_parts"):
            f"{_count(n, 'MIME part')} beyond the first {limit:,} {_were(n)} not read",
        ("parts", "max_depth"):
            f"{_count(n, 'MIME part')} nested deeper than {limit:,} levels {_were(n)} not read",
        ("attachments", "max_attachment_bytes"):
            f"{_count(n, 'attachment')} over {_size(limit)} {_were(n)} left out",
        ("attachments", "max_total_attachment_bytes"):
            f"{_count(n, 'attachment')} {_were(n)} left out, over {_size(limit)} in all",
        ("headers", "max_header_chars"):
            f"{_count(n, 'header field')} {_were(n)} cut at {limit:,} characters",
    }.get((cut.what, cut.limit), f"{n:,} of its {cut.what} {_were(n)} left out "
                                 f"({cut.limit} = {limit:,})")
    return told + (f" ({_names(cut.names)})" if cut.names else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def _size(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB:,} MiB"
    return f"{size:,} bytes"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (f" and {more:,} more" if more > 0 else "")
