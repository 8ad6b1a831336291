"""Build outbound mail as an `EmailMessage`. Pure: plain values in, a message out.

`compose(draft)` gives a reply as mail clients expect it: From the inbox (with its display
name), To the contact, a multipart/alternative text + HTML body (the HTML made from the
text), attachments, our Message-ID, In-Reply-To and References from the conversation's
earlier messages, `Re: <subject> [#<ticket>]` and a Date. Automatic answers (`automatic`)
also carry `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All` (RFC 3834).

Every address is checked before it reaches a header or the SMTP envelope: anything with a
line break, a control character or a syntax we do not send raises `InvalidAddress`. An
inbox sends as its first address under its `from_name` or name (`sender_identity`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import Policy
from email.utils import format_datetime
from typing import Protocol

from core.errors import FrontdeskError, InvalidInput
from inbox.messages import Attachment
from inbox.threading import TICKET_TOKEN

MAX_ADDRESS = 254
MAX_LOCAL_PART = 64
MAX_REFERENCES = 20
"""References keep the thread's first id and its newest ones, this many in all."""


class InvalidAddress(InvalidInput):
    """An address we refuse to put in a header or an SMTP command."""

    def __init__(self, address: object, reason: str):
        super().__init__(f"not a valid email address: {address!r} ({reason})",
                         field="address", code="invalid_address")
        self.reason = reason


class Undeliverable(FrontdeskError):
    """Mail that cannot be built: no address to send from, a missing attachment."""


# --------------------------------------------------------------------------- addresses

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _ascii_domain(domain: str, address: str) -> str:
    if not domain:
        raise InvalidAddress(address, "nothing after the @")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise InvalidAddress(address, "the domain is not a valid host name") from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddress(address, "the domain is not a valid host name")
    return ascii_domain.lower()


def validate_address(address: str) -> str:
    """`address` as we send it (domain lower-cased, IDNA-encoded), or InvalidAddress.

    Accepted: `local@domain` with a dot-atom local part (ASCII) and a host name domain.
    Refused: line breaks and other control characters, spaces, angle brackets, quoted local
    parts, address literals, a missing or doubled @, anything longer than 254 characters.
    """
    if not isinstance(address, str) or not address:
        raise InvalidAddress(address, "empty")
    if _CONTROL.search(address):
        raise InvalidAddress(address, "contains a line break or control character")
    if len(address) > MAX_ADDRESS:
        raise InvalidAddress(address, f"longer than {MAX_ADDRESS} characters")
    if address.count("@") != 1:
        raise InvalidAddress(address, "must contain exactly one @")
    local, domain = address.split("@")
    if not local.isascii():
        raise InvalidAddress(address, "non-ASCII before the @ is not supported")
    if not local or len(local) > MAX_LOCAL_PART or not _LOCAL_PART.fullmatch(local):
        raise InvalidAddress(address, "the part before the @ is not valid")
    return f"{local}@{_ascii_domain(domain, address)}"


def clean_display_name(name: str | None) -> str:
    """A display name safe for a header: control characters and runs of spaces become
    one space (names come from customers; they are cleaned, not refused)."""
    return " ".join(_CONTROL.sub(" ", name or "").split())[:200]


def mailbox(address: str, name: str | None = None) -> Address:
    """A header mailbox for a validated `address` with a cleaned display name."""
    local, domain = validate_address(address).split("@")
    return Address(display_name=clean_display_name(name), username=local, domain=domain)


def domain_of(address: str) -> str:
    """The domain of a valid address (for our Message-IDs)."""
    return validate_address(address).split("@")[1]


class SendingInbox(Protocol):
    """What an inbox sends as (an `inbox.directory.InboxChannel`, or the configuration's
    `InboxSettings`)."""

    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...
    @property
    def from_name(self) -> str: ...


def sender_identity(conf: SendingInbox) -> tuple[str, str]:
    """(address, display name) of mail from inbox `conf`: its first address, and its
    `from_name` or else its name. Undeliverable when it has no address."""
    if not conf.addresses:
        raise Undeliverable(f"inbox {conf.slug!r} has no address to send from")
    return conf.addresses[0], conf.from_name or conf.name


# ----------------------------------------------------------------- subject and threading

_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|vs)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.I)


def reply_subject(subject: str, ticket_number: int | None) -> str:
    """`Re: <subject> [#<ticket>]`: one `Re:` whatever the reply prefixes before it, and
    the ticket token once, at the end (older tokens are dropped)."""
    text = " ".join(_CONTROL.sub(" ", subject or "").split())
    while (match := _REPLY_PREFIX.match(text)) is not None:
        text = text[match.end():]
    if ticket_number is not None:
        text = " ".join(TICKET_TOKEN.sub(" ", text).split())
        text = f"{text} [#{ticket_number}]" if text else f"[#{ticket_number}]"
    return f"Re: {text}" if text else "Re:"


_MSG_ID = re.compile(r"[!-~]+@[!-~]+")
_MSG_ID_FORBIDDEN = re.compile(r"[<>()\[\]\\,;:\"]")


def is_message_id(value: str) -> bool:
    """Whether `value` can be written as `<value>` in a Message-ID or References header."""
    return (len(value) <= 900 and value.count("@") == 1 and _MSG_ID.fullmatch(value) is not None
            and _MSG_ID_FORBIDDEN.search(value) is None)


def thread_headers(thread_ids: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References) from the ids of the conversation's earlier messages, newest
    last. Values that are not Message-IDs (a form's key, a hash) and repeats are skipped;
    References keep the first id and the newest, MAX_REFERENCES in all."""
    usable = tuple(dict.fromkeys(i.strip() for i in thread_ids if is_message_id(i.strip())))
    if not usable:
        return None, ()
    if len(usable) > MAX_REFERENCES:
        usable = (usable[0], *usable[-(MAX_REFERENCES - 1):])
    return usable[-1], usable


class _IdListHeader(str):
    """A header of `<id>` tokens folded between ids and never encoded: the stdlib would
    RFC 2047-encode a long id in In-Reply-To or References, which breaks threading."""

    name: str

    def __new__(cls, name: str, ids: Sequence[str]) -> _IdListHeader:
        self = super().__new__(cls, " ".join(f"<{i}>" for i in ids))
        self.name = name
        return self

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 998
        lines, current = [], f"{self.name}:"
        for token in self.split(" "):
            if len(current) + 1 + len(token) > limit and current.strip() != f"{self.name}:":
                lines.append(current)
                current = ""
            current += f" {token}"
        lines.append(current)
        return policy.linesep.join(lines) + policy.linesep


# ----------------------------------------------------------------------------- bodies

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(text: str) -> str:
    """The text body: Unix line ends, no control characters but tabs, a final newline."""
    text = _BODY_CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.rstrip() + "\n"


def text_to_html(text: str) -> str:
    """An HTML version of plain `text`: escaped, blank lines make paragraphs, single line
    breaks make `<br>`."""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(plain_text(text).strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in paragraph.split("\n")) + "</p>"
        for paragraph in paragraphs)
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            f"<body>\n{body}\n</body></html>\n")


_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.content_type.partition("/")
    if not (_MIME_TYPE.fullmatch(maintype) and _MIME_TYPE.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    filename = clean_display_name(attachment.filename.replace("/", "_").replace("\\", "_"))
    message.add_attachment(attachment.content, maintype=maintype.lower(),
                           subtype=subtype.lower(), filename=filename or "attachment")


# ---------------------------------------------------------------------------- compose


@dataclass(frozen=True)
class Draft:
    """Everything a reply needs. `thread_ids`: the conversation's earlier message ids,
    newest last. `message_id` is ours, without angle brackets."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str | None
    subject: str
    text: str
    message_id: str
    date: datetime
    thread_ids: Sequence[str] = ()
    ticket_number: int | None = None
    attachments: Sequence[Attachment] = ()
    automatic: bool = False


def compose(draft: Draft) -> EmailMessage:
    """The reply as an `EmailMessage` (policy SMTP); InvalidAddress for a bad address,
    ValueError for a malformed Message-ID of ours or a naive date."""
    if not is_message_id(draft.message_id):
        raise ValueError(f"not a Message-ID: {draft.message_id!r}")
    if draft.date.tzinfo is None:
        raise ValueError("the Date of a message needs an aware datetime")
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = mailbox(draft.from_address, draft.from_name)
    message["To"] = mailbox(draft.to_address, draft.to_name)
    message["Subject"] = reply_subject(draft.subject, draft.ticket_number)
    message["Date"] = format_datetime(draft.date)
    message["Message-ID"] = _IdListHeader("Message-ID", [draft.message_id])
    in_reply_to, references = thread_headers(draft.thread_ids)
    if in_reply_to is not None:
        message["In-Reply-To"] = _IdListHeader("In-Reply-To", [in_reply_to])
        message["References"] = _IdListHeader("References", references)
    if draft.automatic:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(plain_text(draft.text))
    message.add_alternative(text_to_html(draft.text), subtype="html")
    if draft.attachments:
        message.make_mixed()
        for attachment in draft.attachments:
            _attach(message, attachment)
    for part in message.iter_parts():
        _drop_nested_mime_version(part)
    return message


def _drop_nested_mime_version(part: MIMEPart) -> None:
    del part["MIME-Version"]
    for child in part.iter_parts():
        _drop_nested_mime_version(child)


# ---------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class Notice:
    """A notification mailed to an agent: from an inbox's address, to the agent."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str | None
    subject: str
    text: str
    message_id: str
    date: datetime


def compose_notice(notice: Notice) -> EmailMessage:
    """The notice as an `EmailMessage` (policy SMTP): a plain text body, marked
    `Auto-Submitted: auto-generated` (RFC 3834) so nothing answers it automatically.
    InvalidAddress for a bad address, ValueError for a malformed Message-ID or a naive
    date."""
    if not is_message_id(notice.message_id):
        raise ValueError(f"not a Message-ID: {notice.message_id!r}")
    if notice.date.tzinfo is None:
        raise ValueError("the Date of a message needs an aware datetime")
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = mailbox(notice.from_address, notice.from_name)
    message["To"] = mailbox(notice.to_address, notice.to_name)
    message["Subject"] = " ".join(_CONTROL.sub(" ", notice.subject).split()) or "Frontdesk"
    message["Date"] = format_datetime(notice.date)
    message["Message-ID"] = _IdListHeader("Message-ID", [notice.message_id])
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(plain_text(notice.text))
    return message
