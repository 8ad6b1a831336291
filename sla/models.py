"""SLA policy versions, clocks per ticket, and the notices they have raised."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class SlaPolicyVersion(Base):
    """Every saved SLA settings document; the highest version is in force."""

    __tablename__ = "sla_policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class SlaClock(Base):
    """One goal of one ticket. Durations are stored in microseconds of working time."""

    __tablename__ = "sla_clocks"
    # A ticket's soonest running deadline from the index alone (migration 0012).
    __table_args__ = (Index("ix_sla_clocks_running", "ticket_id", "stopped_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    goal_us: Mapped[int] = mapped_column(BigInteger)
    due_soon_us: Mapped[int] = mapped_column(BigInteger)
    consumed_us: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    met_late: Mapped[bool] = mapped_column(Boolean, default=False)
    due_soon_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class SlaNotice(Base):
    """A due-soon or breach transition that was announced (once per clock and deadline)."""

    __tablename__ = "sla_notices"
    __table_args__ = (UniqueConstraint("clock_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("sla_clocks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    emitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
