"""slack: the connected workspace, the events it sent, the users it named

`slack_workspaces`: team, bot, sealed tokens and signing secret, the inbox and channels;
`slack_events`: every signed event committed before it is answered, unique on Slack's
event id, with what processing made of it; `slack_users`: users.info answers, kept a while.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("team_name", sa.String(length=200), nullable=False),
        sa.Column("bot_user_id", sa.String(length=32), nullable=False),
        sa.Column("bot_id", sa.String(length=32), nullable=False),
        sa.Column("bot_token", sa.Text(), nullable=False),
        sa.Column("signing_secret", sa.Text(), nullable=False),
        sa.Column("app_token", sa.Text(), nullable=True),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("connected_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_slack_workspaces_inbox_id_inboxes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_workspaces")),
        sa.UniqueConstraint("team_id", name=op.f("uq_slack_workspaces_team_id")),
    )
    op.create_table(
        "slack_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_slack_events_event_id")),
    )
    op.create_index(op.f("ix_slack_events_status"), "slack_events", ["status"])
    op.create_table(
        "slack_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_users")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_slack_users_team_id_user_id")),
    )


def downgrade() -> None:
    op.drop_table("slack_users")
    op.drop_index(op.f("ix_slack_events_status"), table_name="slack_events")
    op.drop_table("slack_events")
    op.drop_table("slack_workspaces")
