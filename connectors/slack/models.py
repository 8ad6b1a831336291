"""Slack as a customer channel: the workspace, the events it sent, the people it named.

`SlackWorkspace` is the connected workspace (one per install): its bot token and signing
secret are sealed at rest (`core.secrets.SecretBox`, purpose `slack`), never returned. Every
Events API request that passed its signature check is committed to `SlackEvent` before it
is answered (unique on Slack's event id: a retry is stored once), then processed by the
`slack.process` job. `SlackUser` keeps what users.info said of an author for a while.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

EVENT_STATUSES = ("pending", "processed", "ignored", "failed")


class SlackWorkspace(Base):
    __tablename__ = "slack_workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), unique=True)
    team_name: Mapped[str] = mapped_column(String(200), default="")
    bot_user_id: Mapped[str] = mapped_column(String(32), default="")
    bot_id: Mapped[str] = mapped_column(String(32), default="")
    bot_token: Mapped[str] = mapped_column(Text)
    """Sealed (`SecretBox.seal`); never shown again."""
    signing_secret: Mapped[str] = mapped_column(Text)
    """Sealed (`SecretBox.seal`); never shown again."""
    app_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The app-level token (`xapp-`) for Socket Mode, sealed; None without Socket Mode."""
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id"))
    channels: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    """The connected channels, `{"id": ..., "name": ...}` each."""
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SlackEvent(Base):
    __tablename__ = "slack_events"
    __table_args__ = (UniqueConstraint("event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why it failed, or why it was ignored."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The message it made or changed."""


class SlackUser(Base):
    __tablename__ = "slack_users"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    is_bot: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
