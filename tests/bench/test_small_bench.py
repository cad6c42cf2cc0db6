"""The small benchmark CI runs: a 1,000-contact backfill spends the minimum number of requests,
and with the budgets enforced by the sandbox it is almost never refused with a 429.

Times are not asserted (CI machines differ); `python -m bench` measures and records them.
"""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import SCALED_BULK, SCALED_RPM
from bench.backfill import OVERLAP, measure_backfill, minimum_requests


def test_minimum_counts_every_request_a_backfill_cannot_avoid() -> None:
    # 4 MeetMatch lists, 10 pages, 1 bulk call, 1 re-read page, 950 MeetMatch creates.
    assert minimum_requests(1000) == 4 + 10 + 1 + 1 + 950
    assert minimum_requests(100_000) == 4 + 1000 + 1 + 1 + 100_000 - OVERLAP


def test_backfill_spends_at_most_five_percent_over_the_minimum(tmp_path: Path) -> None:
    figures = measure_backfill(1000, tmp_path)
    assert figures.exit_code == 0
    assert figures.minimum == 966
    assert figures.efficiency <= 1.05, figures.as_dict()
    # Memory is recorded, not timed: it must at least be read from the finished process.
    assert figures.peak_rss_mb > 0


def test_backfill_at_enforced_budgets_is_rarely_refused(tmp_path: Path) -> None:
    figures = measure_backfill(
        1000,
        tmp_path,
        meetmatch_rpm=SCALED_RPM,
        meetergo_rpm=SCALED_RPM,
        bulk_per_minute=SCALED_BULK,
    )
    assert figures.exit_code == 0
    assert figures.efficiency <= 1.05, figures.as_dict()
    assert figures.rate_limited_share <= 0.005, figures.as_dict()
    # The floor is the budgets' doing: the run cannot beat it (a sandbox that did not enforce
    # the budget would let it).
    assert figures.floor_seconds is not None
    assert figures.run_seconds >= 0.95 * figures.floor_seconds, figures.as_dict()
