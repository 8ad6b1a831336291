"""raw inbound mail in a store of its own

On a SQLite file, raw mail moves to a database file beside it (`core.db.raw_store_url`), so
that accepting mail never waits for the main file's one write lock. Its rows are copied and
committed there, by a connection of its own, before the table is dropped here: a crash in
between leaves them in both places, and the next run copies again (ignoring rows that are
there already). On other databases the table stays where it is. Everywhere it loses its
foreign key to `messages`, as rows of two databases cannot reference each other.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

import core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_raw_emails_message_id_messages"


def _columns() -> list[sa.Column]:
    """raw_emails' columns as this revision leaves them (without the foreign key)."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=512), nullable=True),
        sa.Column("mail_from", sa.String(length=998), nullable=False),
        sa.Column("rcpt_to", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
    ]


def _table(metadata: sa.MetaData) -> sa.Table:
    """raw_emails as this revision leaves it."""
    return sa.Table(
        "raw_emails", metadata, *_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_raw_emails"),
        sa.UniqueConstraint("source_key", name="uq_raw_emails_source_key"),
        sa.Index("ix_raw_emails_sha256", "sha256"),
        sa.Index("ix_raw_emails_status", "status"),
    )


def _paths() -> tuple[str, str] | None:
    """(main file, raw store file) when raw mail lives in a file of its own, else None."""
    url = op.get_bind().engine.url
    raw_url = sa.engine.make_url(core.db.raw_store_url(url.render_as_string(False)))
    if raw_url.database == url.database:
        return None
    return str(url.database), str(raw_url.database)


def _copy_out(main: str, raw: str) -> None:
    """Create raw_emails in the raw store and copy there (committed, on disk) the rows the
    main file has committed; rows already there are kept."""
    table = _table(sa.MetaData())
    columns = ", ".join(column.name for column in table.columns)
    connection = sqlite3.connect(raw, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("ATTACH DATABASE ? AS source", (main,))
        connection.execute("BEGIN")  # IMMEDIATE would ask for the main file's write lock
        connection.execute(str(CreateTable(table, if_not_exists=True)
                               .compile(dialect=sqlite.dialect())))
        for index in table.indexes:
            connection.execute(str(CreateIndex(index, if_not_exists=True)
                                   .compile(dialect=sqlite.dialect())))
        held = connection.execute("SELECT 1 FROM source.sqlite_master "
                                  "WHERE type = 'table' AND name = 'raw_emails'").fetchone()
        if held:  # absent when this run created it: then it holds nothing yet
            connection.execute(f"INSERT OR IGNORE INTO raw_emails ({columns}) "
                               f"SELECT {columns} FROM source.raw_emails")
        connection.execute("COMMIT")
    finally:
        connection.close()


def upgrade() -> None:
    paths = _paths()
    if paths is None:
        with op.batch_alter_table("raw_emails", schema=None) as batch_op:
            batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        return
    _copy_out(*paths)
    with op.batch_alter_table("raw_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_emails_status")
        batch_op.drop_index("ix_raw_emails_sha256")
    op.drop_table("raw_emails")


def downgrade() -> None:
    paths = _paths()
    if paths is None:
        with op.batch_alter_table("raw_emails", schema=None) as batch_op:
            batch_op.create_foreign_key(FOREIGN_KEY, "messages", ["message_id"], ["id"])
        return
    op.create_table("raw_emails", *_columns(),
                    sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=FOREIGN_KEY),
                    sa.PrimaryKeyConstraint("id", name="pk_raw_emails"),
                    sa.UniqueConstraint("source_key", name="uq_raw_emails_source_key"))
    with op.batch_alter_table("raw_emails", schema=None) as batch_op:
        batch_op.create_index("ix_raw_emails_sha256", ["sha256"], unique=False)
        batch_op.create_index("ix_raw_emails_status", ["status"], unique=False)
    columns = [column.name for column in _columns()]
    connection = sqlite3.connect(paths[1])
    try:
        rows = connection.execute(f"SELECT {', '.join(columns)} FROM raw_emails").fetchall()
    finally:
        connection.close()
    if rows:
        op.get_bind().execute(sa.text(
            f"INSERT INTO raw_emails ({', '.join(columns)}) VALUES "
            f"({', '.join(':' + name for name in columns)})"),
            [dict(zip(columns, row, strict=True)) for row in rows])
