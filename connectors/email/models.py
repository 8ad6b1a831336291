"""Raw inbound mail, kept from the moment it is accepted until it is a message.

Every email is committed here (raw bytes and envelope) before the sender gets its `250`
or the IMAP server gets its flag. Parsing and threading happen later in a job; mail that
fails them stays here as `failed` or `quarantined` with the reason, for an admin to retry.

`ImapMailbox` and `OutgoingRelay` are the mail channels admins manage (in the main
database; `connectors.email.mailboxes` and `connectors.email.relays` are their only writers).
Their passwords are sealed by `core.secrets`, never stored in the clear.

`RawEmail` lives in the raw store (`core.db.raw_store_url`: beside a SQLite file, a file of
its own), reached through `runtime.raw_sessions`; the other tables are in the main database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, RawBase, UTCDateTime

RAW_STATUSES = ("pending", "processed", "failed", "quarantined")


class RawEmail(RawBase):
    __tablename__ = "raw_emails"
    __table_args__ = (UniqueConstraint("source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    """`smtp` or `imap`."""
    source_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    """IMAP: mailbox, UIDVALIDITY and UID; dedupes imports. None for SMTP."""
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    rcpt_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    """The message it became (`messages.id` in the main database); indexed, as a message's
    original email is looked up by it."""
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImapCursor(Base):
    """How far a mailbox folder has been imported, per UIDVALIDITY."""

    __tablename__ = "imap_cursors"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)


class ImapPoll(Base):
    """Whose turn it is to poll a mailbox, for every process that runs jobs: when it was
    last polled, and until when the poll under way holds it (a lease, so that a process
    that died mid-poll does not hold it for ever)."""

    __tablename__ = "imap_polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64), unique=True)
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    polling_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AutoAcknowledgment(Base):
    """When an inbox last acknowledged a sender automatically (at most one per window)."""

    __tablename__ = "auto_acknowledgments"
    __table_args__ = (UniqueConstraint("inbox", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImapMailbox(Base):
    """An IMAP mailbox whose mail goes into an inbox. Its password is either sealed here
    (`password_sealed`, set in the console) or read from the environment variable
    `password_env` names (a mailbox seeded from `[[imap]]` in the configuration file)."""

    __tablename__ = "imap_mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    """Its key in the import cursors and in the raw mail's source keys; never changes."""
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"),
                                          index=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))
    ca_file: Mapped[str] = mapped_column(String(1024), default="")
    username: Mapped[str] = mapped_column(String(255))
    password_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    password_env: Mapped[str] = mapped_column(String(255), default="")
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    poll_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    after_import: Mapped[str] = mapped_column(String(16), default="seen")
    move_to: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


GLOBAL_RELAY = "global"


class OutgoingRelay(Base):
    """An SMTP relay replies leave through: the global one (`scope` "global") or one
    inbox's (`scope` "inbox:<id>", and `inbox_id`)."""

    __tablename__ = "outgoing_relays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), unique=True)
    inbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=True, unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))
    ca_file: Mapped[str] = mapped_column(String(1024), default="")
    username: Mapped[str] = mapped_column(String(255), default="")
    password_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_address: Mapped[str] = mapped_column(String(254), default="")
    """Sender address of mail through this relay instead of the inbox's own; empty: the inbox's."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
