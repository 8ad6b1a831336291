"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

import accounts.models  # noqa: F401
import audit.models  # noqa: F401
import connectors.email.models  # noqa: F401
import connectors.slack.models  # noqa: F401
import core.outbox  # noqa: F401
import core.throttle  # noqa: F401
import inbox.models  # noqa: F401
import notifications.models  # noqa: F401
import sla.models  # noqa: F401
import tickets.models  # noqa: F401
import webhooks.models  # noqa: F401
from core.db import Base, RawBase, raw_store_url
from core.migrations import alembic_config


def _not_search(name, type_, parent_names) -> bool:
    """The full-text search objects of migration 0009 (FTS5 tables and their shadow tables,
    expression indexes) are not in the models: neither SQLAlchemy nor Alembic knows them."""
    if type_ == "table":
        return not (name.endswith("_fts") or "_fts_" in name)
    return not (type_ == "index" and name and name.endswith("_search"))


def _differences(metadata):
    def diff(connection):
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _not_search})
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


def test_0007_indexes_the_raw_store_of_a_sqlite_file_and_back(tmp_path):
    """0007 adds `messages.truncated` (existing messages read as kept whole) and indexes
    raw mail by message in the raw store beside the file; going back removes both."""
    database = tmp_path / "frontdesk.db"
    url = f"sqlite+aiosqlite:///{database}"
    raw_store = make_url(raw_store_url(url)).database
    index = "SELECT name FROM sqlite_master WHERE name = 'ix_raw_emails_message_id'"
    command.upgrade(alembic_config(url), "0006")
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO inboxes (id, slug, name, addresses) VALUES (1, 's', 'S', '[]')")
        db.execute("INSERT INTO contacts (id, created_at) VALUES (1, '2026-11-23 03:00:00')")
        db.execute("INSERT INTO conversations (id, inbox_id, channel, subject, status, "
                   "contact_id, created_at, last_message_at) VALUES (1, 1, 'email', 'x', "
                   "'open', 1, '2026-11-23 03:00:00', '2026-11-23 03:00:00')")
        db.execute("INSERT INTO messages (id, conversation_id, inbox_id, channel, direction, "
                   "text, automatic, created_at, meta) VALUES (1, 1, 1, 'email', 'inbound', "
                   "'hi', 0, '2026-11-23 03:00:00', '{}')")
    with sqlite3.connect(raw_store) as db:
        assert db.execute(index).fetchall() == []
    command.upgrade(alembic_config(url), "0007")
    with sqlite3.connect(raw_store) as db:
        assert db.execute(index).fetchall() == [("ix_raw_emails_message_id",)]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT truncated FROM messages").fetchall() == [("[]",)]
    command.downgrade(alembic_config(url), "0006")
    with sqlite3.connect(raw_store) as db:
        assert db.execute(index).fetchall() == []
    with sqlite3.connect(database) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(messages)")]
        assert "truncated" not in columns


def test_0011_adds_saved_views_and_the_sharing_permission_and_back(tmp_path):
    """0011 adds `saved_views` and `users.can_share_views` (no one may share until an admin
    says so) and refuses a team view without its team; going back removes both."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'frontdesk.db'}"
    command.upgrade(alembic_config(url), "0010")
    with sqlite3.connect(tmp_path / "frontdesk.db") as db:
        db.execute("INSERT INTO users (id, email, name, role, password_hash, active, created_at)"
                   " VALUES (1, 'a@example.com', 'A', 'agent', 'x', 1, '2026-01-01')")
    command.upgrade(alembic_config(url), "0011")
    with sqlite3.connect(tmp_path / "frontdesk.db") as db:
        assert db.execute("SELECT can_share_views FROM users").fetchall() == [(0,)]
        insert = ("INSERT INTO saved_views (name, visibility, owner_id, team_id, filters,"
                  " created_at, updated_at) VALUES ('V', ?, 1, NULL, '{}', '2026-01-01',"
                  " '2026-01-01')")
        db.execute(insert, ("shared",))
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(insert, ("team",))
    command.downgrade(alembic_config(url), "0010")
    with sqlite3.connect(tmp_path / "frontdesk.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        columns = {row[1] for row in db.execute("PRAGMA table_info(users)")}
    assert "saved_views" not in tables and "can_share_views" not in columns
    assert "ix_tickets_category" not in tables
