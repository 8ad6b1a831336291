"""In-memory sliding-window limits (login throttling, form submissions per IP).

Each process keeps its own windows; behind several server instances the effective limit
is per instance. Time comes from `core.clock`.
"""

from __future__ import annotations

from collections import deque

from core import clock


class SlidingWindowLimiter:
    """Allow at most `limit` hits per key within `window_seconds`."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 100_000):
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._evict_idle()
            hits = self._hits[key] = deque()
        horizon = clock.now().timestamp() - self.window
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits

    def _evict_idle(self) -> None:
        horizon = clock.now().timestamp() - self.window
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= horizon]:
            del self._hits[key]

    def blocked_for(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it may now."""
        hits = self._recent(key)
        if len(hits) < self.limit:
            return 0
        return max(1, int(hits[0] + self.window - clock.now().timestamp()) + 1)

    def hit(self, key: str) -> None:
        """Record one attempt for `key`."""
        self._recent(key).append(clock.now().timestamp())

    def reset(self, key: str) -> None:
        """Forget `key` (e.g. after a successful login)."""
        self._hits.pop(key, None)
