"""Email parsing: a golden corpus of real-world shapes, then tables for each piece.

Each `corpus/NAME.eml` has a `corpus/NAME.json` holding its expected parse; only the keys
present in the JSON are compared, so "text_prefix" can stand in for "text".
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from connectors.email import parse as parse_module
from connectors.email.parse import (
    EmailParseError,
    ParsedEmail,
    _parse_tree,
    _raw_param,
    decode_encoded_words,
    decode_text,
    header_text,
    mailboxes,
    parse_addresses,
    parse_date,
    parse_email,
    parse_message_ids,
    safe_filename,
    unflow,
)
from connectors.email.quotes import find_quoted_text_start
from connectors.email.sanitize import cut_deep_nesting, html_to_text, sanitize_html
from core.limits import Limits
from inbox.messages import Truncation

CORPUS = Path(__file__).parent / "corpus"
CORPUS_NAMES = sorted(path.stem for path in CORPUS.glob("*.eml"))


def parse(raw: bytes, **kwargs: object) -> ParsedEmail:
    return parse_email(raw, inbox="support", **kwargs)  # type: ignore[arg-type]


# --- golden corpus ---------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(CORPUS_NAMES) >= 20
    for name in CORPUS_NAMES:
        assert (CORPUS / f"{name}.json").is_file(), f"{name}.eml has no expected parse"


def _actual(raw: bytes, parsed: ParsedEmail) -> dict[str, object]:
    message = parsed.message
    start = message.quoted_text_start
    return {
        "subject": message.subject,
        "sender_email": message.sender_email,
        "sender_name": message.sender_name,
        "to": list(message.to),
        "cc": list(message.cc),
        "external_id": message.external_id,
        "external_id_is_hash": message.external_id
        == "sha256:" + hashlib.sha256(raw).hexdigest(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
        "text": message.text,
        "html": message.html is not None,
        "attachments": [
            {
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": len(attachment.content),
                "inline": attachment.inline,
                "content_id": attachment.content_id,
            }
            for attachment in message.attachments
        ],
        "truncated": [cut.as_json() for cut in message.truncated],
        "automatic": message.automatic,
        "auto_reason": parsed.auto_reason,
        "is_bounce": parsed.is_bounce,
        "bounced_message_id": parsed.bounced_message_id,
        "bounce_reason": parsed.bounce_reason,
        "quoted_text_start": start,
        "quoted_from": None if start is None else message.text[start:].split("\n", 1)[0],
    }


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_corpus(name: str) -> None:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    expected = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    parsed = parse(raw)
    actual = _actual(raw, parsed)
    html = parsed.message.html or ""

    assert parsed.message.channel == "email"
    assert parsed.message.inbox == "support"
    if "text_prefix" in expected:
        assert parsed.message.text.startswith(expected.pop("text_prefix"))
    for fragment in expected.pop("html_contains", []):
        assert fragment in html
    for fragment in expected.pop("html_excludes", []):
        assert fragment not in html
    assert {key: actual[key] for key in expected} == expected


def test_corpus_attachment_content_is_decoded() -> None:
    pdf = parse((CORPUS / "pdf_attachment.eml").read_bytes()).message.attachments[0]
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.endswith(b"%%EOF\n")
    log = parse((CORPUS / "text_attachment.eml").read_bytes()).message.attachments[0]
    assert log.content.startswith(b"2025-02-10 12:58:01 ERROR orders")
    image = parse((CORPUS / "inline_image.eml").read_bytes()).message.attachments[0]
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_corpus_sent_at_is_aware() -> None:
    for name in CORPUS_NAMES:
        sent_at = parse((CORPUS / f"{name}.eml").read_bytes()).message.sent_at
        assert sent_at is None or sent_at.utcoffset() is not None


# --- building blocks for the tables ----------------------------------------------------


def email(headers: str = "", body: str = "Hello", *, content_type: str = "") -> bytes:
    """A small message: `headers` lines are added to a From/To/Subject/Message-ID set."""
    lines = [
        "From: Anna <anna@example.se>",
        "To: support@shop.example",
        "Subject: Test",
        "Message-ID: <t1@example.se>",
    ]
    lines += [line for line in headers.split("\n") if line]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\n".join(lines) + "\n\n" + body).encode()


def mixed(*parts: str, boundary: str = "b1") -> bytes:
    """A multipart/mixed message of the given raw parts (headers + blank line + body)."""
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    return email(body=body, content_type=f'multipart/mixed; boundary="{boundary}"')


# --- encoded words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain subject", "plain subject"),
        ("=?UTF-8?Q?R=C3=A4ksm=C3=B6rg=C3=A5s?=", "Räksmörgås"),
        ("=?utf-8?b?w6XDpMO2?=", "åäö"),
        ("=?iso-8859-1?Q?=E6=F8=E5?=", "æøå"),
        ("=?windows-1252?Q?=E8_=E0_=F9?=", "è à ù"),
        ("=?UTF-8?B?w6g=?= =?UTF-8?B?IMOg?=", "è à"),
        ("=?UTF-8?B?w6U=?==?UTF-8?B?w6Q=?=", "åä"),
        # a character split across two words decodes once the words are joined
        ("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A5?=", "å"),
        ("Re: =?UTF-8?Q?Fr=C3=A5ga?= om =?UTF-8?Q?best=C3=A4llning?=", "Re: Fråga om beställning"),
        ("=?utf-8*sv?Q?h=C3=A4j?=", "häj"),
        ("=?x-unknown-charset?Q?caf=E9?=", "caf\ufffd"),
        ("=?utf-8?Q?=FF?=", "\ufffd"),
        ("=?utf-8?B?w6?=", "\ufffd"),
        ("=?utf-8?B?!!!?=", ""),
        ("=?unicode-escape?Q?C:\\u0041?=", "C:\\u0041"),
        ("=?utf-8?Q?C:\\Users\\anna?=", "C:\\Users\\anna"),
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
    ],
)
def test_decode_encoded_words(value: str, expected: str) -> None:
    assert decode_encoded_words(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Order\r\n 4711", "Order 4711"),
        ("Tab\there", "Tab here"),
        ("  padded  ", "padded"),
        ("nul\x00 and bell\x07", "nul and bell"),
        ("=?utf-8?Q?line=0Abreak?=", "linebreak"),
    ],
)
def test_header_text(value: str, expected: str) -> None:
    assert header_text(value) == expected


def test_raw_8bit_subject_is_read_as_utf8_then_windows_1252() -> None:
    utf8 = parse("Subject: Räksmörgås\nFrom: a@x.se\n\nbody".encode())
    assert utf8.message.subject == "Räksmörgås"
    cp1252 = parse("Subject: Café €5\nFrom: a@x.se\n\nbody".encode("cp1252"))
    assert cp1252.message.subject == "Café €5"


# --- addresses, ids, dates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("anna@example.se", ((None, "anna@example.se"),)),
        ("Anna Svensson <Anna@Example.SE>", (("Anna Svensson", "anna@example.se"),)),
        (
            '"Svensson, Anna" <anna@x.se>, bo@y.se (Bo)',
            (("Svensson, Anna", "anna@x.se"), ("Bo", "bo@y.se")),
        ),
        ("=?UTF-8?Q?Bj=C3=B6rn?= <bjorn@x.se>", (("Björn", "bjorn@x.se"),)),
        ('"=?UTF-8?Q?Bj=C3=B6rn?=" <bjorn@x.se>', (("Björn", "bjorn@x.se"),)),
        ("Team: a@x.se, b@x.se;", ((None, "a@x.se"), (None, "b@x.se"))),
        ("undisclosed-recipients:;", ()),
        ("<>", ()),
        ("MAILER-DAEMON", ()),
        ("Anna <anna@x.se\r\n >", (("Anna", "anna@x.se"),)),
        ("not an address", ()),
    ],
)
def test_parse_addresses(value: str, expected: tuple[tuple[str | None, str], ...]) -> None:
    assert parse_addresses(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@x>", ("a@x",)),
        ("<a@x> <b@y>", ("a@x", "b@y")),
        ("<a@x>,<b@y>", ("a@x", "b@y")),
        ("<a@x>\r\n\t<b@y>\r\n <a@x>", ("a@x", "b@y")),
        ("a@x b@y", ("a@x", "b@y")),
        ("a@x, b@y", ("a@x", "b@y")),
        ("<a@x> (Anna's message of Monday)", ("a@x",)),
        ("Anna's message of Monday", ()),
        ("<split\r\n @x>", ("split@x",)),
        ("<>", ()),
        ("", ()),
    ],
)
def test_parse_message_ids(value: str, expected: tuple[str, ...]) -> None:
    assert parse_message_ids(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 3 Feb 2025 10:00:00 +0100", datetime(2025, 2, 3, 9, 0, tzinfo=UTC)),
        ("3 Feb 2025 10:00:00 GMT", datetime(2025, 2, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 3 Feb 2025 10:00:00 -0000", datetime(2025, 2, 3, 10, 0, tzinfo=UTC)),
        ("Mon, 03 Feb 25 10:00 +0530", datetime(2025, 2, 3, 4, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("Mon, 99 Feb 2025 10:00:00 +0100", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, expected: datetime | None) -> None:
    parsed = parse_date(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_sent_at_keeps_the_senders_offset() -> None:
    parsed = parse(email("Date: Mon, 3 Feb 2025 10:00:00 +0100"))
    assert parsed.message.sent_at == datetime(
        2025, 2, 3, 10, 0, tzinfo=timezone(timedelta(hours=1))
    )


def test_sender_falls_back_to_sender_then_return_path() -> None:
    no_from = b"Sender: Bo <Bo@Y.se>\nReturn-Path: <r@z.se>\nSubject: x\n\nbody"
    assert parse(no_from).message.sender_email == "bo@y.se"
    assert parse(no_from).message.sender_name == "Bo"
    only_path = b"Return-Path: <R@Z.se>\nSubject: x\n\nbody"
    assert parse(only_path).message.sender_email == "r@z.se"


def test_external_id_falls_back_to_a_hash_of_the_raw_bytes() -> None:
    raw = b"From: a@x.se\nSubject: no id\n\nbody"
    assert parse(raw).message.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert parse(email()).message.external_id == "t1@example.se"


# --- charsets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("åäö".encode(), "utf-8", "åäö"),
        ("åäö".encode(), "UTF8", "åäö"),
        ("æøå".encode("latin-1"), "iso-8859-1", "æøå"),
        (b"it\x92s \x80", "iso-8859-1", "it’s €"),  # read as Windows-1252, as browsers do
        (b"it\x92s \x80", "windows-1252", "it’s €"),
        ("åäö".encode(), None, "åäö"),
        ("åäö".encode("cp1252"), None, "åäö"),
        ("åäö".encode(), "us-ascii", "åäö"),
        (b"caf\xe9", "x-no-such-charset", "caf\ufffd"),
        (b"C:\\Users\\u00e5", "unicode-escape", "C:\\Users\\u00e5"),
        (b"C:\\Users\\x41", "raw_unicode_escape", "C:\\Users\\x41"),
        (b"abc", "undefined", "abc"),
        (b"YWJj", "base64", "YWJj"),
        (b"abc", "utf-8\x00", "abc"),
        (b"\xff\xfeh\x00i\x00", "utf-16", "hi"),
        ("日本".encode("iso2022_jp"), "ISO-2022-JP", "日本"),
    ],
)
def test_decode_text(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_text(data, charset) == expected


def test_body_with_backslashes_is_never_unescaped() -> None:
    body = "Path C:\\Users\\anna\\file.txt and \\n \\t \\x41 \\u00e5 \\N{DASH} åäö"
    for content_type in ("text/plain; charset=utf-8", "text/plain"):
        raw = email("Content-Transfer-Encoding: 8bit", body, content_type=content_type)
        assert parse(raw).message.text == body


def test_line_endings_become_newlines() -> None:
    raw = b"From: a@x.se\r\nSubject: x\r\n\r\none\r\ntwo\rthree\n"
    assert parse(raw).message.text == "one\ntwo\nthree\n"


def test_text_is_cut_at_max_text_chars_and_counted() -> None:
    parsed = parse(email(body="x" * 5000), limits=Limits(max_text_chars=1000))
    assert parsed.message.text == "x" * 1000
    assert parsed.message.truncated == (Truncation("text", "max_text_chars", 1000, 4000),)


@pytest.mark.parametrize(
    ("text", "delete_space", "expected"),
    [
        ("one \ntwo", False, "one two"),
        ("one \ntwo", True, "onetwo"),
        ("hard\nbreak", False, "hard\nbreak"),
        ("> quoted \n> more\nmine", False, "> quoted more\nmine"),
        ("> quoted \nnot quoted", False, "> quoted \nnot quoted"),
        ("-- \nsig", False, "-- \nsig"),
        (" From stuffed", False, "From stuffed"),
    ],
)
def test_unflow(text: str, delete_space: bool, expected: str) -> None:
    assert unflow(text, delete_space=delete_space) == expected


# --- body and attachments -------------------------------------------------------------


def test_text_attachment_before_the_body_is_not_the_body() -> None:
    raw = mixed(
        'Content-Type: text/plain; name="notes.txt"\n'
        "Content-Disposition: attachment; filename=notes.txt\n\nattached notes",
        "Content-Type: text/plain\n\nthe real body",
    )
    message = parse(raw).message
    assert message.text == "the real body"
    assert [(a.filename, a.content) for a in message.attachments] == [
        ("notes.txt", b"attached notes")
    ]


def test_inline_text_with_a_filename_is_an_attachment() -> None:
    raw = mixed(
        "Content-Type: text/plain\n\nbody",
        "Content-Type: text/plain\nContent-Disposition: inline; filename=readme.txt\n\nread me",
    )
    message = parse(raw).message
    assert message.text == "body"
    assert [(a.filename, a.inline) for a in message.attachments] == [("readme.txt", True)]


def test_unnamed_parts_get_a_name_and_are_kept() -> None:
    raw = mixed(
        "Content-Type: text/plain\n\nbody",
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=",
        "Content-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR",
    )
    attachments = parse(raw).message.attachments
    assert [(a.filename, a.content_type, a.content) for a in attachments] == [
        ("part-3.pdf", "application/pdf", b"%PDF-"),
        ("part-4.ics", "text/calendar", b"BEGIN:VCALENDAR"),
    ]


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="report.pdf"', "report.pdf"),
        ("attachment; filename=\"=?UTF-8?Q?r=C3=A4kning.pdf?=\"", "räkning.pdf"),
        ("attachment; filename*=UTF-8''r%C3%A4kning%202025.pdf", "räkning 2025.pdf"),
        ("attachment; filename*=iso-8859-1''r%E4kning.pdf", "räkning.pdf"),
        ("attachment; filename*=x-nope''r%E4kning.pdf", "r\ufffdkning.pdf"),
        (
            "attachment; filename*0*=UTF-8''long%20na; filename*1=me.pdf",
            "long name.pdf",
        ),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\anna\\\\evil.exe"', "evil.exe"),
        ('attachment; filename="a\tb.txt"', "a b.txt"),
        # A right-to-left override, encoded as mailers send it, is dropped.
        ("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),
        ("attachment; filename=\"=?UTF-8?Q?invoice=E2=80=AEfdp.exe?=\"", "invoicefdp.exe"),
    ],
)
def test_attachment_filenames(disposition: str, expected: str) -> None:
    raw = mixed(
        "Content-Type: text/plain\n\nbody",
        f"Content-Type: application/octet-stream\nContent-Disposition: {disposition}\n\ndata",
    )
    assert parse(raw).message.attachments[0].filename == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("dir/sub/report.pdf", "report.pdf"),
        ("dir\\report.pdf", "report.pdf"),
        ("..", None),
        ("", None),
        ("nul\x00name.txt", "nulname.txt"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
        ("y" * 300, "y" * 255),
        # Bidirectional controls reorder what a person reads; none of them is kept.
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RIGHT-TO-LEFT OVERRIDE
        ("\u202aa\u202bb\u202cc\u202dd\u202ee.txt", "abcde.txt"),  # embeddings, overrides
        ("\u2066a\u2067b\u2068c\u2069.txt", "abc.txt"),  # isolates
        ("\u200ea\u200fb\u061cc.txt", "abc.txt"),  # LRM, RLM, ARABIC LETTER MARK
        ("\u202e", None),  # nothing else: no name
        ("\u202e..", None),
        ("räkning שלום.pdf", "räkning שלום.pdf"),  # right-to-left letters stay
        ("a\u200db.txt", "a\u200db.txt"),  # a joiner is no bidi control
    ],
)
def test_safe_filename(name: str, expected: str | None) -> None:
    assert safe_filename(name) == expected


def _attachment(name: str, size: int) -> str:
    return (
        f"Content-Type: application/octet-stream\n"
        f"Content-Disposition: attachment; filename={name}\n\n" + "a" * size
    )


def test_attachments_over_the_size_limits_are_dropped_and_named() -> None:
    raw = mixed(
        "Content-Type: text/plain\n\nbody",
        _attachment("small.bin", 100),
        _attachment("huge.bin", 2000),
        _attachment("fits.bin", 800),
        _attachment("over-total.bin", 300),
    )
    limits = Limits(max_attachment_bytes=1000, max_total_attachment_bytes=1000)
    parsed = parse(raw, limits=limits)
    assert [a.filename for a in parsed.message.attachments] == ["small.bin", "fits.bin"]
    assert parsed.message.truncated == (
        Truncation("attachments", "max_attachment_bytes", 1000, 1, ("huge.bin",)),
        Truncation("attachments", "max_total_attachment_bytes", 1000, 1, ("over-total.bin",)))


def test_html_alternative_is_not_an_attachment() -> None:
    raw = email(
        body="--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: text/html\n\n"
        "<p>html</p>\n--a\nContent-Type: text/enriched\n\nenriched\n--a--\n",
        content_type='multipart/alternative; boundary="a"',
    )
    message = parse(raw).message
    assert message.text == "plain"
    assert message.html == "<p>html</p>"
    assert message.attachments == ()


def test_blank_plain_alternative_falls_back_to_the_html() -> None:
    raw = email(
        body="--a\nContent-Type: text/plain\n\n \n--a\nContent-Type: text/html\n\n"
        "<div>real content</div>\n--a--\n",
        content_type='multipart/alternative; boundary="a"',
    )
    assert parse(raw).message.text == "real content"


def test_multipart_without_a_boundary_is_read_as_text() -> None:
    raw = email(body="no boundary here", content_type="multipart/mixed")
    assert parse(raw).message.text == "no boundary here"


def test_forwarded_message_is_an_attachment_not_the_body() -> None:
    raw = mixed(
        "Content-Type: text/plain\n\nsee below",
        "Content-Type: message/rfc822\n\nFrom: x@y.se\nSubject: old\n\nforwarded body",
    )
    message = parse(raw).message
    assert message.text == "see below"
    [forwarded] = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert b"Subject: old" in forwarded.content and b"forwarded body" in forwarded.content


def test_html_only_body_gives_text_and_sanitized_html() -> None:
    raw = email(
        body="<p>Hi&nbsp;there</p><script>x()</script><p>Bye &amp; thanks</p>",
        content_type="text/html; charset=utf-8",
    )
    message = parse(raw).message
    assert message.text == "Hi there\n\nBye & thanks"
    assert message.html == "<p>Hi&nbsp;there</p><p>Bye &amp; thanks</p>"


def test_invalid_base64_body_is_decoded_leniently() -> None:
    raw = email(
        "Content-Transfer-Encoding: base64", "SGVsbG8gd29y*bGQ!\n===\nx", content_type="text/plain"
    )
    assert parse(raw).message.text.startswith("Hello world")


# --- automatic mail and bounces --------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("", None),
        ("Auto-Submitted: no", None),
        ("Auto-Submitted: auto-replied", "auto-submitted:auto-replied"),
        ("Auto-Submitted: Auto-Generated; owner=x", "auto-submitted:auto-generated"),
        ("X-Auto-Response-Suppress: All", "x-auto-response-suppress:all"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "x-auto-response-suppress:oof"),
        ("X-Auto-Response-Suppress: DR, RN", None),
        ("X-Autoreply: yes", "x-autoreply"),
        ("X-Autorespond: on vacation", "x-autorespond"),
        ("Precedence: bulk", "precedence:bulk"),
        ("Precedence: list", "precedence:list"),
        ("Precedence: junk", "precedence:junk"),
        ("Precedence: first-class", None),
        ("Return-Path: <>", "null-return-path"),
        ("Return-Path: <anna@example.se>", None),
    ],
)
def test_automatic_reason(headers: str, reason: str | None) -> None:
    parsed = parse(email(headers))
    assert parsed.auto_reason == reason
    assert parsed.message.automatic is (reason is not None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"From: MAILER-DAEMON\nSubject: x\n\nbody", "mailer-daemon"),
        (b"From: Mailer-Daemon@mx.example.net\nSubject: x\n\nbody", "mailer-daemon"),
        (b"From: <>\nSubject: x\n\nbody", "no-sender"),
        (b"Subject: nobody sent this\n\nbody", "no-sender"),
    ],
)
def test_null_senders_are_automatic(raw: bytes, reason: str) -> None:
    assert parse(raw).auto_reason == reason


def test_auto_submitted_raw_value_is_kept() -> None:
    parsed = parse(email("Auto-Submitted: auto-generated; owner-email=\"a@x\""))
    assert parsed.auto_submitted == 'auto-generated; owner-email="a@x"'
    assert parse(email()).auto_submitted is None


def _report(status: str, *, report_type: str = "delivery-status") -> bytes:
    return email(
        body=(
            "--r\nContent-Type: text/plain\n\nDelivery report\n"
            f"--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.x\n\n{status}\n"
            "--r\nContent-Type: text/rfc822-headers\n\nMessage-ID: <orig@shop.example>\n"
            "--r--\n"
        ),
        content_type=f'multipart/report; report-type={report_type}; boundary="r"',
    )


@pytest.mark.parametrize(
    ("status", "is_bounce", "reason", "bounce_reason"),
    [
        (
            "Final-Recipient: rfc822; a@x\nAction: failed\nStatus: 5.2.2\n"
            "Diagnostic-Code: smtp; 552 mailbox full",
            True,
            "bounce",
            "smtp; 552 mailbox full",
        ),
        ("Final-Recipient: rfc822; a@x\nAction: failed\nStatus: 5.1.1", True, "bounce", "5.1.1"),
        (
            "Final-Recipient: rfc822; a@x\nAction: delayed\nStatus: 4.4.7",
            False,
            "delivery-status",
            None,
        ),
        (
            "Final-Recipient: rfc822; a@x\nAction: delivered\n\n"
            "Final-Recipient: rfc822; b@x\nAction: failed\nStatus: 5.0.0",
            True,
            "bounce",
            "5.0.0",
        ),
    ],
)
def test_delivery_status_reports(
    status: str, is_bounce: bool, reason: str, bounce_reason: str | None
) -> None:
    parsed = parse(_report(status))
    assert parsed.is_bounce is is_bounce
    assert parsed.auto_reason == reason
    assert parsed.message.automatic
    assert parsed.bounce_reason == bounce_reason
    assert parsed.bounced_message_id == "orig@shop.example"
    assert parsed.message.text == "Delivery report"
    assert parsed.message.attachments == ()


def test_read_receipts_are_automatic_but_not_bounces() -> None:
    parsed = parse(_report("Disposition: manual-action/MDN-sent-manually; displayed",
                           report_type="disposition-notification"))
    assert parsed.auto_reason == "report:disposition-notification"
    assert not parsed.is_bounce


# --- quoted history and signatures ------------------------------------------------------

QUOTE_ROWS = [
    ("Just a message.\nNo history.", None),
    ("Thanks!\n\nOn Mon, 3 Feb 2025 at 10:00, Anna <a@x> wrote:\n> old", "On Mon, 3 Feb"),
    (
        "Thanks!\n\nOn Mon, 3 Feb 2025 at 10:00, Anna Svensson <\na@x> wrote:\n\n> old\n>\n",
        "On Mon, 3 Feb",
    ),
    ("Tack!\n\nDen mån 3 feb. 2025 kl 10:00 skrev Anna <a@x>:\n> gammalt", "Den mån"),
    ("Tak!\n\nDen man. 3. feb. 2025 kl. 10.00 skrev Søren <s@x>:\n> gammel", "Den man."),
    ("Tack!\n\n3 feb. 2025 kl. 10:00 skrev Anna <a@x>:\n\n> gammalt", "3 feb. 2025"),
    ("Grazie!\n\nIl giorno lun 3 feb 2025 alle ore 10:00 Chiara <c@x> ha scritto:\n> vecchio",
     "Il giorno"),
    ("Danke!\n\nAm Mo., 3. Feb. 2025 um 10:00 Uhr schrieb Jonas <j@x>:\n> alt", "Am Mo."),
    ("Merci !\n\nLe lun. 3 févr. 2025 à 10:00, Luc <l@x> a écrit :\n> ancien", "Le lun."),
    ("Reply\n\n-----Original Message-----\nFrom: Anna\nSent: Monday", "-----Original"),
    ("Svar\n\n-----Ursprungligt meddelande-----\nFrån: Anna", "-----Ursprungligt"),
    ("Reply\n\n________________________________\nFrom: Anna <a@x>\nSent: Monday", "_____"),
    ("Reply\n\nFrom: Anna <a@x>\nSent: Monday, 3 February 2025 10:00\nTo: us", "From: Anna"),
    ("Svar\n\nFrån: Anna <a@x>\nSkickat: den 3 februari 2025 10:00\nTill: oss", "Från: Anna"),
    ("Reply\n\n*From:* Anna <a@x>\n*Date:* Monday\n*To:* us", "*From:* Anna"),
    ("Reply\n\nFrom: the warehouse team\nwe heard nothing", None),
    ("Best regards\n-- \nAnna Svensson\nShop AB", "-- "),
    ("Best regards\n--\nAnna", None),
    ("Thanks\n-- \nAnna\n\nOn Mon, 3 Feb 2025, Bo <b@x> wrote:\n> old", "-- "),
    ("Answer\n\n> a quoted tail without attribution\n> more", "> a quoted tail"),
    ("> question one\nanswer one\n> question two\nanswer two", None),
    ("On Mon, 3 Feb 2025, Bo <b@x> wrote:\n> only quoted history", None),
    ("-- \nonly a signature", None),
    ("He wrote: fine\n\nbye", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "starts_with"), QUOTE_ROWS)
def test_find_quoted_text_start(text: str, starts_with: str | None) -> None:
    start = find_quoted_text_start(text)
    if starts_with is None:
        assert start is None
    else:
        assert start is not None
        assert start == 0 or text[start - 1] == "\n"
        assert text[start:].startswith(starts_with)


def test_quoted_text_start_is_an_offset_into_the_parsed_text() -> None:
    body = "Sure, Thursday.\n\nOn Mon, 3 Feb 2025 at 10:00, Support <s@x> wrote:\n> When?\n"
    message = parse(email(body=body)).message
    assert message.quoted_text_start == body.index("On Mon")
    assert message.text == body


# --- HTML ---------------------------------------------------------------------------------

DANGEROUS_HTML = [
    ("<p>hi</p><script>alert(1)</script>", ["<script", "alert"], ["<p>hi</p>"]),
    ("<style>body{display:none}</style><p>x</p>", ["<style", "display"], ["<p>x</p>"]),
    ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert", "x.png"], ["<img"]),
    ('<a href="javascript:alert(1)">x</a>', ["javascript", "alert"], [">x</a>"]),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', ["alert", "JaVaScRiPt"], [">x</a>"]),
    ('<a href="java&#x09;script:alert(1)">x</a>', ["alert", "script"], [">x</a>"]),
    ('<a href="vbscript:msgbox(1)">x</a>', ["vbscript", "msgbox"], [">x</a>"]),
    ('<img src="data:image/png;base64,AAAA">', ["data:", "base64"], ["<img"]),
    ('<a href="data:text/html,<script>x</script>">x</a>', ["data:", "<script"], [">x</a>"]),
    ('<base href="https://evil.example/"><a href="/login">x</a>', ["<base", "evil", "/login"], []),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">', ["<meta", "evil"], []),
    ('<form action="https://evil.example"><input name="pw">pw</form>', ["<form", "<input", "evil"],
     ["pw"]),
    ('<link rel="stylesheet" href="https://evil.example/x.css">', ["<link", "evil"], []),
    ('<iframe src="https://evil.example"></iframe>', ["<iframe", "evil"], []),
    ('<object data="x.swf"></object><embed src="x.swf">', ["<object", "<embed", "swf"], []),
    ('<svg><script>alert(1)</script></svg>', ["<svg", "alert"], []),
    ('<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>', ["onerror", "alert"], []),
    ('<p style="background:url(https://evil.example/t.gif)">x</p>', ["style", "url(", "evil"],
     ["<p>x</p>"]),
    ('<p style="color: red; background-image: url(x)">x</p>', ["url(", "style"], ["<p>x</p>"]),
    ("<p style=\"color: expression(alert(1))\">x</p>", ["expression", "alert"], ["<p>x</p>"]),
    ('<p style="@import \'https://evil.example\'">x</p>', ["@import", "evil"], ["<p>x</p>"]),
    ('<p style="width: u\\72l(x)">x</p>', ["\\72", "style"], ["<p>x</p>"]),
    ('<p style="position: fixed; top: 0; z-index: 9; color: red">x</p>',
     ["position", "z-index", "top"], ['<p style="color:red">x</p>']),
    ('<div id="app" class="admin" data-x="1">x</div>', ["id=", "class=", "data-x"],
     ["<div>x</div>"]),
    ('<a href="https://shop.example" target="_self" rel="opener">x</a>', ["_self", '"opener"'],
     ['href="https://shop.example"', 'target="_blank"', 'rel="noopener noreferrer nofollow"']),
    ('<img src="cid:logo@shop.example" alt="logo">', [], ['src="cid:logo@shop.example"']),
    ('<font color="red" face="Arial">x</font>', [], ['<font color="red" face="Arial">x</font>']),
    ("<!-- secret --><p>x</p>", ["secret", "<!--"], ["<p>x</p>"]),
]


@pytest.mark.parametrize(("html", "removed", "kept"), DANGEROUS_HTML)
def test_sanitize_html(html: str, removed: list[str], kept: list[str]) -> None:
    clean = sanitize_html(html)
    for fragment in removed:
        assert fragment.lower() not in clean.lower(), f"{fragment!r} survived: {clean!r}"
    for fragment in kept:
        assert fragment in clean


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<div>one</div><div><br></div><div>two</div>", "one\n\ntwo"),
        ("line<br>break", "line\nbreak"),
        ("a &amp; b &lt;c&gt; &nbsp;d &#233;", "a & b <c>  d é"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<pre>  keep\n    this</pre>", "  keep\n    this"),
        ("<p>  lots   of\n\n  space </p>", "lots of space"),
        ("<div>Hi</div><blockquote><div>old</div><blockquote>older</blockquote></blockquote>",
         "Hi\n\n> old\n>\n>> older"),
        ("<head><title>T</title><style>p{}</style></head><script>x</script>ok", "ok"),
        ('<a href="https://x">link text</a>', "link text"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_cut_deep_nesting_keeps_ordinary_markup() -> None:
    ordinary = "<div><p>x</p><ul><li>a<li>b</ul></div>" * 500
    assert cut_deep_nesting(ordinary, 50) == ordinary
    unclosed_paragraphs = "<p>para" * 500
    assert cut_deep_nesting(unclosed_paragraphs, 50) == unclosed_paragraphs
    deep = "<div>" * 100 + "x"
    assert cut_deep_nesting(deep, 50) == "<div>" * 50


# --- not an email ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"   \r\n\r\n", b"\r\n\r\nbody without any header", b"just some text"],
)
def test_unreadable_input_raises_email_parse_error(raw: bytes) -> None:
    with pytest.raises(EmailParseError):
        parse(raw)


def test_parse_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_parts"):
        Limits(max_parts=0)


def test_parse_email_wants_bytes() -> None:
    with pytest.raises(TypeError):
        parse_email("From: a@x\n\nbody", inbox="support")  # type: ignore[arg-type]


_PARAMS = st.lists(st.sampled_from([
    "; charset=utf-8", "; CHARSET=\"ISO-8859-1\"", "; name=a.txt", "; name*=UTF-8''%C3%A5.txt",
    "; name*0=lo; name*1=ng.txt", "; name*0*=utf-8''%C3; name=x", "; format=flowed",
    "; delsp=yes", ";", "; =x", "; charset", ' ; name="q\\"uote"', "; filename=f.pdf"]),
    max_size=5).map("".join)


@examples(max_examples=1000, deadline=None)
@given(content_type=_PARAMS, disposition=_PARAMS,
       name=st.sampled_from(["charset", "name", "filename", "format", "delsp"]))
def test_parameters_read_once_are_those_the_standard_library_reads(content_type, disposition,
                                                                   name):
    """Each header's parameters are parsed once per part; what a part's parameter reads
    is what `Message.get_param` gives (None where the standard library cannot decode)."""
    raw = (f"Content-Type: text/plain{content_type}\r\n"
           f"Content-Disposition: attachment{disposition}\r\n\r\nbody\r\n").encode()
    message = _parse_tree(raw, Limits()).root
    for header in ("content-type", "content-disposition", "x-absent"):
        try:
            expected = message.get_param(name, None, header)
        except TypeError:
            expected = None
        assert _raw_param(message, name, header) == expected
        assert _raw_param(message, name, header) == expected  # read again, from the table


_WORD = st.sampled_from(["Anna", "Berg", "=?utf-8?q?Bj=C3=B6rn?=", "J.", "o'Neil", "a_b", '"Q"',
                         "(c)", "é", ",", "{x}", "<", ""])
_NAME = st.lists(st.tuples(_WORD, st.sampled_from([" ", "  ", "\t", ""])), max_size=3).map(
    lambda words: "".join(word + space for word, space in words))
_ADDRESS_PARTS = st.one_of(
    st.sampled_from(["a@ex", "anna.berg@example.org", "x+y@a-b.c", "o'n@ex", "a@b..c"]),
    st.lists(st.sampled_from(["a", "Zz9", ".", "..", "-", "+", "@", "ex", "é", "_", "[1.2.3.4]",
                              " ", "'", "#", "!", "%"]), min_size=1, max_size=6).map("".join))
_AROUND = st.sampled_from(["", " ", "\t", "  ", ",", ", b@c", " (c)"])


@examples(max_examples=3000, deadline=None)
@given(name=_NAME, address=_ADDRESS_PARTS, angled=st.booleans(), before=_AROUND,
       after=_AROUND)
def test_mailboxes_read_as_the_standard_library_reads_them(name, address, angled, before,
                                                           after):
    text = f"{before}{name} <{address}>{after}" if angled else f"{before}{address}{after}"
    assert mailboxes(text) == getaddresses([text])


def test_the_usual_mailboxes_are_read_without_the_standard_library(monkeypatch):
    monkeypatch.setattr(parse_module, "getaddresses", None)  # would fail if called
    assert mailboxes("Anna Berg <anna.berg@example.org>") == [("Anna Berg",
                                                              "anna.berg@example.org")]
    assert mailboxes(" help@example.com ") == [("", "help@example.com")]
