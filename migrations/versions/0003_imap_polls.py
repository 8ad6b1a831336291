"""one poll of a mailbox at a time, across processes

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imap_polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("polled_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("polling_until", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imap_polls")),
        sa.UniqueConstraint("mailbox", name=op.f("uq_imap_polls_mailbox")),
    )


def downgrade() -> None:
    op.drop_table("imap_polls")
