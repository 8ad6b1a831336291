"""Login throttling that cannot be turned against others.

Failures are counted per account *and* source address: each failure past the free ones
doubles the wait before that account's next attempt from that source (capped). A wrong
password typed for one account never delays another account's login from the same
address, nor the same account's login from another address. Per source address, across
accounts, a higher limit (`login_source_max_failures` per window) stops one address from
trying many accounts. Every attempt is counted as a failure before its password is checked
and taken back when it was correct, so guesses sent in parallel wait their turn too.

The counters are `core.throttle`'s, shared by every server process; the arithmetic is
`core.windows`'.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import RateLimited
from core.settings import SecuritySettings
from core.throttle import Throttle, Value, counter_key, dump, load
from core.windows import (
    Attempt,
    Backoff,
    Streak,
    Window,
    WindowCount,
    attempt,
    count_at,
    streak_at,
    whole_seconds,
    without_hit,
)


@dataclass(frozen=True)
class Claim:
    """An attempt that went ahead: counted as a failure in the source's bucket `bucket`."""

    account: str
    source: str
    bucket: int


class LoginThrottle:
    """The login throttle of `[security]`, on the shared counters of `throttle`."""

    def __init__(self, throttle: Throttle, settings: SecuritySettings):
        self.throttle = throttle
        self.backoff = Backoff(free=settings.login_free_failures,
                               first_delay=settings.login_first_delay_seconds,
                               max_delay=settings.login_max_delay_seconds,
                               forget_after=settings.login_forget_seconds)
        self.window = Window(settings.login_source_max_failures,
                             settings.login_source_window_seconds)

    def _keys(self, account: str, source: str) -> list[str]:
        return [counter_key("login", account, source), counter_key("login-source", source)]

    def _keep(self) -> list[float]:
        return [self.backoff.forget_after, 2 * self.window.seconds]

    async def claim(self, email: str, source: str) -> Claim:
        """Let an attempt to log in as `email` from `source` go ahead, counted as a failure
        until `succeeded` takes it back; RateLimited (nothing counted) when that account
        must wait at that source, or the source has failed too often."""
        account = email.strip().lower()
        judged: Attempt | None = None

        def decide(now: float, values: list[Value | None]) -> list[Value | None] | None:
            nonlocal judged
            judged = attempt(streak_at(load(Streak, values[0]), now, self.backoff),
                             count_at(load(WindowCount, values[1]), now, self.window),
                             now, self.backoff, self.window)
            if judged.wait:
                return None
            return [dump(judged.streak), dump(judged.count)]

        await self.throttle.change(self._keys(account, source), self._keep(), decide)
        assert judged is not None
        if judged.wait:
            seconds = whole_seconds(judged.wait)
            raise RateLimited(f"too many failed logins; try again in {seconds} s",
                              retry_after=seconds)
        return Claim(account, source, judged.count.bucket)

    async def succeeded(self, claim: Claim) -> None:
        """The claimed attempt was a correct login: the account's streak of failures from
        that source ends, and the source's count forgets the attempt."""
        def decide(now: float, values: list[Value | None]) -> list[Value | None]:
            count = count_at(load(WindowCount, values[1]), now, self.window)
            return [None, dump(without_hit(count, claim.bucket))]

        await self.throttle.change(self._keys(claim.account, claim.source), self._keep(),
                                   decide)
