"""The one retry policy: which errors are retried, how often, how long to wait.

Only `RetryableError` is retried (never bare `Exception`); attempts and total time are bounded
(429s count against the total time only); waits grow exponentially with jitter; a 429's
`Retry-After` is honoured as the wait. Tests build a
policy with zero waits. `UncertainWriteError` is retried only for idempotent requests: repeating a
non-idempotent create whose answer was lost could create the record twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from connector.errors import RateLimitedError, RetryableError, UncertainWriteError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    max_seconds: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 30.0

    @classmethod
    def no_wait(cls, attempts: int = 5) -> RetryPolicy:
        """For tests: retry at once, as often as in production."""
        return cls(attempts=attempts, max_seconds=60.0, initial_wait=0.0, max_wait=0.0)

    async def run(self, call: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        # Attempts that failed for a reason other than being throttled. A 429 is the vendor
        # saying "later", not "broken": a burst of them must not use up the attempts meant
        # for real failures, so they are bounded by the total time alone.
        failures = 0

        def should_retry(exc: BaseException) -> bool:
            nonlocal failures
            if isinstance(exc, UncertainWriteError):
                retry = idempotent
            else:
                retry = isinstance(exc, RetryableError)
            if retry and not isinstance(exc, RateLimitedError):
                failures += 1
            return retry

        def stop(state: RetryCallState) -> bool:
            return failures >= self.attempts or stop_after_delay(self.max_seconds)(state)

        jitter = wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait)

        def wait(state: RetryCallState) -> float:
            # Never past the total time bound: the attempt after it would be stopped anyway.
            left = self.max_seconds - (state.seconds_since_start or 0.0)
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                # The budget itself is paused for this long; waiting here too keeps order.
                # Retry-After counts whole seconds: at least one is waited.
                return min(exc.retry_after, max(left, 1.0))
            if self.initial_wait <= 0:
                return 0.0
            return max(0.0, min(float(jitter(state)), left))

        retrying = AsyncRetrying(
            retry=retry_if_exception(should_retry),
            stop=stop,
            wait=wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
