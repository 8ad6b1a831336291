"""Alembic environment: runs migrations on the async engine named in the config."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection

import accounts.models  # noqa: F401  (registers tables)
import audit.models  # noqa: F401
import connectors.email.models  # noqa: F401
import connectors.forms.models  # noqa: F401
import connectors.slack.models  # noqa: F401
import connectors.webchat.models  # noqa: F401
import core.outbox  # noqa: F401
import core.settings_version  # noqa: F401
import core.throttle  # noqa: F401
import inbox.models  # noqa: F401
import notifications.models  # noqa: F401
import sla.models  # noqa: F401
import tickets.models  # noqa: F401
import webhooks.models  # noqa: F401
from core.db import Base, RawBase, make_engine, raw_store_url


def target_metadata(url: str) -> list:
    """The tables of the database at `url`: the raw store's too, unless it is a file of
    its own (revision 0004 creates it there)."""
    return [Base.metadata] + ([RawBase.metadata] if raw_store_url(url) == url else [])


def _run(connection: Connection) -> None:
    url = connection.engine.url.render_as_string(hide_password=False)
    context.configure(connection=connection, target_metadata=target_metadata(url),
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration leaves broken references: {broken[:5]}")


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # SQLite changes a table by copying it (a batch); with its references enforced, dropping
    # the old copy fails while other rows refer to it. Alembic's advice: enforce none during
    # the migration, then check every reference before the commit (`_run`).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata(url), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_async(url))


run()
