"""inbox channels in the database, settings versions

`inboxes` gains its email channel (catch-all domains, from name, automatic acknowledgment)
and `settings_from_file`: inboxes made before this revision take their channel from
`config.toml` once, at the next start. `inbox_addresses` claims each address and catch-all
domain for one inbox (unique on kind and value), filled here from the inboxes' addresses.
`settings_versions` holds the version of each group of settings admins change at run time.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy of the table: on SQLite that drops `inboxes`, which
    # every conversation's foreign key refers to). The defaults stay on the columns.
    for column in (
            sa.Column("catch_all_domains", sa.JSON(), nullable=False, server_default="[]"),
            sa.Column("from_name", sa.String(length=200), nullable=False, server_default=""),
            sa.Column("auto_ack", sa.Boolean(), nullable=False, server_default=sa.false()),
            sa.Column("auto_ack_window_minutes", sa.Integer(), nullable=False,
                      server_default="1440"),
            sa.Column("auto_ack_text", sa.Text(), nullable=False, server_default=""),
            sa.Column("settings_from_file", sa.Boolean(), nullable=False,
                      server_default=sa.true())):
        op.add_column("inboxes", column)
    op.create_table(
        "inbox_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"],
                                name=op.f("fk_inbox_addresses_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_addresses")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_inbox_addresses_kind_value")),
    )
    op.create_index(op.f("ix_inbox_addresses_inbox_id"), "inbox_addresses", ["inbox_id"])
    op.create_table(
        "settings_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_settings_versions")),
    )
    _claim_existing_addresses()


def _claim_existing_addresses() -> None:
    inboxes = sa.table("inboxes", sa.column("id", sa.Integer()),
                       sa.column("addresses", sa.JSON()))
    claims = sa.table("inbox_addresses", sa.column("inbox_id", sa.Integer()),
                      sa.column("kind", sa.String()), sa.column("value", sa.String()))
    connection = op.get_bind()
    rows, seen = [], set()
    for inbox_id, addresses in connection.execute(sa.select(inboxes.c.id, inboxes.c.addresses)
                                                  .order_by(inboxes.c.id)):
        for address in addresses or []:
            value = str(address).strip().lower()
            if value and value not in seen:
                seen.add(value)
                rows.append({"inbox_id": inbox_id, "kind": "address", "value": value})
    if rows:
        op.bulk_insert(claims, rows)


def downgrade() -> None:
    op.drop_table("settings_versions")
    op.drop_index(op.f("ix_inbox_addresses_inbox_id"), table_name="inbox_addresses")
    op.drop_table("inbox_addresses")
    for column in ("settings_from_file", "auto_ack_text", "auto_ack_window_minutes",
                   "auto_ack", "from_name", "catch_all_domains"):
        op.drop_column("inboxes", column)
