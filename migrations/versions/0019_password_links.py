"""password links: invitations to join and password resets

`password_links`: a one-time link to set a password, for an invitation or a reset; only
the SHA-256 of its token is stored (the token is derived from the service's secret key and
the row's nonce), with when it expires, was used or revoked. `users.invitation_pending`:
invited, not yet joined (no password, not active).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_password_links_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_password_links_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_links_token_hash")),
    )
    op.create_index(op.f("ix_password_links_user_id"), "password_links", ["user_id"])
    op.add_column("users", sa.Column("invitation_pending", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("invitation_pending")
    op.drop_index(op.f("ix_password_links_user_id"), table_name="password_links")
    op.drop_table("password_links")
