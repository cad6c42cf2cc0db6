"""The backfill, a real process, under vendor faults and SIGKILL at the worst moments.

Each case ends with DESIGN's invariants on what the sandbox vendors hold (harness.py):
no duplicates, nobody lost, and a further run that writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import SandboxServer, meetbridge
from tests.faults.harness import (
    Process,
    assert_invariants,
    clear_faults,
    config_text,
    every_fault,
    faults,
    wait_for,
)

pytestmark = pytest.mark.slow

SEED = ("--seed", "bulk", "--meetergo", "150", "--meetmatch", "60", "--overlap", "20")
RATES = ("--meetergo-rpm", "6000", "--meetmatch-rpm", "6000", "--bulk-per-minute", "60")


def _config(server: SandboxServer, tmp_path: Path, sync: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        config_text(server, f"sqlite:///{tmp_path / 'state.db'}", sync=sync), encoding="utf-8"
    )
    return path


@pytest.mark.sandbox_args(*SEED, *RATES)
def test_backfill_rides_out_every_fault_on_both_vendors(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """10 % 500s, 5 % two-second answers, 2 % dropped connections (before and after a write),
    and 429 bursts with and without Retry-After, on both vendors at once."""
    config = _config(sandbox_server, tmp_path, "bulk_threshold = 40")
    every_fault(sandbox_server, seed=11, retry_after={"meetmatch": False, "meetergo": True})
    run = meetbridge("backfill", "--config", str(config))
    # Exit 1 is allowed: a write that failed every retry is a dead letter, not a loss.
    assert run.returncode in (0, 1), run.stderr
    stats = sandbox_server.stats()
    assert stats["meetergo"]["rate_limited"] >= 5, stats["meetergo"]
    assert stats["meetmatch"]["rate_limited"] >= 5, stats["meetmatch"]
    assert stats["meetergo"]["dropped"] + stats["meetmatch"]["dropped"] > 0

    clear_faults(sandbox_server)
    replay = meetbridge("replay", "--config", str(config))
    assert replay.returncode == 0, replay.stderr
    rerun = meetbridge("backfill", "--config", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert_invariants(sandbox_server, config)


@pytest.mark.sandbox_args(*SEED, *RATES)
@pytest.mark.parametrize(
    ("vendor", "bulk_threshold"),
    [
        ("meetergo", 3),  # during a bulk create: applied, not yet answered
        ("meetergo", 1_000_000),  # a single POST /crm applied, its link not yet committed
        ("meetmatch", 3),  # a MeetMatch create applied, its link not yet committed
    ],
)
def test_backfill_killed_between_a_vendor_write_and_its_link(
    sandbox_server: SandboxServer, tmp_path: Path, vendor: str, bulk_threshold: int
) -> None:
    config = _config(sandbox_server, tmp_path, f"bulk_threshold = {bulk_threshold}")
    # The vendor applies the write, then holds its answer: the window where a crash has
    # written but not recorded. The backfill is killed inside it.
    faults(sandbox_server, vendor, stall_after_write=30.0)
    run = Process(["backfill", "--config", str(config)], tmp_path / "backfill.log")
    run.start()
    wait_for(
        lambda: sandbox_server.stats()[vendor]["stalled"] >= 1,
        60,
        f"no {vendor} write was ever made",
    )
    assert run.alive()
    run.kill()
    clear_faults(sandbox_server)

    rerun = meetbridge("backfill", "--config", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert_invariants(sandbox_server, config)
