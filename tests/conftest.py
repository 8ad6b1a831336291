"""Fixtures: a migrated database per session, a fresh runtime and app per test.

SQLite (default): the migrated template file is copied per test. With
FRONTDESK_TEST_DATABASE_URL (PostgreSQL) one database is created per session and emptied
before each test; with FRONTDESK_TEST_REDIS_URL jobs go through Redis and real arq workers.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import server
from core import clock
from core.migrations import upgrade
from core.runtime import Runtime
from tests.support import (
    TEST_DATABASE_URL,
    add_to_inbox,
    add_user,
    client_for,
    create_postgres_database,
    drop_postgres_database,
    make_queue,
    make_settings,
    truncate_all,
)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database at the newest migration: a PostgreSQL URL or a SQLite template path."""
    if TEST_DATABASE_URL:
        url = asyncio.run(create_postgres_database(TEST_DATABASE_URL))
        upgrade(url)
        yield url
        asyncio.run(drop_postgres_database(TEST_DATABASE_URL, url))
    else:
        template = tmp_path_factory.mktemp("template") / "frontdesk.db"
        upgrade(f"sqlite+aiosqlite:///{template}")
        yield str(template)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    """A URL to a migrated database of this test's own."""
    if TEST_DATABASE_URL:
        return migrated_database
    copy = tmp_path / "frontdesk.db"
    shutil.copyfile(migrated_database, copy)
    template_raw = Path(migrated_database).with_name("frontdesk.raw.db")
    shutil.copyfile(template_raw, copy.with_name(template_raw.name))
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict:
    """Override in a test module to change settings (merged per section), or for one test
    with `@pytest.mark.parametrize("settings_overrides", [{...}], indirect=True)`."""
    return getattr(request, "param", {})


@pytest.fixture
async def runtime(database_url: str, settings_overrides: dict) -> AsyncIterator[Runtime]:
    settings = make_settings(database_url, **settings_overrides)
    queue = make_queue(settings)
    rt = await Runtime.start(settings, install=server.install, queue=queue)
    if TEST_DATABASE_URL:
        await truncate_all(rt)
    await server.prepare_database(rt)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(server.create_app(runtime=runtime)) as c:
        yield c


@pytest.fixture
async def admin(runtime: Runtime) -> tuple[int, dict[str, str]]:
    return await add_user(runtime, "admin@example.com", "admin", "Ada Admin")


@pytest.fixture
async def agent(runtime: Runtime) -> tuple[int, dict[str, str]]:
    """An agent who is a member of the inbox `support`."""
    user_id, headers = await add_user(runtime, "agent@example.com", "agent", "Al Agent")
    await add_to_inbox(runtime, "support", user_ids=(user_id,))
    return user_id, headers


@pytest.fixture
def manual_clock() -> Iterator[clock.ManualClock]:
    """`core.clock` stopped at Monday 2 March 2026, 09:00:10 UTC; the test moves it."""
    manual = clock.ManualClock(datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC))
    with clock.use(manual):
        yield manual
