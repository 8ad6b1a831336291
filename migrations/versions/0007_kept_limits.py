"""what a limit cut from a message, on the message

`messages.truncated` lists what the limits left out of each inbound message (empty for the
messages stored before: they were kept whole or refused). Raw mail gets an index on
`message_id`, by which a message's original email is downloaded; on a SQLite file the raw
store is a file of its own (`core.db.raw_store_url`, revision 0004), indexed there by a
connection of its own.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RAW_INDEX = "ix_raw_emails_message_id"


def _raw_store_file() -> str | None:
    """The raw store's file when it is not this database (a SQLite file), else None."""
    url = op.get_bind().engine.url.render_as_string(hide_password=False)
    raw_url = core.db.raw_store_url(url)
    return None if raw_url == url else str(sa.engine.make_url(raw_url).database)


def _in_raw_store(statement: str) -> None:
    connection = sqlite3.connect(_raw_store_file() or "", isolation_level=None)
    try:
        connection.execute(statement)
    finally:
        connection.close()


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("truncated", sa.JSON(), server_default="[]",
                                      nullable=False))
    if _raw_store_file() is None:
        op.create_index(RAW_INDEX, "raw_emails", ["message_id"], unique=False)
    else:
        _in_raw_store(f"CREATE INDEX IF NOT EXISTS {RAW_INDEX} ON raw_emails (message_id)")


def downgrade() -> None:
    if _raw_store_file() is None:
        op.drop_index(RAW_INDEX, table_name="raw_emails")
    else:
        _in_raw_store(f"DROP INDEX IF EXISTS {RAW_INDEX}")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("truncated")
