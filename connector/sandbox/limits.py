"""Token bucket used by both simulated vendors to enforce request budgets.

A token bucket is the usual server-side shape of a "N requests per minute, bursts to M" limit:
it refills continuously and lets a full bucket be spent at once. The clock is injectable so that
tests can step time by hand instead of sleeping through a minute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Refill arithmetic is floating point; a bucket that is 1e-12 short of a token is full enough.
_EPSILON = 1e-9


class TokenBucket:
    """A bucket of `capacity` tokens refilled at `rate_per_minute`; it starts full."""

    def __init__(
        self,
        rate_per_minute: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_minute < 0:
            raise ValueError("rate_per_minute must not be negative")
        if capacity < 1:
            raise ValueError("capacity must hold at least one token")
        self.rate_per_minute = float(rate_per_minute)
        self.capacity = float(capacity)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    @property
    def tokens(self) -> float:
        """Tokens available right now (refilled up to the current clock reading)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_minute / 60.0)

    def wait_time(self) -> float:
        """Seconds until one token is available, without taking it (0.0 if one is there now).

        Separate from `try_take` so a request that must pass two buckets (a meetergo bulk call)
        can check both first and spend from neither when one of them refuses.
        """
        self._refill()
        missing = 1.0 - self._tokens
        if missing <= _EPSILON:
            return 0.0
        if self.rate_per_minute == 0:
            return math.inf
        return missing * 60.0 / self.rate_per_minute

    def try_take(self) -> float:
        """Take one token: 0.0 when taken, else the seconds until one will be available."""
        wait = self.wait_time()
        if wait == 0.0:
            self._tokens -= 1.0
        return wait
