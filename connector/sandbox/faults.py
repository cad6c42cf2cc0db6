"""Fault switches and request counters shared by both simulated vendors.

Faults let a test make the network as unkind as a real one (5xx, throttling, latency, a write
whose answer never arrives) while staying repeatable: every random choice comes from one seeded
`random.Random`. Counters let a test assert how many requests and writes a client really made,
which is how "no duplicate writes" and "quiescence" are checked from the outside.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DROP_MESSAGE = "sandbox dropped the connection after applying the write"
DROP_BEFORE_MESSAGE = "sandbox dropped the connection before handling the request"


@dataclass
class Faults:
    """Switches that make a vendor misbehave; all off by default.

    error_rate: fraction of requests answered 500 before anything is done.
    write_error_rate: the same for write requests only (POST/PUT/PATCH/DELETE), so reads succeed
        while writes fail: how a vendor looks when its write path is down.
    fail_next: statuses to answer for the next requests, one each, in order (e.g. [500, 429]).
    latency: seconds to sleep before handling each request.
    slow_rate: fraction of requests that take `slow_seconds` longer (a slow backend now and then).
    drop_rate: fraction of requests whose connection drops before anything is done.
    drop_after_write_rate: fraction of successful writes that are applied and whose answer is
        then lost (the app raises ConnectionResetError instead of answering).
    stall_after_write: seconds a successful write's answer is held back after the write was
        applied: the window in which a client can die having written but not heard back.
    retry_after: whether injected 429s (`fail_next`) carry a Retry-After header.
    seed: seeds the random source, so a faulty run can be repeated exactly.
    """

    error_rate: float = 0.0
    write_error_rate: float = 0.0
    fail_next: list[int] = field(default_factory=list)
    latency: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    drop_rate: float = 0.0
    drop_after_write_rate: float = 0.0
    stall_after_write: float = 0.0
    retry_after: bool = True
    seed: int = 0
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the random sequence, so the same faults hit the same requests again."""
        self.seed = seed
        self.rng = random.Random(seed)

    def next_failure(self, *, write: bool = False) -> int | None:
        """The status to answer instead of handling this request, or None to handle it."""
        if self.fail_next:
            return self.fail_next.pop(0)
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            return 500
        if write and self.write_error_rate > 0 and self.rng.random() < self.write_error_rate:
            return 500
        return None

    def should_drop(self) -> bool:
        """Whether the answer to this successful write is to be lost on the way back."""
        return self.drop_after_write_rate > 0 and self.rng.random() < self.drop_after_write_rate

    def extra_latency(self) -> float:
        """Seconds to wait before handling this request (fixed latency plus the odd slow one)."""
        slow = self.slow_rate > 0 and self.rng.random() < self.slow_rate
        return self.latency + (self.slow_seconds if slow else 0.0)

    def should_drop_before(self) -> bool:
        """Whether this request's connection drops before the vendor does anything."""
        return self.drop_rate > 0 and self.rng.random() < self.drop_rate

    def update(self, settings: dict[str, Any]) -> None:
        """Apply switches from the control API; raises ValueError naming a bad field."""
        for name, value in settings.items():
            if name in _RATES:
                rate = _number(name, value)
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1")
                setattr(self, name, rate)
            elif name in _SECONDS:
                seconds = _number(name, value)
                if seconds < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self, name, seconds)
            elif name == "retry_after":
                if not isinstance(value, bool):
                    raise ValueError("retry_after must be true or false")
                self.retry_after = value
            elif name == "fail_next":
                if not isinstance(value, list) or not all(_is_status(v) for v in value):
                    raise ValueError("fail_next must be a list of HTTP status codes")
                self.fail_next = list(value)
            elif name == "seed":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError("seed must be an integer")
                self.reseed(value)
            else:
                raise ValueError(f"unknown fault field {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The switches as JSON, for the control API."""
        return {
            **{name: getattr(self, name) for name in (*_RATES, *_SECONDS)},
            "fail_next": list(self.fail_next),
            "retry_after": self.retry_after,
            "seed": self.seed,
        }


_RATES = ("error_rate", "write_error_rate", "slow_rate", "drop_rate", "drop_after_write_rate")
_SECONDS = ("latency", "slow_seconds", "stall_after_write")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


@dataclass
class Counters:
    """What a vendor saw: every request it answered, by route template and status.

    requests: all answered requests (auth failures and 429s included).
    writes: POST/PUT/PATCH/DELETE requests that reached their handler, whatever the outcome.
    rate_limited: 429 answers sent (by the limiter or by `fail_next`).
    dropped: writes applied whose answer was then lost (`drop_after_write_rate`); they are also
        counted under the status the handler produced, because the write did happen. A request
        dropped before handling (`drop_rate`) is counted under status 0.
    stalled: writes applied whose answer was held back (`stall_after_write`).
    """

    requests: int = 0
    writes: int = 0
    rate_limited: int = 0
    dropped: int = 0
    stalled: int = 0
    by_route: Counter[tuple[str, str, int]] = field(default_factory=Counter)

    def record(self, method: str, path: str, status: int) -> None:
        """Count one answered request under its route template (e.g. "/crm/{id}")."""
        self.requests += 1
        self.by_route[(method, path, status)] += 1
        if status == 429:
            self.rate_limited += 1

    def count(
        self, method: str | None = None, path: str | None = None, status: int | None = None
    ) -> int:
        """Requests matching every given filter, e.g. count("POST", "/crm/bulk", 201)."""
        return sum(
            n
            for (m, p, s), n in self.by_route.items()
            if (method is None or m == method.upper())
            and (path is None or p == path)
            and (status is None or s == status)
        )

    def reset(self) -> None:
        """Start counting from zero (e.g. after seeding or between test phases)."""
        self.requests = self.writes = self.rate_limited = self.dropped = self.stalled = 0
        self.by_route.clear()

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON, with by-route counts as a sorted list."""
        return {
            "requests": self.requests,
            "writes": self.writes,
            "rate_limited": self.rate_limited,
            "dropped": self.dropped,
            "stalled": self.stalled,
            "by_route": [
                {"method": m, "path": p, "status": s, "count": n}
                for (m, p, s), n in sorted(self.by_route.items())
            ],
        }
