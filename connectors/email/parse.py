"""Read one raw email into the inbox's `InboundMessage`.

Pure: bytes in, values out. No I/O, no database, no clock; the SMTP and IMAP drivers store
the raw bytes first and call `parse_email` later, so a message this module rejects with
`EmailParseError` is quarantined, never lost.

The stdlib parser runs in its forgiving `compat32` mode with every header value cut to
`Limits.max_header_chars`; all decoding of headers, charsets and transfer encodings
is done here, so that:

- a broken or unknown charset degrades to U+FFFD replacement characters, never raises;
  8-bit text without a usable charset is read as UTF-8, else as Windows-1252, and
  ISO-8859-1 is read as its superset Windows-1252, as browsers do;
- nothing is ever decoded with `unicode_escape`: backslashes in text stay backslashes;
- NUL characters are removed from every string (databases refuse them);
- hostile structure is bounded (`core.limits.Limits`): at most `max_parts` MIME parts are
  read (the parser stops being fed once it has built that many), parts deeper than
  `max_depth` are not read, text and HTML are cut at `max_text_chars`, attachments over
  the size limits are left out;
- nothing is cut silently: every cut is counted in the message's `truncated` (what, which
  limit, how many were left out, the names of the attachments or header fields).
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import MessageError
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesFeedParser, BytesParser
from email.policy import Compat32
from email.utils import getaddresses, parsedate_to_datetime
from email.utils import unquote as unquote_param
from typing import Any

from connectors.email.quotes import find_quoted_text_start
from connectors.email.sanitize import html_to_text, sanitize_html
from core.limits import Limits
from inbox.messages import Attachment, InboundMessage, Truncation


class EmailParseError(ValueError):
    """The bytes cannot be read as an email at all; the connector quarantines them."""


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """An `InboundMessage` plus what the email connector needs to route it.

    - `auto_reason`: why `message.automatic` is set, e.g. "auto-submitted:auto-replied",
      "precedence:list", "bounce"; None for mail written by a person.
    - `is_bounce`, `bounced_message_id`, `bounce_reason`: a delivery-status report with a
      failed recipient, the Message-ID of the message that bounced and the failed
      recipient's Diagnostic-Code (or Status).
    - `auto_submitted`: the raw Auto-Submitted header, if any.
    - `mailing_list`: for mail that came through a mailing list, its List-Id (or the name
      of the first RFC 2369 `List-*` field, when there is no List-Id); such mail may be
      written by a person, but it never gets an automatic answer (RFC 3834, section 2).
    - `authentication_results`: the message's Authentication-Results fields, topmost (the
      nearest hop's) first; whose to believe is the connector's setting.

    What the limits left out is in `message.truncated`.
    """

    message: InboundMessage
    auto_reason: str | None = None
    is_bounce: bool = False
    bounced_message_id: str | None = None
    bounce_reason: str | None = None
    auto_submitted: str | None = None
    mailing_list: str | None = None
    authentication_results: tuple[AuthenticationResults, ...] = ()


def parse_email(
    raw: bytes, *, inbox: str, limits: Limits = DEFAULT_LIMITS
) -> ParsedEmail:
    """Parse the raw bytes of one email received by `inbox`.

    Returns the normalized `InboundMessage` (channel "email"; `external_id` is the
    Message-ID without angle brackets, or "sha256:<hex of raw>" without one; addresses
    lower-cased; `sent_at` aware or None; `text` with "\n" line endings; `html`
    sanitized; `quoted_text_start` from `quotes.find_quoted_text_start`) together with
    the connector's routing facts (automatic mail, bounces), and in `message.truncated`
    what `limits` left out.

    Pure: never reads the clock, a file or the network. Raises `EmailParseError` when
    the bytes are not an email at all (empty, no header fields); every other oddity is
    tolerated, normalized and bounded by `limits`. MIME nesting deeper than the standard
    library's parser can follow (it recurses per level) leaves the header fields only,
    its parts counted as too deep. Raises `TypeError` for anything but bytes.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_email needs bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise EmailParseError("empty message")
    try:
        try:
            return _parse(raw, inbox, limits)
        except RecursionError:
            return _parse(raw, inbox, limits, read_body=False)
    except EmailParseError:
        raise
    except RecursionError as exc:
        raise EmailParseError("MIME structure is nested too deeply to read") from exc
    except (MessageError, LookupError, ValueError, IndexError) as exc:
        raise EmailParseError(f"unreadable message: {exc}") from exc
    except TypeError as exc:  # the email package's, on parameters it cannot decode
        raise EmailParseError(f"unreadable message: {exc}") from exc


def _parse(raw: bytes, inbox: str, limits: Limits, *, read_body: bool = True) -> ParsedEmail:
    tree = _parse_tree(raw, limits, headers_only=not read_body)
    root = tree.root
    if not root.keys():
        raise EmailParseError("no header fields: this is not an email")
    parts, unread = _walk(root, limits) if read_body else ([], Counter())
    unread += tree.unread
    body = _read_body(parts, limits)
    attachments, left_out = _read_attachments(
        [part for part in parts if _is_attachment(part, body.parts)], limits
    )
    report = _read_report(parts)
    sender_email, sender_name = _sender(root)
    auto_reason = _automatic_reason(root, report, sender_email)
    message = InboundMessage(
        inbox=inbox,
        channel="email",
        sender_email=sender_email,
        sender_name=sender_name,
        subject=header_text(root.get("subject", "")),
        text=body.text,
        html=body.html,
        external_id=_external_id(root, raw),
        to=_addresses(root, "to"),
        cc=_addresses(root, "cc"),
        sent_at=parse_date(root.get("date")),
        in_reply_to=next(iter(parse_message_ids(root.get("in-reply-to", ""))), None),
        references=parse_message_ids(root.get("references", "")),
        automatic=auto_reason is not None,
        attachments=attachments,
        quoted_text_start=find_quoted_text_start(body.text),
        truncated=(*_parts_unread(unread, limits), *_headers_cut(tree.cut_headers, limits),
                   *body.cuts, *left_out),
    )
    return ParsedEmail(
        message=message,
        auto_reason=auto_reason,
        is_bounce=report.is_bounce if report else False,
        bounced_message_id=report.bounced_message_id if report else None,
        bounce_reason=report.bounce_reason if report else None,
        auto_submitted=_optional_text(root.get("auto-submitted")),
        mailing_list=_mailing_list(root),
        authentication_results=_authentication_results(root),
    )


def _parts_unread(unread: Counter[str], limits: Limits) -> list[Truncation]:
    counted = [("max_parts", limits.max_parts), ("max_depth", limits.max_depth)]
    return [Truncation("parts", name, value, unread[name]) for name, value in counted
            if unread[name]]


def _headers_cut(cut: Sequence[tuple[str, int]], limits: Limits) -> list[Truncation]:
    if not cut:
        return []
    names = tuple(dict.fromkeys(name for name, _ in cut))
    return [Truncation("headers", "max_header_chars", limits.max_header_chars, len(cut), names)]


# --- the MIME tree -------------------------------------------------------------------

_FEED_CHUNK = 64 * 1024


class _RawHeaders(Compat32):
    """compat32 that cuts long header values and hands them out undecoded.

    Each value it cuts is noted in `cut_headers` (name, characters cut), when given.
    """

    max_header_chars = 10_000
    cut_headers: list[tuple[str, int]] | None = None

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        over = len(value) - self.max_header_chars
        if over > 0 and self.cut_headers is not None:
            self.cut_headers.append((name.strip().lower(), over))
        return name, value[: self.max_header_chars]

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


class _RawMessage(Message):
    """A parsed part that hands out its payload as the bytes that arrived.

    `Message.get_payload()` decodes 8-bit payloads with whatever charset the part
    declares (including `unicode_escape`, or codecs that always raise); this module
    decodes text itself, so it reads the payload through `raw_payload` only.
    """

    params_by_header: dict[str, list[tuple[str, Any]] | None] | None = None
    """`_params` of each header asked for so far (a part is read only once parsed)."""

    def raw_payload(self) -> bytes:
        payload = getattr(self, "_payload", None)  # the parser's own, undecoded storage
        return _to_bytes(payload) if isinstance(payload, str) else b""


class _CountingFactory:
    """Builds the parser's messages and counts them, so parsing can stop at a limit."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, policy: Compat32 | None = None) -> Message:
        self.count += 1
        return _RawMessage(policy=policy or _RawHeaders())


@dataclass(frozen=True, slots=True)
class _Tree:
    """The parsed MIME tree, the parts left unread by the limit that left them (counted
    by their boundary lines), and the header values cut."""

    root: Message
    unread: Counter[str]
    cut_headers: list[tuple[str, int]]


def _parse_tree(raw: bytes, limits: Limits, *, headers_only: bool = False) -> _Tree:
    """Parse `raw`, feeding it in chunks until the parser has built `max_parts` parts.
    `headers_only`: the root's header fields alone, every part counted as too deep."""
    factory = _CountingFactory()
    cut_headers: list[tuple[str, int]] = []
    # Policy() accepts any attribute its class defines; the stubs only know the stdlib ones.
    policy = _RawHeaders(max_header_chars=limits.max_header_chars,  # type: ignore[call-arg]
                         cut_headers=cut_headers)
    if headers_only:
        root = BytesParser(factory, policy=policy).parsebytes(raw, headersonly=True)
        return _Tree(root, Counter(max_depth=_count_parts(raw, _boundaries(raw))), cut_headers)
    parser = BytesFeedParser(factory, policy=policy)
    built_before = factory.count  # the parser builds one message to probe the factory
    fed = 0
    while fed < len(raw):
        if factory.count - built_before > limits.max_parts:
            unread = _count_parts(raw[fed:], _boundaries(raw))
            return _Tree(parser.close(), Counter(max_parts=unread), cut_headers)
        chunk_end = _line_end_before(raw, fed, fed + _FEED_CHUNK)
        parser.feed(raw[fed:chunk_end])
        fed = chunk_end
    return _Tree(parser.close(), Counter(), cut_headers)


def _line_end_before(raw: bytes, start: int, end: int) -> int:
    """Where a chunk of `raw[start:end]` ends on a whole line (after its last LF), so that
    what is left unread starts a line; `end` when the chunk holds no LF."""
    if end >= len(raw):
        return len(raw)
    last_lf = raw.rfind(b"\n", start, end)
    return end if last_lf == -1 else last_lf + 1


_BOUNDARY_PARAM = re.compile(rb'boundary[ \t]*=[ \t]*(?:"([^"\r\n]+)"|([^\s;"]+))',
                             re.IGNORECASE)
_DASH_LINE = re.compile(rb"^--([^\r\n]*?)[ \t]*\r?$", re.MULTILINE)


def _boundaries(raw: bytes) -> set[bytes]:
    """Every boundary parameter `raw` declares, in any part."""
    return {quoted or bare for quoted, bare in _BOUNDARY_PARAM.findall(raw)}


def _count_parts(data: bytes, boundaries: set[bytes]) -> int:
    """How many MIME parts begin in `data`: its lines `--boundary` (not the closing
    `--boundary--`) for any of `boundaries`."""
    return sum(1 for line in _DASH_LINE.finditer(data) if line.group(1) in boundaries)


@dataclass(frozen=True, slots=True)
class _Part:
    """One leaf of the MIME tree, with what the body and attachment rules look at."""

    message: Message
    index: int
    content_type: str
    disposition: str | None
    filename: str | None
    content_id: str | None
    parent_type: str | None
    report_type: str | None


def _walk(root: Message, limits: Limits) -> tuple[list[_Part], Counter[str]]:
    """List the leaf parts depth-first, within `max_parts` and `max_depth`; and how many
    parts each of the two left unread."""
    leaves: list[_Part] = []
    unread: Counter[str] = Counter()
    stack: list[tuple[Message, int, str | None, str | None]] = [(root, 0, None, None)]
    visited = 0
    while stack:
        message, depth, parent_type, report_type = stack.pop()
        visited += 1
        if visited > limits.max_parts or depth > limits.max_depth:
            limit = "max_parts" if visited > limits.max_parts else "max_depth"
            unread[limit] += _tree_size(message)
            continue
        content_type = _content_type(message)
        children = message.get_payload() if message.is_multipart() else None
        if content_type.startswith("multipart/") and isinstance(children, list):
            if content_type == "multipart/report":
                report_type = (_param(message, "report-type") or "").lower()
            stack.extend(
                (child, depth + 1, content_type, report_type)
                for child in reversed(children) if isinstance(child, Message)
            )
            continue
        leaves.append(_leaf(message, visited, content_type, parent_type, report_type))
    return leaves, unread


def _tree_size(message: Message) -> int:
    """How many parts `message` is: itself and every part nested in it."""
    size, stack = 0, [message]
    while stack:
        part = stack.pop()
        size += 1
        children = part.get_payload() if part.is_multipart() else None
        if isinstance(children, list):
            stack.extend(child for child in children if isinstance(child, Message))
    return size


def _leaf(
    message: Message,
    index: int,
    content_type: str,
    parent_type: str | None,
    report_type: str | None,
) -> _Part:
    if content_type.startswith("multipart/"):
        content_type = "text/plain"  # a multipart without a usable boundary is text
    return _Part(
        message=message,
        index=index,
        content_type=content_type,
        disposition=message.get_content_disposition(),
        filename=_filename(message),
        content_id=_content_id(message),
        parent_type=parent_type,
        report_type=report_type,
    )


_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _content_type(message: Message) -> str:
    content_type = message.get_content_type()
    if _MIME_TYPE.fullmatch(content_type):
        return content_type
    return "application/octet-stream"


def _raw_param(message: Message, name: str,
               header: str) -> str | tuple[str | None, str | None, str] | None:
    """`get_param(name, None, header)`, or None where the header's parameters cannot be
    decoded (the standard library raises TypeError on a parameter given both whole and in
    numbered parts)."""
    for key, value in _params(message, header) or ():
        if key == name:  # the standard library gives them in lower case
            return value  # type: ignore[no-any-return]
    return None


def _params(message: Message, header: str) -> list[tuple[str, Any]] | None:
    """`get_params(None, header)` (None also where they cannot be decoded), parsed once per
    part and header: the charset, format and file name all come from the same headers."""
    cache: dict[str, list[tuple[str, Any]] | None] = {}
    if isinstance(message, _RawMessage):
        if message.params_by_header is None:
            message.params_by_header = {}
        cache = message.params_by_header
    if header not in cache:
        try:
            cache[header] = message.get_params(None, header)
        except TypeError:
            cache[header] = None
    return cache[header]


def _charset(message: Message) -> str | None:
    value = _raw_param(message, "charset", "content-type")
    return str(value[2] if isinstance(value, tuple) else value).lower() if value else None


def _param(message: Message, name: str, header: str = "content-type") -> str | None:
    value = _raw_param(message, name, header)
    if value is None:
        return None
    if isinstance(value, tuple):
        return _rfc2231_text(value)
    return header_text(str(value))


# --- payloads --------------------------------------------------------------------------


def _payload_bytes(message: Message) -> bytes:
    """The decoded content of a leaf part (a nested message comes back as bytes)."""
    if message.is_multipart():
        items = message.get_payload()
        return b"\n".join(_message_bytes(item) for item in items if isinstance(item, Message))
    data = message.raw_payload() if isinstance(message, _RawMessage) else b""
    encoding = str(message.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def _message_bytes(message: Message) -> bytes:
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False).flatten(message)
    return buffer.getvalue()


_NOT_BASE64 = bytes(
    sorted(
        set(range(256))
        - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    )
)


def decode_base64(data: bytes) -> bytes:
    """Decode base64 leniently: junk characters are skipped and bad padding repaired."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        clean = data.translate(None, _NOT_BASE64)
        if len(clean) % 4 == 1:
            clean = clean[:-1]  # a lone trailing character does not complete a byte
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def _to_bytes(text: str) -> bytes:
    """The original bytes of a string from the byte parser (8-bit bytes as surrogates)."""
    for encoding in ("latin-1", "utf-8"):
        try:
            return text.encode(encoding, "surrogateescape")
        except UnicodeEncodeError:
            continue
    return text.encode("utf-8", "replace")


# --- charsets ------------------------------------------------------------------------

_CHARSET_LABEL = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")
_UNDECLARED = frozenset({"", "ascii", "unknown-8bit", "x-unknown", "8bit", "default"})
# Text codecs that are not charsets; decoding mail with them would be wrong or unsafe.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode"})
_SUPERSETS = {"iso8859-1": "cp1252", "iso8859-9": "cp1254", "gb2312": "gbk", "euc_kr": "cp949"}


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode `data` declared as `charset`; never raises.

    No or a US-ASCII declaration: UTF-8 if the bytes are valid UTF-8, else Windows-1252.
    An unknown or unusable charset: UTF-8 with U+FFFD for what does not decode.
    """
    label = (charset or "").strip().strip("\"'").lower()
    codec = _codec(label)
    if codec is None and label not in _UNDECLARED:
        return data.decode("utf-8", "replace")
    if codec is None or codec == "ascii":
        return _decode_undeclared(data)
    try:
        return data.decode(codec, "replace")
    except (LookupError, UnicodeError):  # a codec that is not a text encoding
        return data.decode("utf-8", "replace")


def _codec(label: str) -> str | None:
    if not _CHARSET_LABEL.fullmatch(label):
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(name, name)


def _decode_undeclared(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


# --- header fields -------------------------------------------------------------------

_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _from_raw(value: str) -> str:
    """A raw header string as text: 8-bit bytes in it are read as undeclared text."""
    if value.isascii():
        return value
    return _decode_undeclared(_to_bytes(value))


def header_text(value: str) -> str:
    """The display text of an unstructured header value such as Subject.

    Unfolds, decodes RFC 2047 encoded words in any charset, turns tabs into spaces,
    drops other control characters and trims.
    """
    text = decode_encoded_words(_from_raw(_FOLDING.sub("", value)))
    return _CONTROL.sub("", text.replace("\t", " ")).strip()


def _optional_text(value: str | None) -> str | None:
    return None if value is None else header_text(value)


def decode_encoded_words(value: str) -> str:
    """Decode the RFC 2047 encoded words in `value`; everything else is kept as is.

    Whitespace between two encoded words is dropped, adjacent words in one charset are
    decoded together (so a character split across them survives), and a broken word
    or unknown charset yields U+FFFD replacement characters, never an exception.
    """
    chunks: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        after_word = bool(chunks) and chunks[-1][0] is not None
        if between and not (after_word and between.isspace()):
            chunks.append((None, between))
        charset, encoding, payload = match.groups()
        chunks.append((charset.split("*", 1)[0].lower(), _decode_word(encoding, payload)))
        position = match.end()
    if not chunks:
        return value
    chunks.append((None, value[position:]))
    return "".join(_join_chunks(chunks))


def _decode_word(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        return decode_base64(payload.encode("ascii", "ignore"))
    return binascii.a2b_qp(payload.encode("utf-8", "replace"), header=True)


def _join_chunks(chunks: Iterable[tuple[str | None, bytes | str]]) -> list[str]:
    pieces: list[str] = []
    pending_charset: str | None = None
    pending = bytearray()
    for charset, content in chunks:
        if charset is not None and charset == pending_charset and isinstance(content, bytes):
            pending += content
            continue
        if pending_charset is not None:
            pieces.append(decode_text(bytes(pending), pending_charset))
        pending_charset, pending = None, bytearray()
        if isinstance(content, str):
            pieces.append(content)
        else:
            pending_charset, pending = charset, bytearray(content)
    if pending_charset is not None:
        pieces.append(decode_text(bytes(pending), pending_charset))
    return pieces


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")


def parse_addresses(value: str) -> tuple[tuple[str | None, str], ...]:
    """(display name or None, lower-cased address) for each mailbox in an address header.

    Groups are flattened; entries without a plausible address (`<>`, `MAILER-DAEMON`,
    `undisclosed-recipients:;`) are left out.
    """
    found: list[tuple[str | None, str]] = []
    text = _CONTROL.sub("", _from_raw(_FOLDING.sub("", value)))
    for name, address in mailboxes(text):
        address = address.strip().lower()
        if _ADDRESS.fullmatch(address):
            found.append((header_text(name) or None, address))
    return tuple(found)


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_MAILBOX = re.compile(
    rf"[ \t]*(?:(?:(?P<name>{_ATOM}(?: {_ATOM})*) ?)?<(?P<angled>{_PLAIN_ADDRESS})>"
    rf"|(?P<bare>{_PLAIN_ADDRESS}))[ \t]*")


def mailboxes(text: str) -> list[tuple[str, str]]:
    """`email.utils.getaddresses([text])`. Most headers name one mailbox plainly (`a@b`,
    `Name Words <a@b>`); those are read with one regular expression, as the standard
    library reads them, and the rest by the standard library."""
    plain = _PLAIN_MAILBOX.fullmatch(text)
    if plain is None:
        return getaddresses([text])
    if plain["bare"] is not None:
        return [("", plain["bare"])]
    return [(plain["name"] or "", plain["angled"])]


def _addresses(root: Message, name: str) -> tuple[str, ...]:
    values = root.get_all(name) or []
    found = (address for value in values for _, address in parse_addresses(value))
    return tuple(dict.fromkeys(found))


def _sender(root: Message) -> tuple[str | None, str | None]:
    """(address, display name) from From, falling back to Sender, then Return-Path."""
    for name in ("from", "sender", "return-path"):
        mailboxes = parse_addresses(root.get(name, ""))
        if mailboxes:
            display, address = mailboxes[0]
            return address, display
    return None, None


_BRACKETED_ID = re.compile(r"<([^<>]*)>")
_BARE_TOKEN = re.compile(r"[^\s,<>]+")


def parse_message_ids(value: str) -> tuple[str, ...]:
    """The Message-IDs in a Message-ID, In-Reply-To or References value, in order.

    Angle brackets and whitespace inside them are removed, duplicates dropped. Without
    any bracketed id, whitespace- or comma-separated tokens containing "@" count, so
    `a@x, b@y` works and a comment such as "(Anna's message of Monday)" does not.
    """
    text = _CONTROL.sub("", _from_raw(value))
    ids = ["".join(found.split()) for found in _BRACKETED_ID.findall(text)]
    ids = [found for found in ids if found]
    if not ids:
        ids = [token for token in _BARE_TOKEN.findall(text) if "@" in token]
    return tuple(dict.fromkeys(ids))


# --- Authentication-Results (RFC 8601) ---------------------------------------------------

MAX_AUTHENTICATION_RESULTS = 20
"""Authentication-Results fields read, from the top: each hop adds its own above the
others, so the one of the MTA in front of us is among the first."""


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    """One Authentication-Results field: the authentication service that added it
    (`authserv_id`, lower-cased) and what it found, (method, result) per check, lower-cased
    (e.g. ("dmarc", "fail"))."""

    authserv_id: str
    results: tuple[tuple[str, str], ...] = ()


_FIRST_VALUE = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')
_METHOD_RESULT = re.compile(
    r"\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*(?:/\s*[0-9]+\s*)?=\s*([A-Za-z0-9][A-Za-z0-9_.-]*)")


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """Read one Authentication-Results field value (RFC 8601, section 2.2): the
    authserv-id (its version ignored) and each `method[/version]=result`; reasons and
    properties are ignored, and so are comments. None when the value names no
    authserv-id; a part that is not a result (`none`, garbage) is skipped. Never raises."""
    parts = _semicolon_parts(_CONTROL.sub("", _from_raw(_FOLDING.sub("", value))))
    first = _FIRST_VALUE.match(parts[0])
    authserv_id = unquote_param(first[1]).strip().lower() if first else ""
    if not authserv_id:
        return None
    results = tuple((found[1].lower(), found[2].lower()) for part in parts[1:]
                    if (found := _METHOD_RESULT.match(part)) is not None)
    return AuthenticationResults(authserv_id, results)


# A quoted string (to its end), a quoted pair, a parenthesis, or a run of anything else.
_LEXEME = re.compile(r'"(?:[^"\\]|\\.)*"?|\\.?|[()]|[^"\\()]+', re.DOTALL)
_QUOTED_OR_SEMICOLON = re.compile(r'"(?:[^"\\]|\\.)*"?|;|[^";]+', re.DOTALL)


def _semicolon_parts(text: str) -> list[str]:
    """`text` without its comments (nested ones too), split at the semicolons outside
    quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    for lexeme in _QUOTED_OR_SEMICOLON.findall(_without_comments(text)):
        if lexeme == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(lexeme)
    return [*parts, "".join(current)]


def _without_comments(text: str) -> str:
    kept: list[str] = []
    depth = 0
    for lexeme in _LEXEME.findall(text):
        if lexeme == "(":
            depth += 1
        elif lexeme == ")" and depth:
            depth -= 1
            kept.append(" " if depth == 0 else "")
        elif depth == 0:
            kept.append(lexeme)
    return "".join(kept)


def _authentication_results(root: Message) -> tuple[AuthenticationResults, ...]:
    values = (root.get_all("authentication-results") or [])[:MAX_AUTHENTICATION_RESULTS]
    found = (parse_authentication_results(value) for value in values)
    return tuple(result for result in found if result is not None)


def dmarc_failed(results: Iterable[AuthenticationResults], trusted: Iterable[str]) -> bool:
    """Whether an authentication service named in `trusted` (authserv-ids, any case)
    reported `dmarc=fail`. Fields added by any other service are ignored: anyone can
    write them."""
    trusted_ids = {authserv_id.strip().lower() for authserv_id in trusted}
    return any(result.authserv_id in trusted_ids and ("dmarc", "fail") in result.results
               for result in results)


def _external_id(root: Message, raw: bytes) -> str:
    value = root.get("message-id", "")
    ids = parse_message_ids(value) or _BARE_TOKEN.findall(_CONTROL.sub("", _from_raw(value)))
    if ids:
        return ids[0]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_date(value: str | None) -> datetime | None:
    """An aware datetime from a Date header, or None when it is missing or unreadable.

    A date without a usable zone ("-0000") is taken as UTC.
    """
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(header_text(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _content_id(message: Message) -> str | None:
    value = message.get("content-id")
    if value is None:
        return None
    text = header_text(value)
    bracketed = _BRACKETED_ID.findall(text)
    content_id = (bracketed[0] if bracketed else text).strip()
    return content_id or None


# --- file names ----------------------------------------------------------------------

_MAX_FILENAME = 255


def _filename(message: Message) -> str | None:
    value = _raw_param(message, "filename", "content-disposition")
    if value is None:
        value = _raw_param(message, "name", "content-type")
    if value is None:
        return None
    text = _rfc2231_text(value) if isinstance(value, tuple) else unquote_param(str(value))
    return safe_filename(header_text(text))


def _rfc2231_text(value: tuple[str | None, str | None, str]) -> str:
    charset, _language, text = value
    return decode_text(_to_bytes(text), charset)


_BIDI_CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Marks and embeddings, overrides and isolates that reorder how text is shown: in a file
name they can make "invoice\u202efdp.exe" read as "invoiceexe.pdf"."""


def safe_filename(name: str) -> str | None:
    """The last path component of `name` without control characters (bidirectional
    controls included), at most 255 long.

    None when nothing usable is left ("", ".", "..").
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _BIDI_CONTROL.sub("", _CONTROL.sub("", name)).strip()
    if name in ("", ".", ".."):
        return None
    if len(name) > _MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: _MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            name = name[:_MAX_FILENAME]
    return name


_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/pgp-signature": ".asc",
    "message/rfc822": ".eml",
}


def _attachment_name(part: _Part) -> str:
    if part.filename:
        return part.filename
    return f"part-{part.index}{_EXTENSIONS.get(part.content_type, '.bin')}"


# --- body ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Body:
    text: str
    html: str | None
    parts: tuple[_Part, ...]
    cuts: tuple[Truncation, ...]


def _read_body(parts: Sequence[_Part], limits: Limits) -> _Body:
    """The first text/plain and first text/html that are not attachments, each cut at
    `max_text_chars` (and the cuts counted).

    The text is the plain part, or the text of the HTML when there is no plain part or
    it is blank (some mailers send an empty plain alternative).
    """
    plain_part = _first_body_part(parts, "text/plain")
    html_part = _first_body_part(parts, "text/html")
    text, html, text_cut, html_cut = "", None, 0, 0
    if html_part is not None:
        raw_html, html_cut = _part_text(html_part, limits)
        html = sanitize_html(raw_html).strip() or None
    if plain_part is not None:
        text, text_cut = _part_text(plain_part, limits)
    if html is not None and not text.strip():
        text = html_to_text(html)
        text_cut = max(0, len(text) - limits.max_text_chars)
        text = text[: limits.max_text_chars]
    used = tuple(part for part in (plain_part, html_part) if part is not None)
    cuts = tuple(Truncation(what, "max_text_chars", limits.max_text_chars, dropped)
                 for what, dropped in (("text", text_cut), ("html", html_cut)) if dropped)
    return _Body(text=text, html=html, parts=used, cuts=cuts)


def _first_body_part(parts: Sequence[_Part], content_type: str) -> _Part | None:
    for part in parts:
        if (
            part.content_type == content_type
            and part.disposition != "attachment"
            and part.filename is None
        ):
            return part
    return None


def _part_text(part: _Part, limits: Limits) -> tuple[str, int]:
    """The decoded text of a part with \\n line endings, cut at `max_text_chars`, and how
    many characters were cut off (of the decoded text, counted before format=flowed
    lines are joined: joining works on the part that is kept only)."""
    text = decode_text(_payload_bytes(part.message), _charset(part.message))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.removeprefix("\ufeff")
    limit = limits.max_text_chars
    cut = max(0, len(text) - limit)
    text = text[:limit]
    if (_param(part.message, "format") or "").lower() == "flowed":
        delete_space = (_param(part.message, "delsp") or "").lower() == "yes"
        text = unflow(text, delete_space=delete_space)
        cut += max(0, len(text) - limit)  # it may add a space after quote marks
    return text[:limit], cut


def unflow(text: str, *, delete_space: bool = False) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676).

    A line ending in a space continues on the next line of the same quote depth; the
    signature delimiter "-- " is never joined; space-stuffing is undone.
    """
    lines: list[str] = []
    pending: tuple[int, str] | None = None
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:].removeprefix(" ")
        if pending is not None and pending[0] == depth:
            content = pending[1] + content
        elif pending is not None:
            lines.append(_quoted_line(*pending))
        pending = None
        if content.endswith(" ") and content != "-- ":
            pending = (depth, content[:-1] if delete_space else content)
        else:
            lines.append(_quoted_line(depth, content))
    if pending is not None:
        lines.append(_quoted_line(*pending))
    return "\n".join(lines)


def _quoted_line(depth: int, content: str) -> str:
    if depth and content:
        return ">" * depth + " " + content
    return ">" * depth + content


# --- attachments ---------------------------------------------------------------------

_REPORT_PARTS = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/global-disposition-notification",
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)


def _is_attachment(part: _Part, body_parts: Sequence[_Part]) -> bool:
    """Every leaf that is not the body becomes an attachment, except two kinds.

    The machine-readable parts of a report (status, returned message) are read by
    `_read_report` instead; unnamed text alternatives of the body (a second rendering in
    multipart/alternative) add nothing. Calendar invitations are always kept.
    """
    if any(part is used for used in body_parts):
        return False
    if part.report_type is not None and part.content_type in _REPORT_PARTS:
        return False
    if part.filename or part.disposition == "attachment" or part.content_id:
        return True
    return not (
        part.parent_type == "multipart/alternative"
        and part.content_type.startswith("text/")
        and part.content_type != "text/calendar"
    )


def _read_attachments(
    parts: Sequence[_Part], limits: Limits
) -> tuple[tuple[Attachment, ...], tuple[Truncation, ...]]:
    """The attachments within the size limits, in order, and those left out, counted by
    the limit that left them out."""
    kept: list[Attachment] = []
    too_big: list[str] = []
    over_total: list[str] = []
    total = 0
    for part in parts:
        name = _attachment_name(part)
        content = _payload_bytes(part.message)
        size = len(content)
        if size > limits.max_attachment_bytes:
            too_big.append(name)
            continue
        if total + size > limits.max_total_attachment_bytes:
            over_total.append(name)
            continue
        total += size
        kept.append(
            Attachment(
                filename=name,
                content_type=part.content_type,
                content=content,
                inline=_is_inline(part),
                content_id=part.content_id,
            )
        )
    counted = (("max_attachment_bytes", limits.max_attachment_bytes, too_big),
               ("max_total_attachment_bytes", limits.max_total_attachment_bytes, over_total))
    cuts = tuple(Truncation("attachments", limit, value, len(names), tuple(names))
                 for limit, value, names in counted if names)
    return tuple(kept), cuts


def _is_inline(part: _Part) -> bool:
    if part.disposition is None:
        return part.content_id is not None
    return part.disposition == "inline"


# --- reports and automatic mail --------------------------------------------------------

_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_HEADER_PARTS = frozenset(
    {"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"}
)
_MESSAGE_PARTS = frozenset({"message/rfc822", "message/global"})
_MESSAGE_ID_FIELD = re.compile(
    r"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)
_MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class _Report:
    reason: str
    is_bounce: bool
    bounced_message_id: str | None
    bounce_reason: str | None


def _read_report(parts: Sequence[_Part]) -> _Report | None:
    """What a multipart/report says: a bounce when a recipient failed.

    A delivery-status report whose recipients were only delayed, relayed or delivered is
    automatic mail but not a bounce.
    """
    report_parts = [part for part in parts if part.report_type is not None]
    if not report_parts:
        return None
    status = next((part for part in report_parts if part.content_type in _STATUS_PARTS), None)
    report_type = report_parts[0].report_type or ("delivery-status" if status else "unknown")
    recipients = _recipient_fields(status) if status else []
    failed = [fields for fields in recipients if fields.get("action", "").lower() == "failed"]
    undeclared = not any("action" in fields for fields in recipients)
    is_bounce = report_type == "delivery-status" and (bool(failed) or undeclared)
    if report_type != "delivery-status":
        reason = f"report:{report_type}"
    else:
        reason = "bounce" if is_bounce else "delivery-status"
    return _Report(
        reason=reason,
        is_bounce=is_bounce,
        bounced_message_id=_returned_message_id(report_parts),
        bounce_reason=_bounce_reason(failed or recipients) if is_bounce else None,
    )


def _recipient_fields(status: _Part) -> list[dict[str, str]]:
    """The per-recipient field blocks of a delivery-status part, names lower-cased."""
    if status.message.is_multipart():
        payload = status.message.get_payload()
        blocks = [block.items() for block in payload if isinstance(block, Message)]
    else:
        text = decode_text(_payload_bytes(status.message), None).replace("\r\n", "\n")
        blocks = [_field_lines(block) for block in re.split(r"\n[ \t]*\n", text)]
    fields = [{name.lower(): header_text(value) for name, value in block} for block in blocks]
    return [block for block in fields if "action" in block or "final-recipient" in block]


def _field_lines(block: str) -> list[tuple[str, str]]:
    unfolded = _FOLDING.sub("", block.replace("\n", "\r\n")).split("\r\n")
    return [
        (name.strip(), value)
        for name, separator, value in (line.partition(":") for line in unfolded)
        if separator
    ]


def _bounce_reason(recipients: Sequence[dict[str, str]]) -> str | None:
    for fields in recipients:
        reason = fields.get("diagnostic-code") or fields.get("status")
        if reason:
            return " ".join(reason.split())[:_MAX_REASON]
    return None


def _returned_message_id(report_parts: Sequence[_Part]) -> str | None:
    for part in report_parts:
        value = None
        if part.content_type in _MESSAGE_PARTS:
            value = _nested_message_id(part.message)
        elif part.content_type in _HEADER_PARTS:
            text = decode_text(_payload_bytes(part.message), _charset(part.message))
            match = _MESSAGE_ID_FIELD.search(text)
            value = match.group(1) if match else None
        ids = parse_message_ids(value or "")
        if ids:
            return ids[0]
    return None


def _nested_message_id(message: Message) -> str | None:
    if message.is_multipart():
        payload = message.get_payload()
        first = payload[0] if isinstance(payload, list) and payload else None
        return first.get("message-id") if isinstance(first, Message) else None
    match = _MESSAGE_ID_FIELD.search(decode_text(_payload_bytes(message), None))
    return match.group(1) if match else None


def _automatic_reason(root: Message, report: _Report | None, sender: str | None) -> str | None:
    """Why this message was sent by a machine (RFC 3834 and common practice), or None."""
    if report is not None:
        return report.reason
    checks = (
        _auto_submitted_reason(root),
        _suppress_reason(root),
        _autoreply_header_reason(root),
        _precedence_reason(root),
        _null_sender_reason(root, sender),
    )
    return next((reason for reason in checks if reason), None)


def _first_token(value: str | None) -> str:
    text = header_text(value or "").lower()
    return re.split(r"[;\s]", text, maxsplit=1)[0] if text else ""


def _auto_submitted_reason(root: Message) -> str | None:
    token = _first_token(root.get("auto-submitted"))
    return f"auto-submitted:{token}" if token and token != "no" else None


def _suppress_reason(root: Message) -> str | None:
    text = header_text(root.get("x-auto-response-suppress", "")).lower()
    tokens = set(re.split(r"[\s,]+", text))
    for token in ("all", "oof"):
        if token in tokens:
            return f"x-auto-response-suppress:{token}"
    return None


def _autoreply_header_reason(root: Message) -> str | None:
    for name in ("x-autoreply", "x-autorespond"):
        if root.get(name) is not None:
            return name
    return None


def _precedence_reason(root: Message) -> str | None:
    token = _first_token(root.get("precedence"))
    return f"precedence:{token}" if token in ("bulk", "list", "junk") else None


LIST_FIELDS = ("list-unsubscribe", "list-post", "list-help", "list-subscribe", "list-owner",
               "list-archive")


def _mailing_list(root: Message) -> str | None:
    list_id = root.get("list-id")
    if list_id is not None:
        return header_text(list_id).strip()[:255] or "list-id"
    return next((name for name in LIST_FIELDS if root.get(name) is not None), None)


def _null_sender_reason(root: Message, sender: str | None) -> str | None:
    return_path = root.get("return-path")
    if return_path is not None and header_text(return_path).strip("<> ") == "":
        return "null-return-path"
    if "mailer-daemon" in header_text(root.get("from", "")).lower():
        return "mailer-daemon"
    if sender is None:
        return "no-sender"
    if sender.split("@", 1)[0] == "mailer-daemon":
        return "mailer-daemon"
    return None
