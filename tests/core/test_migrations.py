"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

import accounts.models  # noqa: F401
import connectors.email.models  # noqa: F401
import core.outbox  # noqa: F401
import core.throttle  # noqa: F401
import inbox.models  # noqa: F401
import sla.models  # noqa: F401
import tickets.models  # noqa: F401
from core.db import Base, RawBase, raw_store_url
from core.migrations import alembic_config


def _differences(metadata):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    return diff


async def test_models_and_migrations_agree(runtime):
    stores = [(runtime.engine, [Base.metadata, RawBase.metadata])]
    if runtime.raw_engine is not runtime.engine:  # a SQLite file: raw mail beside it
        stores = [(runtime.engine, [Base.metadata]), (runtime.raw_engine, [RawBase.metadata])]
    for engine, metadata in stores:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences(metadata)) == []


def test_raw_mail_of_a_sqlite_file_moves_beside_it_and_back(tmp_path):
    """0004 moves the raw mail a SQLite file holds into the raw store beside it, keeping
    every row as it was; going back brings the rows home."""
    database = tmp_path / "frontdesk.db"
    url = f"sqlite+aiosqlite:///{database}"
    command.upgrade(alembic_config(url), "0003")
    row = (1, "support", "smtp", None, "a@example.org", '["help@example.com"]', b"raw\r\n", 5,
           "ab" * 32, "2026-11-23 03:00:00.000000", "processed", None, 1, None, "{}")
    with sqlite3.connect(database) as db:
        db.execute(f"INSERT INTO raw_emails VALUES ({', '.join('?' * len(row))})", row)
    command.upgrade(alembic_config(url), "head")
    raw_store = make_url(raw_store_url(url)).database
    with sqlite3.connect(raw_store) as db:
        assert db.execute("SELECT * FROM raw_emails").fetchall() == [row]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'raw_emails'"
                          ).fetchall() == []
    command.downgrade(alembic_config(url), "0003")
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT * FROM raw_emails").fetchall() == [row]
