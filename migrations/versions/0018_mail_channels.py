"""mail channels in the database: IMAP mailboxes and outgoing relays

`imap_mailboxes`: the IMAP mailboxes polled into inboxes (before, only `[[imap]]` in the
configuration file, which now seeds this table); `outgoing_relays`: the global relay and
relays of single inboxes. Passwords are sealed (`core.secrets`), never in the clear.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imap_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("ca_file", sa.String(length=1024), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("password_env", sa.String(length=255), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("poll_seconds", sa.Float(), nullable=False),
        sa.Column("after_import", sa.String(length=16), nullable=False),
        sa.Column("move_to", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_imap_mailboxes_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imap_mailboxes")),
        sa.UniqueConstraint("name", name=op.f("uq_imap_mailboxes_name")),
    )
    op.create_index(op.f("ix_imap_mailboxes_inbox_id"), "imap_mailboxes", ["inbox_id"])
    op.create_table(
        "outgoing_relays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("ca_file", sa.String(length=1024), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_outgoing_relays_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_relays")),
        sa.UniqueConstraint("scope", name=op.f("uq_outgoing_relays_scope")),
        sa.UniqueConstraint("inbox_id", name=op.f("uq_outgoing_relays_inbox_id")),
    )


def downgrade() -> None:
    op.drop_table("outgoing_relays")
    op.drop_index(op.f("ix_imap_mailboxes_inbox_id"), table_name="imap_mailboxes")
    op.drop_table("imap_mailboxes")
