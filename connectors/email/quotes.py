"""Where quoted history or a signature begins in the text of an email.

Pure: a string in, an offset out. The inbox keeps the full text and uses the offset to
fold the tail of a message, so a wrong guess hides text behind a click, never loses it.

Recognized markers, in the order a line is checked:

- a signature delimiter, the line "-- " (RFC 3676, section 4.3);
- an Outlook separator: "-----Original Message-----" (and its Swedish, Danish, Italian,
  German and French versions), a line of 20 or more underscores, or a header block
  ("From: ..." followed within three lines by "Sent: ..." / "Date: ...", localized);
- a trailing block of quoted lines ("> ..."), starting at the attribution line above it
  when there is one ("On ... wrote:", "... skrev ...:", "... ha scritto:", "... schrieb
  ...:", "... a écrit :"). Quoted lines followed by more unquoted text are inline
  answers, not history, and are left alone.

The earliest marker wins. A marker with nothing but blank lines before it is ignored:
folding the whole message would show the agent nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SIGNATURE_DELIMITER = "-- "

# Lines longer than this are body text, not markers; it also keeps every regex below on
# short input whatever the message looks like.
_MAX_MARKER_LINE = 300
_MAX_ATTRIBUTION_LINES = 3

_ORIGINAL_MESSAGE = re.compile(
    r"-{3,}\s*(original message|ursprungligt meddelande|oprindelig meddelelse"
    r"|messaggio originale|ursprüngliche nachricht|message d'origine)\s*-{3,}",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"_{20,}")
_FROM_FIELD = re.compile(r"\*?(from|från|fra|da|von|de|van)\s?:\*?\s*\S", re.IGNORECASE)
_SENT_FIELD = re.compile(
    r"\*?(sent|date|skickat|datum|sendt|dato|inviato|data|gesendet|envoyé|verzonden)"
    r"\s?:\*?\s*\S",
    re.IGNORECASE,
)
_ATTRIBUTION_END = re.compile(
    r"\b(wrote|skrev|ha scritto|schrieb|a écrit|escribió|schreef|kirjoitti|napisał)\b"
    r"[^:]{0,200}:$",
    re.IGNORECASE,
)
_ATTRIBUTION_OPENER = re.compile(r"(on|den|am|le|il|el|op|em)\b|\d", re.IGNORECASE)


def find_quoted_text_start(text: str) -> int | None:
    """Return the offset in `text` where quoted history or a signature begins.

    None when the text has neither, or when only whitespace precedes the first marker.
    Runs in time linear in the length of `text`.
    """
    lines = text.split("\n")
    offsets = _line_offsets(lines)
    candidates = [
        _signature_line(lines),
        _outlook_marker_line(lines),
        _quoted_tail_line(lines),
    ]
    found = [index for index in candidates if index is not None]
    if not found:
        return None
    start = offsets[min(found)]
    if not text[:start].strip():
        return None
    return start


def _line_offsets(lines: Sequence[str]) -> list[int]:
    offsets = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    return offsets


def _signature_line(lines: Sequence[str]) -> int | None:
    for index, line in enumerate(lines):
        if line.rstrip("\r") == SIGNATURE_DELIMITER:
            return index
    return None


def _outlook_marker_line(lines: Sequence[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or len(stripped) > _MAX_MARKER_LINE:
            continue
        if _ORIGINAL_MESSAGE.fullmatch(stripped) or _UNDERSCORES.fullmatch(stripped):
            return index
        if _FROM_FIELD.match(stripped) and _sent_field_follows(lines, index):
            return index
    return None


def _sent_field_follows(lines: Sequence[str], index: int) -> bool:
    following = (line.strip() for line in lines[index + 1 : index + 4])
    return any(
        len(line) <= _MAX_MARKER_LINE and _SENT_FIELD.match(line) is not None
        for line in following
    )


def _is_quoted(line: str) -> bool:
    return line.startswith(">")


def _quoted_tail_line(lines: Sequence[str]) -> int | None:
    """The first line of the trailing quoted block, or of the attribution above it."""
    first_quoted = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _is_quoted(line):
            first_quoted = index
        elif line.strip():
            break
    if first_quoted is None:
        return None
    attribution = _attribution_above(lines, first_quoted)
    return first_quoted if attribution is None else attribution


def _attribution_above(lines: Sequence[str], first_quoted: int) -> int | None:
    """The line where an attribution ending just above `first_quoted` starts, if any."""
    end = first_quoted - 1
    while end >= 0 and end >= first_quoted - 3 and not lines[end].strip():
        end -= 1
    block: list[int] = []
    index = end
    while index >= 0 and len(block) < _MAX_ATTRIBUTION_LINES and lines[index].strip():
        block.insert(0, index)
        index -= 1
    if not block or len(lines[end]) > _MAX_MARKER_LINE:
        return None
    return _attribution_start(lines, block)


def _attribution_start(lines: Sequence[str], block: Sequence[int]) -> int | None:
    """Prefer the longest run of lines that reads as one attribution ("On ... wrote:")."""
    for size in range(len(block), 0, -1):
        first = block[-size]
        joined = " ".join(lines[i].strip() for i in block[-size:])
        if len(joined) > _MAX_MARKER_LINE or not _ATTRIBUTION_END.search(joined):
            continue
        if size == 1 or _ATTRIBUTION_OPENER.match(lines[first].strip()):
            return first
    return None
