"""Migration 0015 adds the webhook tables and takes them away again."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command

from core.migrations import alembic_config


def test_0015_adds_webhooks_whose_deliveries_go_with_them_and_back(tmp_path):
    database = tmp_path / "frontdesk.db"
    url = f"sqlite+aiosqlite:///{database}"
    command.upgrade(alembic_config(url), "0015")
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("INSERT INTO webhook_subscriptions (id, url, events, secret, active,"
                   " created_at, updated_at) VALUES (1, 'https://hooks.example.org/', "
                   "'[\"ticket.changed\"]', 'whsec_x', 1, '2026-01-01', '2026-01-01')")
        delivery = ("INSERT INTO webhook_deliveries (subscription_id, event_id, event_type,"
                    " payload, status, attempts, created_at) VALUES (?, 'evt_1',"
                    " 'ticket.changed', '{}', 'pending', 0, '2026-01-01')")
        db.execute(delivery, (1,))
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(delivery, (2,))
        db.execute("DELETE FROM webhook_subscriptions WHERE id = 1")
        assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (0,)
    command.downgrade(alembic_config(url), "0014")
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert not {"webhook_subscriptions", "webhook_deliveries"} & tables
