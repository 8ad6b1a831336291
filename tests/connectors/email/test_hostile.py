"""Hostile and broken input: every case ends quickly, with a bounded result or EmailParseError.

The time assertions are safety bounds against hangs and blow-ups, not benchmarks.
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.email.parse import EmailParseError, ParsedEmail, parse_email
from connectors.email.sanitize import html_to_text, sanitize_html
from core.limits import Limits
from inbox.messages import Truncation

BOUND_SECONDS = 5.0


def timed(action: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def parse_bounded(raw: bytes, limits: Limits | None = None) -> ParsedEmail:
    """Parse `raw`, asserting it takes less than BOUND_SECONDS and returns clean strings."""
    started = time.monotonic()
    if limits is None:
        parsed = parse_email(raw, inbox="support")
    else:
        parsed = parse_email(raw, inbox="support", limits=limits)
    assert time.monotonic() - started < BOUND_SECONDS
    assert_clean_strings(parsed)
    return parsed


def assert_clean_strings(parsed: ParsedEmail) -> None:
    """Every string is storable: valid Unicode (no lone surrogates) and free of NUL."""
    message = parsed.message
    strings = [
        message.subject,
        message.text,
        message.external_id,
        message.html or "",
        message.sender_email or "",
        message.sender_name or "",
        message.in_reply_to or "",
        parsed.auto_reason or "",
        parsed.bounce_reason or "",
        parsed.bounced_message_id or "",
        parsed.auto_submitted or "",
        *message.to,
        *message.cc,
        *message.references,
        *(name for cut in message.truncated for name in cut.names),
        *(a.filename for a in message.attachments),
        *(a.content_type for a in message.attachments),
        *(a.content_id or "" for a in message.attachments),
    ]
    for value in strings:
        value.encode("utf-8")
        assert "\x00" not in value
    start = message.quoted_text_start
    assert start is None or 0 < start < len(message.text)


HEAD = b"From: Anna <anna@example.se>\r\nTo: support@shop.example\r\nSubject: hostile\r\n"


def test_thousands_of_parts_stop_at_max_parts() -> None:
    parts = b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n" + b"".join(
        b"--b\r\nContent-Type: text/plain; name=\"f%d.txt\"\r\n\r\npart %d\r\n" % (i, i)
        for i in range(20_000)
    )
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    parsed = parse_bounded(raw)
    assert parsed.message.text == "body"
    kept = len(parsed.message.attachments)
    assert 0 < kept < 200
    # Every part is counted: the root, the body, the kept and the unread attachments.
    assert parsed.message.truncated == (
        Truncation("parts", "max_parts", 200, 1 + 1 + 20_000 - 1 - 1 - kept),)


def test_many_parts_under_the_limit_are_all_read() -> None:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain; name=\"f%d.txt\"\r\n\r\npart %d\r\n" % (i, i)
        for i in range(150)
    )
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    parsed = parse_bounded(raw)
    assert len(parsed.message.attachments) == 150
    assert parsed.message.truncated == ()


def test_a_100000_character_header_is_cut_not_fatal() -> None:
    raw = HEAD.replace(b"Subject: hostile", b"Subject: " + b"a" * 100_000) + b"\r\nbody"
    parsed = parse_bounded(raw)
    assert parsed.message.subject == "a" * 10_000
    assert parsed.message.text == "body"
    assert parsed.message.truncated == (
        Truncation("headers", "max_header_chars", 10_000, 1, ("subject",)),)


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Type: text/plain; " + b'a="' * 50_000,
        b"Content-Type: text/plain; " + b";" * 100_000,
        b"To: " + b"a@x.se, " * 20_000,
        b"To: " + b'"' * 100_000,
        b"References: " + b"<a@x> " * 30_000,
        b"Subject: " + b"=?utf-8?q?a?= " * 10_000,
        b"Subject: " + b"=?" * 50_000,
        b"Date: " + b"1 " * 50_000,
        b"Subject: a\r\n" + b" folded\r\n" * 20_000,
        b"Content-Disposition: attachment; "
        + b"".join(b"filename*%d*=a%%C3; " % i for i in range(20_000)),
    ],
    ids=[
        "quotes",
        "semicolons",
        "to",
        "to-quotes",
        "references",
        "words",
        "word-starts",
        "date",
        "folded",
        "disposition",
    ],
)
def test_pathological_headers_are_bounded(header: bytes) -> None:
    parsed = parse_bounded(HEAD + header + b"\r\n\r\nbody")
    assert "body" in parsed.message.text or parsed.message.attachments


def test_thousands_of_header_fields() -> None:
    raw = HEAD + b"".join(b"X-Junk-%d: value\r\n" % i for i in range(50_000)) + b"\r\nbody"
    assert parse_bounded(raw).message.text == "body"


def nested(levels: int) -> bytes:
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
        for i in range(1, levels)
    )
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))
    leaf = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % (levels - 1)
    return HEAD + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + opening + leaf + closing


def test_500_levels_of_nesting_are_ignored_beyond_max_depth() -> None:
    parsed = parse_bounded(nested(500))
    assert parsed.message.text == ""
    # Below depth 20: the multiparts of levels 21 to 499 and the leaf.
    assert parsed.message.truncated == (Truncation("parts", "max_depth", 20, 500 - 21 + 1),)


def test_nesting_within_max_depth_is_read() -> None:
    assert parse_bounded(nested(15)).message.text == "deep"


@pytest.mark.parametrize("levels", [1000, 5000])
def test_nesting_beyond_what_the_parser_follows_leaves_the_header_fields(levels: int) -> None:
    """The standard library's parser recurses per level of nesting: past what it can
    follow the message is its header fields, its parts counted as nested too deep."""
    parsed = parse_bounded(nested(levels))
    assert (parsed.message.subject, parsed.message.text) == ("hostile", "")
    assert parsed.message.truncated == (Truncation("parts", "max_depth", 20, levels),)


def zip_of_zeros(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", bytes(size))
    return buffer.getvalue()


def with_attachment(content: bytes, filename: str, content_type: str) -> bytes:
    return (
        HEAD
        + b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
        + b"Content-Type: text/plain\r\n\r\nsee attachment\r\n--z\r\n"
        + f"Content-Type: {content_type}\r\n".encode()
        + f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(content).replace(b"\n", b"\r\n")
        + b"--z--\r\n"
    )


def test_zip_of_zeros_is_kept_as_is_never_decompressed() -> None:
    bomb = zip_of_zeros(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    parsed = parse_bounded(with_attachment(bomb, "bomb.zip", "application/zip"))
    [attachment] = parsed.message.attachments
    assert attachment.content == bomb
    assert attachment.content_type == "application/zip"


def test_zip_over_the_attachment_limit_is_dropped_and_named() -> None:
    bomb = zip_of_zeros(10 * 1024 * 1024)
    limits = Limits(max_attachment_bytes=1024)
    parsed = parse_bounded(with_attachment(bomb, "bomb.zip", "application/zip"), limits)
    assert parsed.message.attachments == ()
    assert parsed.message.truncated == (
        Truncation("attachments", "max_attachment_bytes", 1024, 1, ("bomb.zip",)),)
    assert parsed.message.text == "see attachment"


def test_20_mb_single_line_body() -> None:
    parsed = parse_bounded(HEAD + b"\r\n" + b"x" * 20_000_000)
    assert parsed.message.text == "x" * 200_000
    assert parsed.message.truncated == (
        Truncation("text", "max_text_chars", 200_000, 20_000_000 - 200_000),)


def test_20_mb_single_line_html_body() -> None:
    raw = HEAD + b"Content-Type: text/html\r\n\r\n<p>" + b"x" * 20_000_000
    parsed = parse_bounded(raw)
    assert parsed.message.text == "x" * (200_000 - len("<p>"))


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 100_000,
        "<ul><li>" * 50_000,
        "<blockquote>" * 80_000,
        "<!--" * 250_000,
        "<" * 1_000_000,
        "<a " * 300_000,
        "&" * 1_000_000,
        "<table><tr><td>" * 60_000,
        "<p style='color:red'>x</p>" * 40_000,
    ],
    ids=["divs", "lists", "quotes", "comments", "lt", "open-tags", "amps", "tables", "styles"],
)
def test_hostile_html_is_bounded(html: str) -> None:
    raw = HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    parse_bounded(raw)
    _, elapsed = timed(lambda: (sanitize_html(html), html_to_text(html)))
    assert elapsed < BOUND_SECONDS


def test_nul_bytes_everywhere() -> None:
    raw = (
        b"From: An\x00na <anna@exa\x00mple.se>\r\nSubject: a\x00b\r\nMessage-ID: <x\x00y@z>\r\n"
        b"Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\n"
        b"Content-Type: text/plain\r\n\r\nbo\x00dy\r\n--n\r\n"
        b"Content-Type: text/html\r\n\r\n<p>h\x00tml</p>\r\n--n\r\n"
        b'Content-Disposition: attachment; filename="f\x00.bin"\r\n\r\n\x00\x00\r\n--n--\r\n'
    )
    parsed = parse_bounded(raw)
    assert parsed.message.subject == "ab"
    assert parsed.message.text == "body"
    assert parsed.message.attachments[0].content == b"\x00\x00"


def test_nul_bytes_only() -> None:
    try:
        parse_bounded(b"\x00" * 100_000)
    except EmailParseError:
        pass


@pytest.mark.parametrize(
    "payload",
    [
        b"!!!! not base64 at all ####",
        b"SGVsbG8=SGVsbG8=",
        b"SGVsbG8",
        b"S",
        b"====",
        b"\xff\xfe\xfd",
        b"SGVs\r\n\r\nbG8=\r\n-- not a boundary",
    ],
)
def test_invalid_base64_body(payload: bytes) -> None:
    raw = (
        HEAD + b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload
    )
    parsed = parse_bounded(raw)
    assert isinstance(parsed.message.text, str)


def test_invalid_quoted_printable_body() -> None:
    raw = HEAD + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=4=\r\n=C3=A5=\r\n"
    assert parse_bounded(raw).message.text.endswith("å")


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n\r\n", b"no headers here, just text", b"\r\n\r\nFrom: a@x.se\r\n\r\nbody"],
)
def test_message_with_no_headers(raw: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(EmailParseError):
        parse_email(raw, inbox="support")
    assert time.monotonic() - started < BOUND_SECONDS


def test_headers_only_message() -> None:
    parsed = parse_bounded(b"From: a@x.se\r\nSubject: no body")
    assert parsed.message.text == ""
    assert parsed.message.subject == "no body"


def test_hostile_charsets_never_raise() -> None:
    for charset in (b"undefined", b"unicode-escape", b"base64", b"zlib", b"utf-7", b"x" * 500):
        raw = (
            HEAD + b"Content-Type: text/plain; charset=\"" + charset + b"\"\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\nC:\\Users\\\xc3\xa5\\x41"
        )
        text = parse_bounded(raw).message.text
        assert "C:\\Users\\" in text and "\\x41" in text


def test_forwarded_message_with_a_huge_header() -> None:
    inner = b"From: x@y.se\r\nSubject: " + b"=?utf-8?q?=C3=A5?= " * 20_000 + b"\r\n\r\nold"
    raw = (
        HEAD + b"Content-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\n"
        b"Content-Type: text/plain\r\n\r\nfwd\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--f--\r\n"
    )
    parsed = parse_bounded(raw)
    assert parsed.message.text == "fwd"
    assert len(parsed.message.attachments) == 1


def test_bounce_with_thousands_of_recipients() -> None:
    recipients = b"".join(
        b"Final-Recipient: rfc822; r%d@x\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" % i
        for i in range(10_000)
    )
    raw = (
        HEAD + b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: text/plain\r\n\r\nbounced\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        + recipients
        + b"--r--\r\n"
    )
    parsed = parse_bounded(raw)
    assert parsed.is_bounce
    assert parsed.bounce_reason == "5.1.1"


MIME_FRAGMENTS = [
    b"From: ",
    b"To: ",
    b"Subject: ",
    b"Return-Path: <>\r\n",
    b"Message-ID: <",
    b">",
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b" ",
    b":",
    b";",
    b'"',
    b"=?utf-8?B?",
    b"=?x?Q?=E5",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=b\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: text/rfc822-headers\r\n",
    b"Content-Type: text/html; charset=unicode-escape\r\n",
    b"Content-Type: text/plain; charset=undefined; format=flowed\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%A5\r\n",
    b"Content-Disposition: inline; filename*=undefined''x\r\n",
    b"Content-ID: <c@x>\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"Action: failed\r\nDiagnostic-Code: x\r\n",
    b"<blockquote><div>",
    b"<script>",
    b"\xff\xfe",
    b"\xc3\xa5",
    b"\\u00e5\\x41",
    b"\x00",
]


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    started = time.monotonic()
    try:
        parsed = parse_email(raw, inbox="support")
    except EmailParseError:
        pass
    else:
        assert_clean_strings(parsed)
    assert time.monotonic() - started < BOUND_SECONDS


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.one_of(st.sampled_from(MIME_FRAGMENTS), st.binary(max_size=12)),
        max_size=120,
    ).map(b"".join)
)
def test_random_mime_shaped_bytes(raw: bytes) -> None:
    started = time.monotonic()
    try:
        parsed = parse_email(raw, inbox="support")
    except EmailParseError:
        pass
    else:
        assert_clean_strings(parsed)
    assert time.monotonic() - started < BOUND_SECONDS


# A parameter given both whole and in numbered parts makes the standard library raise
# TypeError while decoding the header's parameters (found by the test above).
MIXED_CONTINUATIONS = b"filename*=utf-8''whole.txt; filename*0*=utf-8''part; filename*1*=s"


def test_a_filename_in_whole_and_in_parts_is_dropped_not_fatal() -> None:
    raw = HEAD + (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                  b"Content-Type: text/plain\r\n\r\nSee the file.\r\n--b\r\n"
                  b"Content-Type: text/plain\r\nContent-Disposition: attachment; "
                  + MIXED_CONTINUATIONS + b"\r\n\r\nfile body\r\n--b--\r\n")
    parsed = parse_email(raw, inbox="support")
    assert parsed.message.text.startswith("See the file.")
    [attachment] = parsed.message.attachments
    assert attachment.content == b"file body" and attachment.filename == "part-3.txt"


def test_a_charset_in_whole_and_in_parts_falls_back_not_fatal() -> None:
    raw = HEAD + (b"Content-Type: text/plain; charset*=utf-8''x; charset*0*=y\r\n\r\n"
                  b"Hej d\xc3\xa5\r\n")
    assert parse_email(raw, inbox="support").message.text.startswith("Hej d")


def test_a_boundary_in_whole_and_in_parts_is_an_email_parse_error() -> None:
    raw = HEAD + (b"Content-Type: multipart/mixed; boundary*=x; boundary*0*=y\r\n\r\n"
                  b"--x\r\n\r\nhi\r\n--x--\r\n")
    with pytest.raises(EmailParseError, match="unreadable message"):
        parse_email(raw, inbox="support")
