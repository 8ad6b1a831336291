"""custom views of the inbox, and who may share them

A saved view is a name, a visibility (private, team or shared), its owner, the team it is
for (team views only) and its filters as JSON. `users.can_share_views` says who besides the
admins may create team and shared views; nobody may until an admin says so. Tickets are
indexed by category, the list a view's category filter offers.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("can_share_views", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("visibility IN ('private', 'team', 'shared')",
                           name=op.f("ck_saved_views_visibility")),
        sa.CheckConstraint("(visibility = 'team') = (team_id IS NOT NULL)",
                           name=op.f("ck_saved_views_team_for_team_views")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"],
                                name=op.f("fk_saved_views_owner_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"],
                                name=op.f("fk_saved_views_team_id_teams"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
    )
    for column in ("owner_id", "team_id"):
        op.create_index(op.f(f"ix_saved_views_{column}"), "saved_views", [column])
    # The categories a view may filter on are read from here, in order, without a sort.
    op.create_index(op.f("ix_tickets_category"), "tickets", ["category"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_category"), table_name="tickets")
    for column in ("team_id", "owner_id"):
        op.drop_index(op.f(f"ix_saved_views_{column}"), table_name="saved_views")
    op.drop_table("saved_views")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("can_share_views")
