"""Invariant 5 for the backfill: a run killed with SIGKILL midway, rerun, converges exactly once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from mappings import normalize_email
from tests.e2e.conftest import SandboxServer, meetbridge, spawn_meetbridge, write_config

pytestmark = pytest.mark.slow


def _emails(records: list[dict[str, object]]) -> Counter[str]:
    return Counter(
        e for r in records if isinstance(e := normalize_email(str(r.get("email") or "")), str)
    )


@pytest.mark.sandbox_args(
    "--seed",
    "bulk",
    "--meetergo",
    "600",
    "--meetmatch",
    "100",
    "--overlap",
    "0",
    "--meetergo-rpm",
    "3000",
    "--meetmatch-rpm",
    "3000",
    "--bulk-per-minute",
    "60",
)
@pytest.mark.parametrize(("vendor", "writes_before_kill"), [("meetmatch", 150), ("meetergo", 1)])
def test_killed_backfill_reruns_to_exactly_once(
    sandbox_server: SandboxServer, tmp_path: Path, vendor: str, writes_before_kill: int
) -> None:
    config = write_config(tmp_path / "config.toml", sandbox_server, tmp_path / "state.db")
    mg_before = sandbox_server.get("/_sandbox/meetergo/contacts")
    mm_before = sandbox_server.get("/_sandbox/meetmatch/contacts")

    run = spawn_meetbridge("backfill", "--config", str(config))
    deadline = time.monotonic() + 120
    while sandbox_server.stats()[vendor]["writes"] < writes_before_kill:
        assert run.poll() is None, "the backfill ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert run.poll() is None, "the backfill finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait()

    rerun = meetbridge("backfill", "--config", str(config))
    assert rerun.returncode == 0, rerun.stderr

    mg_after = sandbox_server.get("/_sandbox/meetergo/contacts")
    mm_after = sandbox_server.get("/_sandbox/meetmatch/contacts")
    assert len(mg_after) == len(mg_before) + len(mm_before)
    assert len(mm_after) == len(mm_before) + len(mg_before)
    assert max(_emails(mg_after).values()) == 1
    assert max(_emails(mm_after).values()) == 1
    assert set(_emails(mg_after)) == set(_emails(mm_after))

    sandbox_server.post("/_sandbox/reset-stats", {})
    third = meetbridge("backfill", "--config", str(config))
    assert third.returncode == 0, third.stderr
    stats = sandbox_server.stats()
    assert stats["meetergo"]["writes"] == 0
    assert stats["meetmatch"]["writes"] == 0


@pytest.mark.sandbox_args(
    "--seed",
    "bulk",
    "--meetergo",
    "400",
    "--meetmatch",
    "50",
    "--overlap",
    "0",
    "--meetergo-rpm",
    "3000",
    "--meetmatch-rpm",
    "3000",
    "--bulk-per-minute",
    "60",
)
def test_a_second_backfill_beside_a_running_one_is_refused(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", sandbox_server, tmp_path / "state.db")
    first = spawn_meetbridge("backfill", "--config", str(config))
    deadline = time.monotonic() + 60
    while sandbox_server.stats()["meetmatch"]["writes"] < 20:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    second = meetbridge("backfill", "--config", str(config))
    assert second.returncode == 1
    assert "another meetbridge process" in second.stderr
    assert first.wait(timeout=120) == 0
    mg = sandbox_server.get("/_sandbox/meetergo/contacts")
    mm = sandbox_server.get("/_sandbox/meetmatch/contacts")
    assert max(_emails(mg).values()) == 1 and max(_emails(mm).values()) == 1
    assert len(mg) == 450 and len(mm) == 450
