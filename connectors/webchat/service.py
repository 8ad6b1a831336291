"""The chat's data: the one writer of chat settings, visitors and their message sequence.

- Settings per inbox (`chat_settings`): `clean_settings` checks what an admin sets (pure),
  `save_settings` stores it and records the change in the audit log.
- Visitors (`chat_visitors`): made when a visitor first leaves details or a message; the
  name and email they gave, how far they have read.
- The sequence (`chat_messages`): `ChatSequencer` numbers every message a visitor sees
  (inbound and replies, never internal comments) in the transaction that adds it, holding
  the visitor row's counter locked while it counts, so numbers follow commit order: a
  socket that sends "everything after N" never skips one committed later with a lower
  number.

A chat conversation's `thread_key` is its visitor key; its messages' `external_id` is
"chat:<visitor>:<client id>", which makes a message sent twice one message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from audit.service import changed_only, record_change
from connectors.webchat import protocol
from connectors.webchat.models import ASK_CHOICES, ChatMessage, ChatSettings, ChatVisitor
from core import clock
from core.db import savepoint
from core.errors import InvalidInput
from core.events import EventBus
from inbox import contacts
from inbox.events import MessageAdded
from inbox.messages import InboundMessage
from inbox.models import Conversation, Message

CHANNEL: Literal["chat"] = "chat"
MAX_ORIGINS = 50
MAX_GREETING = 2_000
MAX_EMAIL_AFTER = 7 * 24 * 60
HISTORY_PAGE = 200
_NETLOC = re.compile(r"([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


# ---------------------------------------------------------------- settings (pure)


@dataclass(frozen=True)
class ChatValues:
    """An inbox's chat settings (`clean_settings` checks and normalizes them)."""

    enabled: bool = False
    allowed_origins: tuple[str, ...] = ()
    ask_details: str = "optional"
    office_hours: bool = False
    transcript: bool = False
    greeting: str = ""
    email_after_minutes: int = 10

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["allowed_origins"] = list(self.allowed_origins)
        return values


def clean_origin(text: str) -> str:
    """`text` as an Origin: scheme://host[:port], lower-case, http or https, no path.
    InvalidInput naming `allowed_origins` when it is none."""
    value = text.strip().rstrip("/").lower()
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise InvalidInput(f"not a site address: {text.strip()!r}",
                           field="allowed_origins") from None
    if (parts.scheme not in ("http", "https") or not _NETLOC.fullmatch(parts.netloc)
            or not parts.hostname or parts.path
            or parts.query or parts.fragment or parts.username or parts.password):
        raise InvalidInput(f"not a site address (like https://www.example.com): "
                           f"{text.strip()!r}", field="allowed_origins")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise InvalidInput(f"bad port in {text.strip()!r}", field="allowed_origins") from None
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    return f"{parts.scheme}://{parts.netloc.removesuffix(default)}"  # as browsers send it


def clean_settings(values: ChatValues) -> ChatValues:
    """`values` checked and normalized; InvalidInput names the field of the first problem."""
    origins = tuple(dict.fromkeys(clean_origin(o) for o in values.allowed_origins if o.strip()))
    if len(origins) > MAX_ORIGINS:
        raise InvalidInput(f"at most {MAX_ORIGINS} sites", field="allowed_origins")
    if values.enabled and not origins:
        raise InvalidInput("name at least one site the widget may run on",
                           field="allowed_origins")
    if values.ask_details not in ASK_CHOICES:
        raise InvalidInput(f"ask_details must be one of {', '.join(ASK_CHOICES)}",
                           field="ask_details")
    greeting = protocol.clean_text(values.greeting)
    if len(greeting) > MAX_GREETING:
        raise InvalidInput(f"the greeting must be at most {MAX_GREETING} characters",
                           field="greeting")
    if not 1 <= values.email_after_minutes <= MAX_EMAIL_AFTER:
        raise InvalidInput(f"the delay must be 1 to {MAX_EMAIL_AFTER} minutes",
                           field="email_after_minutes")
    return ChatValues(enabled=values.enabled, allowed_origins=origins,
                      ask_details=values.ask_details, office_hours=values.office_hours,
                      transcript=values.transcript, greeting=greeting,
                      email_after_minutes=values.email_after_minutes)


def origin_allowed(values: ChatValues, origin: str | None) -> bool:
    """Whether a page of `origin` may open the inbox's widget (chat on, origin listed)."""
    if not values.enabled or not origin:
        return False
    try:
        return clean_origin(origin) in values.allowed_origins
    except InvalidInput:
        return False


def values_of(row: ChatSettings | None) -> ChatValues:
    """The settings a row holds; the defaults (chat off) without one."""
    if row is None:
        return ChatValues()
    return ChatValues(enabled=row.enabled, allowed_origins=tuple(row.allowed_origins or ()),
                      ask_details=row.ask_details, office_hours=row.office_hours,
                      transcript=row.transcript, greeting=row.greeting,
                      email_after_minutes=row.email_after_minutes)


# ---------------------------------------------------------------- settings (stored)


async def get_settings(session: AsyncSession, inbox_id: int) -> ChatValues:
    """The chat settings of inbox `inbox_id` (the defaults when never set)."""
    return values_of(await session.get(ChatSettings, inbox_id))


async def save_settings(session: AsyncSession, actor: User | None, inbox_id: int,
                        inbox_slug: str, values: ChatValues) -> ChatValues:
    """Set the inbox's chat settings (InvalidInput for bad values); the change goes to the
    audit log. Saving what is there already records nothing."""
    values = clean_settings(values)
    row = await session.get(ChatSettings, inbox_id)
    before = values_of(row)
    if row is not None and values == before:
        return values
    if row is None:
        row = ChatSettings(inbox_id=inbox_id)
        session.add(row)
    for key, value in asdict(values).items():
        setattr(row, key, list(value) if key == "allowed_origins" else value)
    row.updated_at = clock.now()
    await session.flush()
    old, new = changed_only(before.as_json(), values.as_json())
    await record_change(session, actor=actor, action="chat.updated", subject_type="inbox",
                        subject_id=inbox_slug,
                        summary=f"changed the chat widget of {inbox_slug!r}: "
                        + ", ".join(sorted(new)).replace("_", " "), before=old, after=new)
    return values


# ---------------------------------------------------------------- visitors


async def find_visitor(session: AsyncSession, inbox_id: int, visitor: str) -> ChatVisitor | None:
    """The visitor row of a session, when they said something yet."""
    row: ChatVisitor | None = await session.scalar(
        select(ChatVisitor).where(ChatVisitor.inbox_id == inbox_id,
                                  ChatVisitor.visitor == visitor))
    return row


async def ensure_visitor(session: AsyncSession, inbox_id: int, visitor: str) -> ChatVisitor:
    """The visitor row of a session, made now when there is none (a race with another tab
    of the same visitor finds the other's row)."""
    found = await find_visitor(session, inbox_id, visitor)
    if found is not None:
        return found
    now = clock.now()
    row = ChatVisitor(inbox_id=inbox_id, visitor=visitor, last_seq=0, read_seq=0,
                      created_at=now, last_seen_at=now)
    try:
        async with savepoint(session):
            session.add(row)
            await session.flush()
    except IntegrityError:
        found = await find_visitor(session, inbox_id, visitor)
        if found is None:
            raise
        return found
    return row


def sender_identity(inbox_id: int, visitor: str) -> str:
    """The chat's id of a visitor (`InboundMessage.sender_identity`), by which their
    messages are one contact's before and after they say who they are."""
    return f"webchat:{inbox_id}:{visitor}"


async def save_details(session: AsyncSession, inbox_id: int, visitor: str,
                       name: str | None, email: str | None) -> ChatVisitor:
    """Keep what the visitor told of themselves (a None leaves that one as it was); the
    contact their messages came from learns it too (`inbox.contacts.tell`)."""
    row = await ensure_visitor(session, inbox_id, visitor)
    row.name = name or row.name
    row.email = email or row.email
    row.last_seen_at = clock.now()
    await session.flush()
    if name or email:
        await contacts.tell(session, CHANNEL, sender_identity(inbox_id, visitor), name, email)
    return row


async def chat_continues(session: AsyncSession, conversation_id: int, inbox_id: int) -> bool:
    """Whether a visitor's conversation can go on: it exists, is not in the trash and is
    still in the inbox whose widget they use (else the visitor starts a new chat)."""
    found = await session.scalar(select(Conversation.id).where(
        Conversation.id == conversation_id, Conversation.inbox_id == inbox_id,
        Conversation.deleted_at.is_(None)))
    return found is not None


async def mark_read(session: AsyncSession, conversation_id: int, seq: int) -> None:
    """The visitor has seen the conversation's messages up to `seq`."""
    await session.execute(update(ChatVisitor)
                          .where(ChatVisitor.conversation_id == conversation_id,
                                 ChatVisitor.read_seq < seq)
                          .values(read_seq=seq, last_seen_at=clock.now()))


def to_inbound(inbox_slug: str, inbox_id: int, visitor: str, client_id: str, text: str,
               name: str | None, email: str | None) -> InboundMessage:
    """The InboundMessage for a visitor's chat message (pure)."""
    who = name or email or "a visitor"
    return InboundMessage(
        inbox=inbox_slug, channel=CHANNEL, sender_email=email, sender_name=name,
        subject=f"Chat with {who}"[:998], text=text,
        external_id=f"chat:{visitor}:{client_id}", thread_key=visitor,
        sender_identity=sender_identity(inbox_id, visitor))


def client_id_of(external_id: str | None, visitor: str) -> str | None:
    """The widget's id of a message it sent (None for any other message)."""
    prefix = f"chat:{visitor}:"
    if external_id and external_id.startswith(prefix):
        return external_id[len(prefix):]
    return None


# ---------------------------------------------------------------- the sequence


async def claim_mailing(session: AsyncSession, message_id: int) -> bool:
    """Mark reply `message_id` as mailed to its visitor; False when it was already (so a
    repeated look at an unread reply mails it once)."""
    claimed = await session.execute(
        update(ChatMessage).where(ChatMessage.message_id == message_id,
                                  ChatMessage.mailed.is_(False))
        .values(mailed=True).execution_options(synchronize_session=False))
    return bool(getattr(claimed, "rowcount", 0))


async def seq_of(session: AsyncSession, message_id: int) -> int | None:
    """The sequence number of message `message_id` in its chat (None: not numbered)."""
    seq: int | None = await session.scalar(
        select(ChatMessage.seq).where(ChatMessage.message_id == message_id))
    return seq


async def newest_seq(session: AsyncSession, conversation_id: int | None) -> int:
    """The sequence number of the conversation's newest visible message (0: none)."""
    if conversation_id is None:
        return 0
    seq = await session.scalar(select(ChatVisitor.last_seq)
                               .where(ChatVisitor.conversation_id == conversation_id))
    return int(seq or 0)


async def messages_after(session: AsyncSession, conversation_id: int, after_seq: int,
                         visitor: str, visitor_name: str | None) -> list[protocol.ChatMessage]:
    """The messages the visitor (key `visitor`) sees numbered after `after_seq` (at most
    HISTORY_PAGE), in order; theirs under `visitor_name` ("You" without one)."""
    rows = await session.execute(
        select(ChatMessage.seq, Message.direction, Message.text, Message.created_at,
               Message.external_id, User.name)
        .join(Message, Message.id == ChatMessage.message_id)
        .outerjoin(User, and_(User.id == Message.author_id))
        .where(ChatMessage.conversation_id == conversation_id, ChatMessage.seq > after_seq)
        .order_by(ChatMessage.seq).limit(HISTORY_PAGE))
    you = visitor_name or "You"
    return [protocol.ChatMessage(
        seq=seq, author="visitor" if direction == "inbound" else "agent",
        name=you if direction == "inbound" else (author or "Support"), text=text,
        at=created_at, client_id=client_id_of(external_id, visitor))
        for seq, direction, text, created_at, external_id, author in rows]


@dataclass
class ChatSequencer:
    """Subscriber: numbers the messages a chat's visitor sees, as they are added."""

    numbered: list[int] = field(default_factory=list)

    def install(self, bus: EventBus) -> None:
        bus.subscribe_many(MessageAdded, self.on_messages)

    async def on_messages(self, session: AsyncSession, events: Sequence[MessageAdded]) -> None:
        shown = [e for e in events if e.direction != "comment"]
        if not shown:
            return
        chats = {row.id: row for row in (await session.execute(
            select(Conversation.id, Conversation.inbox_id, Conversation.thread_key)
            .where(Conversation.id.in_({e.conversation_id for e in shown}),
                   Conversation.channel == CHANNEL))).all()}
        for event in shown:
            chat = chats.get(event.conversation_id)
            if chat is not None and chat.thread_key:
                await _number(session, chat.id, chat.inbox_id, chat.thread_key,
                              event.message_id)


async def _number(session: AsyncSession, conversation_id: int, inbox_id: int, visitor: str,
                  message_id: int) -> None:
    """Give message `message_id` the next number of its chat. The counter's row stays
    locked until commit, so two transactions number in the order they commit; the first
    message of a chat ties the visitor's row to its conversation (or makes the row)."""
    bumped = await session.execute(
        update(ChatVisitor)
        .where(or_(ChatVisitor.conversation_id == conversation_id,
                   and_(ChatVisitor.inbox_id == inbox_id, ChatVisitor.visitor == visitor,
                        ChatVisitor.conversation_id.is_(None))))
        .values(last_seq=ChatVisitor.last_seq + 1, conversation_id=conversation_id)
        .execution_options(synchronize_session=False))
    if getattr(bumped, "rowcount", 0):
        seq = int(await session.scalar(
            select(ChatVisitor.last_seq).where(ChatVisitor.conversation_id == conversation_id)
            .execution_options(populate_existing=True)) or 0)
    else:
        now, seq = clock.now(), 1
        await session.execute(insert(ChatVisitor.__table__).values(
            inbox_id=inbox_id, visitor=visitor, conversation_id=conversation_id, last_seq=seq,
            read_seq=0, created_at=now, last_seen_at=now))
    await session.execute(insert(ChatMessage.__table__).values(
        message_id=message_id, conversation_id=conversation_id, seq=seq, mailed=False))
