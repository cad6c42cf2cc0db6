"""Token bucket: starts full, refills continuously, reports the wait when empty."""

from __future__ import annotations

import math

import pytest

from connector.sandbox import TokenBucket

from .conftest import FakeClock


def test_bucket_starts_full_and_empties() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, 3, clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(1.0)


def test_bucket_refills_at_rate_and_caps_at_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, 2, clock)  # 2 tokens per second
    bucket.try_take()
    bucket.try_take()
    clock.advance(0.25)
    assert bucket.try_take() == pytest.approx(0.25)  # half a token there, half missing
    clock.advance(0.25)
    assert bucket.try_take() == 0.0
    clock.advance(3600)
    assert bucket.tokens == 2.0


def test_wait_time_does_not_take_a_token() -> None:
    bucket = TokenBucket(1, 1, FakeClock())
    assert bucket.wait_time() == 0.0
    assert bucket.wait_time() == 0.0
    assert bucket.try_take() == 0.0
    assert bucket.wait_time() == pytest.approx(60.0)


def test_zero_rate_never_refills() -> None:
    bucket = TokenBucket(0, 1, FakeClock())
    assert bucket.try_take() == 0.0
    assert math.isinf(bucket.try_take())


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(10, 0.5)
    with pytest.raises(ValueError):
        TokenBucket(-1, 10)
