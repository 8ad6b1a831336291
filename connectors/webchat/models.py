"""The chat's tables: settings per inbox, visitors, and the visitor's view of messages.

`chat_settings` (one row per inbox that has chat set up), `chat_visitors` (one per visitor
session that said something: their name and email, how far they have read, the chat's
message counter) and `chat_messages` (the sequence number of each message a visitor
sees). `connectors.webchat.service` is their only writer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

ASK_CHOICES = ("no", "optional", "yes")


class ChatSettings(Base):
    """How an inbox's chat widget behaves."""

    __tablename__ = "chat_settings"

    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"),
                                          primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The sites (scheme://host[:port]) whose pages may open the widget."""
    ask_details: Mapped[str] = mapped_column(String(16), default="optional")
    """Ask the visitor's name and email before the chat: "yes" (required), "optional"
    (offered), "no" (not asked; the visitor may still leave them)."""
    office_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    """Outside the SLA schedule's working hours the widget offers a "leave a message" form."""
    transcript: Mapped[bool] = mapped_column(Boolean, default=False)
    """Mail the visitor a transcript when the conversation is closed."""
    greeting: Mapped[str] = mapped_column(Text, default="")
    email_after_minutes: Mapped[int] = mapped_column(Integer, default=10)
    """A reply the visitor has not read after this long is mailed to them (when they left
    an address)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatVisitor(Base):
    """A visitor session (the `visitor` key of its token) of one inbox."""

    __tablename__ = "chat_visitors"
    __table_args__ = (UniqueConstraint("inbox_id", "visitor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    visitor: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"),
                                                        nullable=True, unique=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    """The sequence number the conversation's newest visible message got."""
    read_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatMessage(Base):
    """Message `message_id` is the `seq`-th message the visitor of `conversation_id` sees
    (numbered in commit order: the counter on `chat_visitors` is locked while counting)."""

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    mailed: Mapped[bool] = mapped_column(Boolean, default=False)
    """A reply the visitor had not read in time, mailed to them (once)."""
