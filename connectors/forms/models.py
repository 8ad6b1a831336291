"""Web forms as admins keep them: one row per form, its fields in order as JSON.

A deleted form keeps its row (`deleted_at` set): its slug stays known, so seeding from
`config.toml` never brings it back, and making a form with that slug again reuses the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class WebForm(Base):
    """A public form at `/forms/<slug>` feeding the inbox `inbox_id` (None: its inbox is
    gone; the form then takes nothing). `fields` holds `FieldSpec.as_json()` of each field
    in the order the page shows them; `submissions` counts the conversations it stored."""

    __tablename__ = "web_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")
    thanks: Mapped[str] = mapped_column(Text, default="")
    inbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("inboxes.id", ondelete="SET NULL"), nullable=True)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=10)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    submissions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
