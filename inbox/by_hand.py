"""Conversations an agent opens by hand: a phone call or a walk-in written down, a
message of one conversation made the start of another, or a child case of a case. This
is the one way a conversation starts without a message coming in.

Part of the inbox's write path (with `inbox.service`): each function takes the caller's
session, never commits, and announces the new conversation as ingest does
(ConversationOpened, then MessageAdded with `opened`), so it gets its ticket from the sync
rules and shows in the inbox like any other.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput, NotFound
from core.events import publish
from inbox.events import ConversationOpened, MessageAdded
from inbox.models import SORT_TEXT_CHARS, Contact, Conversation, Message

PHONE_CHANNEL = "phone"
"""The channel of conversations opened by hand (a call, a walk-in)."""
MAX_SUBJECT = 998
MAX_TEXT = 100_000


def _checked(subject: str, text: str) -> tuple[str, str]:
    subject, text = subject.strip(), text.strip()
    if not 0 < len(subject) <= MAX_SUBJECT:
        raise InvalidInput(f"title must be 1 to {MAX_SUBJECT} characters", field="title")
    if not 0 < len(text) <= MAX_TEXT:
        raise InvalidInput(f"notes must be 1 to {MAX_TEXT} characters", field="notes")
    return subject, text


async def new_contact(session: AsyncSession, *, name: str | None, email: str | None,
                      phone: str | None, company_id: int | None) -> Contact:
    """A contact an agent names by hand (a caller); an address already known is refused
    (pick that contact instead)."""
    email = (email or "").strip().lower() or None
    name, phone = (name or "").strip() or None, (phone or "").strip() or None
    if not (name or email or phone):
        raise InvalidInput("give the caller's name, address or phone", field="caller_name")
    if email is not None and ("@" not in email or len(email) > 254):
        raise InvalidInput("caller_email must be an email address", field="caller_email")
    if email is not None and await session.scalar(
            select(Contact.id).where(Contact.email == email)) is not None:
        raise InvalidInput(f"{email} is a known contact: pick them as the customer",
                           field="caller_email")
    contact = Contact(name=name, email=email, phone=phone, company_id=company_id,
                      created_at=clock.now())
    session.add(contact)
    await session.flush()
    return contact


async def open_conversation(session: AsyncSession, *, inbox_id: int, contact_id: int,
                            channel: str, subject: str, text: str, author_id: int | None,
                            direction: str) -> tuple[Conversation, Message]:
    """A new open conversation with the contact in the inbox, whose first entry holds
    `text`: an agent's internal note (`direction` "comment", by `author_id`) or a
    customer's words ("inbound", from the contact). InvalidInput for an empty title or
    text; NotFound for an unknown contact."""
    subject, text = _checked(subject, text)
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    if direction not in ("comment", "inbound"):
        raise ValueError(f"cannot open a conversation with a {direction} entry")
    now = clock.now()
    conversation = Conversation(
        inbox_id=inbox_id, channel=channel, subject=subject, status="open", owner_id=None,
        contact_id=contact.id, created_at=now, last_message_at=now,
        sort_contact=(contact.name or contact.email or "")[:SORT_TEXT_CHARS])
    session.add(conversation)
    await session.flush()
    message = Message(
        conversation_id=conversation.id, inbox_id=inbox_id, channel=channel,
        direction=direction, author_id=author_id if direction == "comment" else None,
        contact_id=contact.id if direction == "inbound" else None, text=text, created_at=now)
    session.add(message)
    await session.flush()
    await publish(session, ConversationOpened(conversation.id, channel, spam=False))
    await publish(session, MessageAdded(conversation.id, message.id, direction, False,
                                        opened=True))
    return conversation, message
