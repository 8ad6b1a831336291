"""What the limits left out, as it is stored and told (pure: messages in, messages out)."""

from __future__ import annotations

import pytest

from inbox.messages import InboundMessage, Truncation
from inbox.truncation import as_kept, note


def message(text: str = "Where are my boots?", *, channel: str = "email",
            truncated: tuple[Truncation, ...] = (),
            quoted_text_start: int | None = None) -> InboundMessage:
    return InboundMessage(inbox="support", channel=channel, sender_email="anna@example.org",
                          sender_name="Anna", subject="Boots", text=text, external_id="m-1",
                          truncated=truncated, quoted_text_start=quoted_text_start)


TEXT_CUT = Truncation("text", "max_text_chars", 10, 5)
PARTS = Truncation("parts", "max_parts", 200, 1801)


@pytest.mark.parametrize(("text", "channel", "truncated", "max_chars", "expected_text",
                          "expected_truncated"), [
    # Within every limit: kept as it is.
    ("hello", "email", (), 10, "hello", ()),
    ("x" * 10, "chat", (), 10, "x" * 10, ()),
    # Too long: cut, counted, and told first.
    ("x" * 15, "chat", (), 10,
     "[Frontdesk left part of this message out: its text was cut at 10 characters (5 more).]"
     "\n\n" + "x" * 10, (TEXT_CUT,)),
    # An email's note points at the original.
    ("x" * 15, "email", (), 10,
     "[Frontdesk left part of this message out: its text was cut at 10 characters (5 more). "
     "The original email has it all.]\n\n" + "x" * 10, (TEXT_CUT,)),
    # What the parser cut is told too, with ingest's own cut after it.
    ("x" * 15, "email", (PARTS,), 10,
     "[Frontdesk left part of this message out: 1,801 MIME parts beyond the first 200 were "
     "not read; its text was cut at 10 characters (5 more). The original email has it all.]"
     "\n\n" + "x" * 10, (PARTS, TEXT_CUT)),
    # Nothing left of the text (its part was nested too deep): the note alone.
    ("", "email", (Truncation("parts", "max_depth", 20, 180),), 10,
     "[Frontdesk left part of this message out: 180 MIME parts nested deeper than 20 levels "
     "were not read. The original email has it all.]",
     (Truncation("parts", "max_depth", 20, 180),)),
])
def test_as_kept(text, channel, truncated, max_chars, expected_text, expected_truncated):
    kept = as_kept(message(text, channel=channel, truncated=truncated), max_chars)
    assert (kept.text, kept.truncated) == (expected_text, expected_truncated)


@pytest.mark.parametrize(("text", "start", "max_chars", "expected"), [
    ("answer\n> quoted", 7, 100, "> quoted"),  # nothing cut: nothing moves
    ("answer\n> quoted" + "x" * 100, 7, 100, "> quoted" + "x" * 85),  # moved with the note
    ("x" * 100 + "\n> quoted", 101, 50, None),  # the quote fell in the cut
])
def test_quoted_text_start_moves_with_the_text(text, start, max_chars, expected):
    kept = as_kept(message(text, quoted_text_start=start), max_chars)
    quoted = None if kept.quoted_text_start is None else kept.text[kept.quoted_text_start:]
    assert quoted == expected


@pytest.mark.parametrize(("cut", "told"), [
    (Truncation("html", "max_text_chars", 200_000, 12), "its formatted (HTML) version was cut "
     "at 200,000 characters (12 more)"),
    (Truncation("parts", "max_parts", 200, 1), "1 MIME part beyond the first 200 was not read"),
    (Truncation("attachments", "max_attachment_bytes", 25 * 1024 * 1024, 1, ("big.iso",)),
     "1 attachment over 25 MiB was left out (big.iso)"),
    (Truncation("attachments", "max_total_attachment_bytes", 1000, 7,
                tuple(f"f{n}.bin" for n in range(7))),
     "7 attachments were left out, over 1,000 bytes in all "
     "(f0.bin, f1.bin, f2.bin, f3.bin, f4.bin and 2 more)"),
    (Truncation("headers", "max_header_chars", 10_000, 2, ("references", "to")),
     "2 header fields were cut at 10,000 characters (references, to)"),
    (Truncation("emoji", "max_emoji", 3, 4), "4 of its emoji were left out (max_emoji = 3)"),
])
def test_each_cut_is_told_in_words(cut, told):
    assert note([cut], email=False) == (
        f"[Frontdesk left part of this message out: {told}.]")
