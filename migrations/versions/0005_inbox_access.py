"""access per inbox: inbox members, token expiry and revocation, teams that can be deactivated

An inbox is seen by admins and by its members: teams (their active members) and users. No
inbox has members yet after this revision: agents see nothing until an admin adds them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(team_id IS NULL) <> (user_id IS NULL)",
                           name=op.f("ck_inbox_members_team_or_user")),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_inbox_members_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"],
                                name=op.f("fk_inbox_members_team_id_teams"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_inbox_members_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_members")),
        sa.UniqueConstraint("inbox_id", "team_id", name=op.f("uq_inbox_members_inbox_id_team_id")),
        sa.UniqueConstraint("inbox_id", "user_id", name=op.f("uq_inbox_members_inbox_id_user_id")),
    )
    for column in ("inbox_id", "team_id", "user_id"):
        op.create_index(op.f(f"ix_inbox_members_{column}"), "inbox_members", [column])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", core.db.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("revoked_at", core.db.UTCDateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("active")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
    for column in ("user_id", "team_id", "inbox_id"):
        op.drop_index(op.f(f"ix_inbox_members_{column}"), table_name="inbox_members")
    op.drop_table("inbox_members")
