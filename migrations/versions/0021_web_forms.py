"""web forms: the public forms, kept in the database and edited by admins

`web_forms`: a form's slug, title, intro, thank-you text, the inbox it feeds, its rate
limit, its fields in order (JSON), how many submissions it stored, and when it was deleted
(the row stays so its slug is known). `config.toml`'s `[[forms]]` seed it at start.

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column("thanks", sa.Text(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("submissions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_web_forms_inbox_id_inboxes"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_forms")),
        sa.UniqueConstraint("slug", name=op.f("uq_web_forms_slug")),
    )


def downgrade() -> None:
    op.drop_table("web_forms")
