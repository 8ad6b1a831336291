"""Settings versions: how every process learns that settings kept in the database changed.

Settings an admin changes at run time (a room's own tables) are read by every process into
a value it keeps in memory. Each such group of settings has a name (e.g. "channels") and a
version, a row of `settings_versions`:

- A change bumps the version in the transaction that makes it (`bump`), so the new version
  is committed exactly when the change is.
- After the commit, the process that made it reloads at once (so its own next request sees
  the change) and announces the new version on a hub of its own (`core.live.make_hub`,
  channel `<queue_name>:settings`): in-process on the embedded default, Redis pub/sub when
  `[jobs] redis_url` is set, so other servers reload within moments. (A hub of its own, not
  the live updates' one: a listener there would make every process think a browser listens.)
- Two processes on one SQLite file have no Redis between them, and an announcement can be
  missed (a process starting, Redis restarting): every `poll_seconds` each process also
  reads the versions (one small query) and reloads what moved.

`VersionWatcher` does the receiving side: a room registers `watch(name, reload)`, and the
watcher calls `reload()` whenever the committed version of `name` differs from the one it
last loaded. Reloads of one name never overlap; a failed reload is logged and tried again
at the next poll. Core knows no domain: what a reload reads is the room's business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Integer, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, after_commit
from core.live import LiveEvent, LocalHub, Subscription

log = logging.getLogger(__name__)

KIND = "settings.version"
"""The kind of event announcing a new version."""
WATCHER = "settings_versions"
"""Where a runtime's watcher is found in `session.info`."""
DEFAULT_POLL_SECONDS = 2.0

Reload = Callable[[], Awaitable[None]]


class SettingsVersion(Base):
    """The committed version of one group of settings."""

    __tablename__ = "settings_versions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


async def read_version(session: AsyncSession, name: str) -> int:
    """The committed version of `name` (0 when it was never bumped)."""
    version = await session.scalar(
        select(SettingsVersion.version).where(SettingsVersion.name == name))
    return int(version or 0)


async def bump(session: AsyncSession, name: str) -> int:
    """Raise the version of `name` in the caller's transaction and return the new one. Once
    the transaction commits, this process reloads and every other one is told (see the
    module docstring); rolled back, nothing happens. The update takes the row's lock, so
    concurrent changes are counted one after the other."""
    result = await session.execute(
        update(SettingsVersion).where(SettingsVersion.name == name)
        .values(version=SettingsVersion.version + 1).returning(SettingsVersion.version))
    version = result.scalar()
    if version is None:
        session.add(SettingsVersion(name=name, version=1))
        await session.flush()
        version = 1
    watcher: VersionWatcher | None = session.info.get(WATCHER)
    if watcher is not None:
        new_version = int(version)

        async def committed() -> None:
            await watcher.committed(name, new_version)

        after_commit(session, committed)
    return int(version)


def _announcements(event: LiveEvent) -> bool:
    return event.kind == KIND


class VersionWatcher:
    """Keeps this process's copies of settings at their committed versions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: LocalHub, *,
                 poll_seconds: float = DEFAULT_POLL_SECONDS):
        self.sessions = sessions
        self.hub = hub
        self.poll_seconds = poll_seconds
        self._reloads: dict[str, Reload] = {}
        self._loaded: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None

    def watch(self, name: str, reload: Reload) -> None:
        """Call `reload()` whenever the committed version of `name` moves (register before
        `start`, which loads every watched name once)."""
        self._reloads[name] = reload
        self._locks[name] = asyncio.Lock()

    def loaded(self, name: str) -> int | None:
        """The version of `name` this process loaded last (None before the first load)."""
        return self._loaded.get(name)

    async def start(self) -> None:
        """Load every watched name, then listen for announcements and poll."""
        for name in self._reloads:
            await self.refresh(name)
        self._subscription = self.hub.subscribe(_announcements)
        try:
            await self.hub.start()
        except Exception:  # Redis away: polling still brings every change
            log.exception("settings versions: cannot listen for announcements; polling only")
        self._tasks = [asyncio.create_task(self._listen(), name="settings-versions-listen"),
                       asyncio.create_task(self._poll(), name="settings-versions-poll")]

    async def close(self) -> None:
        """Stop listening and polling."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        await self.hub.close()

    async def refresh(self, name: str) -> bool:
        """Reload `name` if its committed version differs from the one loaded; True when
        it reloaded. The version is read before the settings, so what is loaded is never
        older than the version recorded for it."""
        reload = self._reloads.get(name)
        if reload is None:
            return False
        async with self._locks[name]:
            async with self.sessions() as session:
                version = await read_version(session, name)
            if self._loaded.get(name) == version:
                return False
            await reload()
            self._loaded[name] = version
            return True

    async def committed(self, name: str, version: int) -> None:
        """A change of `name` to `version` committed in this process: reload here, then
        tell the others."""
        try:
            await self.refresh(name)
        finally:
            await self.hub.publish([LiveEvent(KIND, data={"name": name, "version": version})])

    async def _listen(self) -> None:
        subscription = self._subscription
        assert subscription is not None
        while True:
            event = await subscription.queue.get()
            if subscription.lagged.is_set():  # fell behind: read everything again
                subscription.close()
                subscription = self._subscription = self.hub.subscribe(_announcements)
                await self._refresh_all()
                continue
            name = event.data.get("name")
            if isinstance(name, str) and self._loaded.get(name) != event.data.get("version"):
                await self._refresh_logged(name)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self._refresh_all()

    async def _refresh_all(self) -> None:
        for name in list(self._reloads):
            await self._refresh_logged(name)

    async def _refresh_logged(self, name: str) -> None:
        try:
            await self.refresh(name)
        except Exception:
            log.exception("could not reload the settings %r (tried again at the next poll)",
                          name)


def watcher_of(info: dict[str, Any]) -> VersionWatcher | None:
    """The watcher a runtime provides its sessions (`session.info`), if any."""
    watcher = info.get(WATCHER)
    return watcher if isinstance(watcher, VersionWatcher) else None
