"""Settings versions: a bump commits with its change, the process that made it reloads at
once, others reload when told or when they poll; a rollback changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from core.db import transaction
from core.live import LocalHub
from core.settings_version import VersionWatcher, bump, read_version


class Counter:
    def __init__(self) -> None:
        self.reloads = 0
        self.changed = asyncio.Event()

    async def __call__(self) -> None:
        self.reloads += 1
        self.changed.set()


@pytest.fixture
async def watchers(runtime):
    """Two watchers of "things" on the test's database (two processes, as far as they
    know): `here` is the one sessions announce to, `there` has a hub of its own."""
    here, there = (VersionWatcher(runtime.sessions, LocalHub(), poll_seconds=3600)
                   for _ in range(2))
    counters = Counter(), Counter()
    for watcher, counter in zip((here, there), counters, strict=True):
        watcher.watch("things", counter)
        await watcher.start()
    yield (here, there), counters
    for watcher in (here, there):
        await watcher.close()


async def test_a_bump_commits_with_the_change_and_reloads_here_at_once(runtime, watchers):
    (here, there), (mine, theirs) = watchers
    assert (mine.reloads, theirs.reloads) == (1, 1)  # the first load
    async with transaction(runtime.sessions) as session:
        session.info["settings_versions"] = here
        assert await bump(session, "things") == 1
        assert mine.reloads == 1  # not before the commit
    assert mine.reloads == 2 and here.loaded("things") == 1
    # The other knows once it polls (its own hub heard nothing).
    assert theirs.reloads == 1
    assert await there.refresh("things") is True
    assert (theirs.reloads, there.loaded("things")) == (2, 1)
    assert await there.refresh("things") is False  # nothing new: nothing reloaded


async def test_a_rolled_back_bump_changes_nothing(runtime, watchers):
    (here, _), (mine, _) = watchers
    with pytest.raises(RuntimeError):
        async with transaction(runtime.sessions) as session:
            session.info["settings_versions"] = here
            await bump(session, "things")
            raise RuntimeError("changed my mind")
    async with transaction(runtime.sessions) as session:
        assert await read_version(session, "things") == 0
    assert mine.reloads == 1


async def test_an_announcement_on_a_shared_hub_reloads_the_listener(runtime):
    hub = LocalHub()
    maker, listener = (VersionWatcher(runtime.sessions, hub, poll_seconds=3600)
                       for _ in range(2))
    theirs = Counter()
    maker.watch("things", Counter())
    listener.watch("things", theirs)
    for watcher in (maker, listener):
        await watcher.start()
    try:
        theirs.changed.clear()
        async with transaction(runtime.sessions) as session:
            session.info["settings_versions"] = maker
            await bump(session, "things")
        await asyncio.wait_for(theirs.changed.wait(), timeout=30)
        assert listener.loaded("things") == 1
    finally:
        await maker.close()
        await listener.close()


async def test_versions_count_up(runtime):
    for expected in (1, 2, 3):
        async with transaction(runtime.sessions) as session:
            assert await bump(session, "other") == expected
