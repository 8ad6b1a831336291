"""Outbound mail as data: addresses, subjects, threading headers, bodies, the whole message."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from connectors.email.compose import (
    MAX_REFERENCES,
    Draft,
    InvalidAddress,
    Undeliverable,
    clean_display_name,
    compose,
    reply_subject,
    sender_identity,
    text_to_html,
    thread_headers,
    validate_address,
)
from core.settings import InboxSettings
from inbox.messages import Attachment

WHEN = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
OUTLOOK_ID = ("AM0PR10MB4321C0FFEE0123456789ABCDEF0123456789ABCDEF0123456789@"
              "AM0PR10MB4321.EURPRD10.PROD.OUTLOOK.COM")


@pytest.mark.parametrize(("address", "expected"), [
    ("anna@example.org", "anna@example.org"),
    ("Anna.Berg+tickets@Example.ORG", "Anna.Berg+tickets@example.org"),
    ("o'brien@example.ie", "o'brien@example.ie"),
    ("support@localhost", "support@localhost"),
    ("anna@bücher.de", "anna@xn--bcher-kva.de"),
    ("x@a-b.c-d.example", "x@a-b.c-d.example"),
])
def test_valid_addresses(address, expected):
    assert validate_address(address) == expected


@pytest.mark.parametrize(("address", "reason"), [
    ("", "empty"),
    ("anna@example.org\r\nBcc: evil@example.com", "line break"),
    ("anna@example.org\nBcc: evil@example.com", "line break"),
    ("anna@example.org\rX-Injected: 1", "line break"),
    ("anna\r\n@example.org", "line break"),
    ("anna@example.org\x00", "control character"),
    ("anna@example.org\t", "control character"),
    ("anna@example.org>\r\nRCPT TO:<evil@example.com", "line break"),
    ("anna@example.org> NOTIFY=NEVER", "not a valid host name"),
    ("<anna@example.org>", "before the @"),
    ("Anna <anna@example.org>", "before the @"),
    ("anna@example.org, evil@example.com", "exactly one @"),
    ("anna@example.org evil", "not a valid host name"),
    ("anna example@example.org", "before the @"),
    ("anna", "exactly one @"),
    ("anna@@example.org", "exactly one @"),
    ("@example.org", "before the @"),
    ("anna@", "nothing after the @"),
    (".anna@example.org", "before the @"),
    ("anna.@example.org", "before the @"),
    ("an..na@example.org", "before the @"),
    ('"anna"@example.org', "before the @"),
    ("ånna@example.org", "non-ASCII"),
    ("x" * 65 + "@example.org", "before the @"),
    ("anna@[192.0.2.1]", "not a valid host name"),
    ("anna@-example.org", "not a valid host name"),
    ("anna@exa_mple.org", "not a valid host name"),
    ("anna@example..org", "not a valid host name"),
    ("anna@example.org.", "not a valid host name"),
    ("a@" + "x" * 64 + ".org", "not a valid host name"),
    ("a@" + ".".join(["x" * 60] * 5), "longer than 254"),
])
def test_invalid_addresses_are_refused_with_a_reason(address, reason):
    with pytest.raises(InvalidAddress) as refused:
        validate_address(address)
    assert reason in str(refused.value)
    assert "\r" not in str(refused.value) and "\n" not in str(refused.value)
    assert refused.value.status == 422


@pytest.mark.parametrize(("name", "expected"), [
    ("Anna Berg", "Anna Berg"),
    ("Anna\r\nBcc: evil@example.com", "Anna Bcc: evil@example.com"),
    ("  Anna \t  Berg ", "Anna Berg"),
    (None, ""),
    ("x" * 300, "x" * 200),
])
def test_display_names_are_cleaned(name, expected):
    assert clean_display_name(name) == expected


@pytest.mark.parametrize(("subject", "ticket", "expected"), [
    ("Printer on fire", 12, "Re: Printer on fire [#12]"),
    ("Re: Printer on fire", 12, "Re: Printer on fire [#12]"),
    ("RE: re:Re : Printer on fire", 12, "Re: Printer on fire [#12]"),
    ("AW: Drucker", 3, "Re: Drucker [#3]"),
    ("Re[2]: Printer", 3, "Re: Printer [#3]"),
    ("Re: Printer on fire [#12]", 12, "Re: Printer on fire [#12]"),
    ("Printer on fire [#12] again [#12]", 12, "Re: Printer on fire again [#12]"),
    ("Printer [#7]", 12, "Re: Printer [#12]"),
    ("Fwd: Printer", 12, "Re: Fwd: Printer [#12]"),
    ("Regarding: the invoice", 5, "Re: Regarding: the invoice [#5]"),
    ("Printer\r\nBcc: evil@example.com", 5, "Re: Printer Bcc: evil@example.com [#5]"),
    ("", 5, "Re: [#5]"),
    ("Re:", 5, "Re: [#5]"),
    ("Printer on fire", None, "Re: Printer on fire"),
    ("Re: Re: Printer [#7]", None, "Re: Printer [#7]"),
    ("", None, "Re:"),
])
def test_reply_subject(subject, ticket, expected):
    assert reply_subject(subject, ticket) == expected


@pytest.mark.parametrize(("thread", "in_reply_to", "references"), [
    ([], None, ()),
    (["form:contact:abc", "sha256:" + "0" * 64], None, ()),
    (["a@x"], "a@x", ("a@x",)),
    (["a@x", "form:contact:abc", "b@y"], "b@y", ("a@x", "b@y")),
    (["a@x", "b@y", "a@x"], "b@y", ("a@x", "b@y")),
    ([" a@x "], "a@x", ("a@x",)),
    (["a@x", "bad id@y", "<c@z>", "d@w\r\nBcc: e@v", "e(1)@v"], "a@x", ("a@x",)),
    (["a@x", "b@y\r\n"], "b@y", ("a@x", "b@y")),
    ([f"m{i}@x" for i in range(30)], "m29@x",
     ("m0@x", *(f"m{i}@x" for i in range(30 - MAX_REFERENCES + 1, 30)))),
])
def test_thread_headers(thread, in_reply_to, references):
    assert thread_headers(thread) == (in_reply_to, references)
    assert len(references) <= MAX_REFERENCES


@pytest.mark.parametrize(("text", "body"), [
    ("Hello", "<p>Hello</p>"),
    ("Hello\nAnna", "<p>Hello<br>\nAnna</p>"),
    ("One\n\nTwo\n \n\nThree", "<p>One</p>\n<p>Two</p>\n<p>Three</p>"),
    ("a\r\nb\r\n\r\nc", "<p>a<br>\nb</p>\n<p>c</p>"),
    ("<script>alert(1)</script> & \"x\" 'y'",
     "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#x27;y&#x27;</p>"),
])
def test_text_to_html(text, body):
    assert f"<body>\n{body}\n</body>" in text_to_html(text)


def draft(**changes) -> Draft:
    values = dict(
        from_address="help@example.com", from_name="Support", to_address="anna@example.org",
        to_name="Anna Berg", subject="Printer on fire", text="Hello Anna,\n\nIt is fixed.",
        message_id="fd.r1.0123456789@example.com", date=WHEN,
        thread_ids=["form:contact:k1", "CAB+x=1@mail.gmail.com", "fd.r0.9876543210@example.com"],
        ticket_number=12)
    values.update(changes)
    return Draft(**values)


def parsed(message) -> email.message.EmailMessage:
    raw = bytes(message)
    assert b"\r\n" in raw and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    return email.message_from_bytes(raw, policy=policy.default)


def test_a_reply_as_the_customer_receives_it():
    mail = parsed(compose(draft()))
    assert mail["From"] == "Support <help@example.com>"
    assert mail["To"] == "Anna Berg <anna@example.org>"
    assert mail["Subject"] == "Re: Printer on fire [#12]"
    assert mail["Message-ID"] == "<fd.r1.0123456789@example.com>"
    assert mail["In-Reply-To"] == "<fd.r0.9876543210@example.com>"
    assert mail["References"].split() == ["<CAB+x=1@mail.gmail.com>",
                                          "<fd.r0.9876543210@example.com>"]
    assert email.utils.parsedate_to_datetime(mail["Date"]) == WHEN
    assert mail["Auto-Submitted"] is None and mail["X-Auto-Response-Suppress"] is None
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == "Hello Anna,\n\nIt is fixed.\n"
    assert html.get_content_type() == "text/html"
    assert "<p>Hello Anna,</p>\n<p>It is fixed.</p>" in html.get_content().replace("\r\n", "\n")
    assert [part["MIME-Version"] for part in mail.walk()] == ["1.0", None, None]


def test_a_first_reply_to_a_form_has_no_thread_headers():
    mail = parsed(compose(draft(thread_ids=["form:contact:k1"])))
    assert mail["In-Reply-To"] is None and mail["References"] is None


def test_an_automatic_answer_says_so():
    mail = parsed(compose(draft(automatic=True)))
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"


def test_attachments_follow_the_alternative_body():
    files = [Attachment("report.pdf", "application/pdf", b"%PDF-1.4 fake"),
             Attachment("../../etc/passwd\r\n", "not a type", b"\x00\x01")]
    mail = parsed(compose(draft(attachments=files)))
    assert mail.get_content_type() == "multipart/mixed"
    body, pdf, other = mail.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert (pdf.get_content_type(), pdf.get_filename(), pdf.get_content()) == (
        "application/pdf", "report.pdf", b"%PDF-1.4 fake")
    assert (other.get_content_type(), other.get_filename()) == (
        "application/octet-stream", ".._.._etc_passwd")


def test_long_ids_are_folded_between_ids_never_encoded():
    thread = [f"fd.r{i}.0123456789@example.com" for i in range(6)] + [OUTLOOK_ID]
    raw = bytes(compose(draft(thread_ids=thread)))
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert mail["In-Reply-To"] == f"<{OUTLOOK_ID}>"
    assert mail["References"].split() == [f"<{i}>" for i in thread]


def test_non_ascii_names_and_subjects_are_encoded():
    mail = parsed(compose(draft(from_name="Équipe Support", to_name="Zoë Ångström",
                                subject="Drucker brennt 🔥", to_address="zoe@bücher.de")))
    assert mail["From"] == "Équipe Support <help@example.com>"
    assert mail["To"] == "Zoë Ångström <zoe@xn--bcher-kva.de>"
    assert mail["Subject"] == "Re: Drucker brennt 🔥 [#12]"


def test_injection_through_a_name_or_subject_stays_inside_its_header():
    mail = parsed(compose(draft(to_name="Anna\r\nBcc: evil@example.com",
                                subject="Hi\r\nBcc: evil@example.com")))
    assert mail["Bcc"] is None
    assert mail["To"].addresses[0].addr_spec == "anna@example.org"
    assert mail["Subject"] == "Re: Hi Bcc: evil@example.com [#12]"


@pytest.mark.parametrize("field", ["to_address", "from_address"])
@pytest.mark.parametrize("address", [
    "anna@example.org\r\nBcc: evil@example.com",
    "anna@example.org\nBcc: evil@example.com",
    "Anna <anna@example.org>",
    "anna@example.org, evil@example.com",
    "not an address",
])
def test_bad_addresses_refuse_the_whole_message(field, address):
    with pytest.raises(InvalidAddress):
        compose(draft(**{field: address}))


@pytest.mark.parametrize("changes", [
    {"message_id": "<fd.r1.0123456789@example.com>"},
    {"message_id": "fd.r1.0123456789@example.com\r\nBcc: evil@example.com"},
    {"message_id": "no-at-sign"},
    {"date": datetime(2025, 3, 4, 9, 30)},  # noqa: DTZ001
])
def test_bad_ids_and_naive_dates_are_programming_errors(changes):
    with pytest.raises(ValueError):
        compose(draft(**changes))


@pytest.mark.parametrize(("inbox", "expected"), [
    (InboxSettings(slug="support", name="Support", addresses=("help@example.com",)),
     ("help@example.com", "Support")),
    (InboxSettings(slug="support", name="Support", from_name="Acme Help",
                   addresses=("help@example.com", "support@example.com")),
     ("help@example.com", "Acme Help")),
])
def test_sender_identity(inbox, expected):
    assert sender_identity(inbox) == expected


def test_an_inbox_without_address_cannot_send():
    with pytest.raises(Undeliverable, match="no address to send from"):
        sender_identity(InboxSettings(slug="chat", name="Chat"))
