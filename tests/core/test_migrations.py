"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import accounts.models  # noqa: F401
import connectors.email.models  # noqa: F401
import core.outbox  # noqa: F401
import inbox.models  # noqa: F401
import sla.models  # noqa: F401
import tickets.models  # noqa: F401
from core.db import Base


async def test_models_and_migrations_agree(runtime):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with runtime.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []
