"""throttle counters shared by every server process

`throttle_counters` lives in the raw store (`core.db.raw_store_url`), which the SMTP receiver
writes: on a SQLite file the file beside the main one (created there by a connection of its
own, as 0004 does), elsewhere the main database.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

import core.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "throttle_counters"
INDEX = "ix_throttle_counters_expires_at"


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE, metadata,
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_throttle_counters"),
        sa.Index(INDEX, "expires_at"),
    )


def _raw_store_file() -> str | None:
    """The raw store's file when it is one of its own (beside a SQLite file), else None."""
    url = op.get_bind().engine.url
    raw_url = sa.engine.make_url(core.db.raw_store_url(url.render_as_string(False)))
    return None if raw_url.database == url.database else str(raw_url.database)


def _in_raw_store_file(path: str, statements: list[str]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN")
        for statement in statements:
            connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def upgrade() -> None:
    path = _raw_store_file()
    table = _table(sa.MetaData())
    if path is None:
        table.create(op.get_bind())
        return
    dialect = sqlite.dialect()
    _in_raw_store_file(path, [
        str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)),
        *(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
          for index in table.indexes)])


def downgrade() -> None:
    path = _raw_store_file()
    if path is None:
        _table(sa.MetaData()).drop(op.get_bind())
        return
    _in_raw_store_file(path, [f"DROP INDEX IF EXISTS {INDEX}", f"DROP TABLE IF EXISTS {TABLE}"])
