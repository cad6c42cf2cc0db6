"""Rate budgets: a smooth pace with a small burst, shared by every request made with one key.

A token bucket refills at `requests_per_minute / 60` tokens a second up to `burst` tokens; each
request takes one. After a 429 the whole budget pauses for the vendor's `Retry-After`, because
every request with that key would be refused just the same.

Two lanes share one bucket: live work (webhooks, polls, replays) and background work (the
reconcile scan). A background request takes a token only while no live request is waiting, and
never the last one: a scan of 100,000 contacts saturating the budget leaves a token for the next
webhook, which then goes out at once instead of a slot later. Work marks itself as background
with `background_work()`; the mark follows the asyncio context into tasks.

The lanes share the CPU too: a scan plans hundreds of contacts between two requests. Background
loops call `yield_to_live()` at each step, which lets the event loop run anything ready and waits
while live work is being applied (`live_work()`), so a webhook is not queued behind planning.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_BACKGROUND: ContextVar[bool] = ContextVar("meetbridge_background_work", default=False)

# How long a background request naps while live work holds the bucket.
_YIELD_SECONDS = 0.005
# How long one background step waits for live work to finish before it goes on anyway (live
# work that never pauses must not stop a reconcile for good).
_LIVE_PATIENCE_SECONDS = 1.0
_live_in_flight = 0


@contextlib.contextmanager
def live_work() -> Iterator[None]:
    """Live work (one delivery, one poll) being applied: background steps wait for it."""
    global _live_in_flight
    _live_in_flight += 1
    try:
        yield
    finally:
        _live_in_flight -= 1


async def yield_to_live() -> None:
    """A step of background work: let ready tasks run, and wait while live work is applied.

    Outside `background_work()` this only yields to the event loop.
    """
    await asyncio.sleep(0)
    if not _BACKGROUND.get():
        return
    waited = 0.0
    while _live_in_flight and waited < _LIVE_PATIENCE_SECONDS:
        await asyncio.sleep(_YIELD_SECONDS)
        waited += _YIELD_SECONDS


@contextlib.contextmanager
def background_work() -> Iterator[None]:
    """Requests made inside (and in tasks started inside) yield to live requests."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


class RateBudget:
    """An async token bucket; `acquire()` returns once a request may be sent."""

    def __init__(
        self,
        requests_per_minute: float,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ValueError("requests_per_minute must be > 0 and burst >= 1")
        self.rate = requests_per_minute / 60.0
        self.capacity = float(burst)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._paused_until = 0.0
        self._live_waiting = 0
        self.acquired = 0
        # Tokens background work needs in the bucket before it takes one.
        self._background_floor = 2.0 if burst >= 2 else 1.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def wait_time(self) -> float:
        """Seconds until the next token is free (0 when one is free now); takes nothing."""
        now = self._clock()
        self._refill(now)
        pause = max(0.0, self._paused_until - now)
        if self._tokens >= 1:
            return pause
        return max(pause, (1 - self._tokens) / self.rate)

    async def acquire(self) -> None:
        """Wait for a token and take it; background work waits while live work is waiting."""
        background = _BACKGROUND.get()
        if not background:
            self._live_waiting += 1
        try:
            while True:
                delay = self.wait_time()
                if background and delay <= 0 and self._tokens < self._background_floor:
                    # Background work leaves the last token to live work (burst permitting).
                    delay = (self._background_floor - self._tokens) / self.rate
                # Check and take happen with no await between them: no other task can slip in.
                if delay <= 0 and (not background or self._live_waiting == 0):
                    self._tokens -= 1
                    self.acquired += 1
                    return
                await asyncio.sleep(delay if delay > 0 else _YIELD_SECONDS)
        finally:
            if not background:
                self._live_waiting -= 1

    def refill_seconds(self) -> float:
        """Seconds an empty budget takes to fill its whole burst again."""
        return self.capacity / self.rate

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` (the vendor said 429 with Retry-After)."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + seconds)
        # The bucket's saved-up burst is void too: the vendor counts differently than we did.
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)
