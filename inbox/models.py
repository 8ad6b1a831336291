"""Inboxes, contacts, conversations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

CONVERSATION_STATUSES = ("open", "closed", "spam")
CHANNELS = ("email", "chat", "slack", "form", "api", "phone")
DIRECTIONS = ("inbound", "outbound", "comment")
NO_DEADLINE = datetime.fromisoformat("8999-01-01T00:00:00+00:00")
"""`Conversation.sort_due_at` of a conversation whose ticket has no running deadline: after
every real one, so that the SLA sort puts it last."""
SORT_TEXT_CHARS = 1000
"""The length a text sort key is cut to (a listing cursor holds it)."""


class Inbox(Base):
    """An inbox and its email channel (`inbox.directory`). `addresses` in order (the first
    is the one it sends from) and `catch_all_domains` are written only by `inbox.channels`,
    which claims each of them in `inbox_addresses` in the same transaction."""

    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    catch_all_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    from_name: Mapped[str] = mapped_column(String(200), default="")
    auto_ack: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_ack_window_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    auto_ack_text: Mapped[str] = mapped_column(Text, default="")
    settings_from_file: Mapped[bool] = mapped_column(Boolean, default=False)
    """True for an inbox made before its channel lived in the database: the next start
    takes its channel from `config.toml` once (then the database decides)."""
    route_new_tickets: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether a ticket opened in this inbox goes through the active routing rule set."""


class InboxAddress(Base):
    """An address (`kind` "address") or catch-all domain ("domain") claimed by one inbox:
    the unique key is how the database refuses to give one to two inboxes."""

    __tablename__ = "inbox_addresses"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"),
                                          index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))


class InboxMember(Base):
    """Who may see an inbox besides the admins: a team (its active members) or one user."""

    __tablename__ = "inbox_members"
    __table_args__ = (
        UniqueConstraint("inbox_id", "team_id"),
        UniqueConstraint("inbox_id", "user_id"),
        CheckConstraint("(team_id IS NULL) <> (user_id IS NULL)", name="team_or_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"),
                                          index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                                nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                                nullable=True, index=True)


class Company(Base):
    """A customer organisation (an account): its contacts belong to it; a ticket's customer
    is a contact or a company."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    domain: Mapped[str | None] = mapped_column(String(253), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    company: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The company as the contact wrote it (a form field, a signature); free text."""
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True,
                                                   index=True)
    """The company (account) the contact belongs to."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContactIdentity(Base):
    """A contact as one channel knows them: its own id of the person (`external_id`, e.g.
    "slack:T123:U456" or "webchat:<inbox id>:<visitor>"), for senders without an address
    or before they give one. Written only by `inbox.contacts`."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("inbox_id", "channel", "thread_key"),
        # Every live conversation newest first (a search's listing walks it, checking each
        # against the matches), with what scope and search check read from the index alone
        # (migration 0014; it replaces one on (last_message_at, id)).
        Index("ix_conversations_recent_scope", "last_message_at", "id", "inbox_id",
              "deleted_at", "contact_id"),
        # The inbox's views (migration 0012): by status, by owner and status, newest first.
        Index("ix_conversations_status_recent", "status", "last_message_at", "id"),
        Index("ix_conversations_owner_status", "owner_id", "status", "last_message_at", "id"),
        Index("ix_conversations_status_channel", "status", "channel", "id"),
        Index("ix_conversations_status_subject", "status", "subject", "id"),
        # Sort keys of other tables kept on the row (migration 0014), one index per sort.
        Index("ix_conversations_status_contact", "status", "sort_contact", "id"),
        Index("ix_conversations_status_owner_name", "status", "sort_owner", "id"),
        Index("ix_conversations_status_priority", "status", "sort_priority", "id"),
        Index("ix_conversations_status_due", "status", "sort_due_at", "id"),
        # The rail's counts read these indexes alone (no row of the table): a view by owner,
        # by the ticket's team, by the ticket's status.
        Index("ix_conversations_counts", "status", "owner_id", "deleted_at", "inbox_id"),
        Index("ix_conversations_team_counts", "status", "ticket_team_id", "deleted_at",
              "inbox_id"),
        Index("ix_conversations_ticket_status_counts", "status", "ticket_status", "deleted_at",
              "inbox_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(998), default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    thread_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replies_to_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The conversation this one's first message answered without taking part in it
    ("replies to #N"): threading opened this one instead of joining that. (No foreign key:
    conversations are never removed, and SQLite adds and drops the column in place.)"""
    # Sort keys: copies of values of other rows, written only by `inbox.service` (from its
    # own changes, and when the ticket, SLA and accounts rooms report theirs), so that each
    # sort of the listing reads one index.
    sort_contact: Mapped[str] = mapped_column(String(SORT_TEXT_CHARS), default="")
    """The contact's name, else email, else "" (cut to SORT_TEXT_CHARS)."""
    sort_owner: Mapped[str] = mapped_column(String(200), default="")
    """The owner's name; "" when unassigned."""
    sort_priority: Mapped[int] = mapped_column(Integer, default=-1)
    """The rank of the ticket's priority (`tickets.state.PRIORITY_RANK`); -1 without one."""
    sort_due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=NO_DEADLINE)
    """The ticket's soonest running SLA deadline; NO_DEADLINE when none runs."""
    ticket_team_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The ticket's team (None without a ticket or team): the "My teams" view reads it."""
    ticket_status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The ticket's pipeline status (None without a ticket): views by ticket status read it."""


class ConversationParticipant(Base):
    """An address that takes part in a conversation: its contact's, or one that was on
    To/Cc of a message in it. Mail that answers a conversation joins it only from these."""

    __tablename__ = "conversation_participants"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"),
                                                 primary_key=True)
    address: Mapped[str] = mapped_column(String(254), primary_key=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("inbox_id", "channel", "external_id"),
        # Threading looks messages up by the ids they carry, in any channel of an inbox.
        Index("ix_messages_inbox_external_id", "inbox_id", "external_id"),
        # One message per agent form: the same form posted twice is sent once.
        Index("ux_messages_conversation_client_key", "conversation_id", "client_key",
              unique=True),
        # A search maps the messages the full-text index found to their conversations from
        # this index alone, without reading the messages (migration 0014).
        Index("ix_messages_conversation_of", "id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    quoted_text_start: Mapped[int | None] = mapped_column(Integer, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(998), nullable=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    unverified_sender: Mapped[bool] = mapped_column(Boolean, default=False,
                                                    server_default="0")
    """A trusted authentication service found the sender address forged (DMARC failed)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    truncated: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list,
                                                            server_default="[]")
    """What the limits left out of the message as it arrived, each as
    `inbox.messages.Truncation.as_json()`; empty when it was kept whole."""
    client_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The key of the agent's form that made this reply or comment (unique per
    conversation): posting the same form again answers this message."""


class MessageReference(Base):
    """A message id an inbound message answers (In-Reply-To / References), kept so that a
    message arriving after its reply can still find the reply's conversation."""

    __tablename__ = "message_references"
    __table_args__ = (UniqueConstraint("message_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    ref: Mapped[str] = mapped_column(String(998), index=True)


class MessageAttachment(Base):
    """A file that came with a message; the bytes live in the attachment store."""

    __tablename__ = "message_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    content_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Snippet(Base):
    """A canned reply: a name agents pick it by and a body with placeholders
    (`inbox.placeholders`), managed by admins."""

    __tablename__ = "snippets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
