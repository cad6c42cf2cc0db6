"""Invariant 5 for the backfill: a run killed with SIGKILL midway, rerun, converges exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from mappings import normalize_email
from tests.e2e.conftest import (
    SandboxServer,
    meetbridge,
    spawn_meetbridge,
    start_sandbox,
    write_config,
)

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


def _kill_after(server: SandboxServer, config: Path, vendor: str, writes: int) -> None:
    run = spawn_meetbridge("backfill", "--config", str(config))
    deadline = time.monotonic() + 60
    while server.stats()[vendor]["writes"] < writes:
        assert run.poll() is None, "the backfill ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert run.poll() is None, "the backfill finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait()


async def _add_meetmatch_twins(server: SandboxServer, people: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as control:
        answers = await asyncio.gather(
            *(
                control.post(
                    "/_sandbox/meetmatch/contacts",
                    json={
                        "full_name": f"Person {n}",
                        "email": f"person{n:06d}@bulk.example.com",
                        "company": f"Company {n}",
                        "notify": False,
                    },
                )
                for n in range(people)
            )
        )
    assert all(answer.status_code == 201 for answer in answers)


@pytest.mark.parametrize("writes", ["single_creates", "updates"])
def test_killed_during_meetergo_writes_reruns_to_exactly_once(tmp_path: Path, writes: str) -> None:
    """SIGKILL in the middle of single POST /crm creates (bulk out of reach), or of the
    PATCHes that fill_empty makes for people both sides hold; the rerun converges exactly,
    and a third run writes nothing. The killed run's history row says it was interrupted."""
    people = 100
    server = start_sandbox(
        "--seed",
        "bulk",
        "--meetergo",
        "0" if writes == "single_creates" else str(people),
        "--meetmatch",
        str(people) if writes == "single_creates" else "0",
        "--overlap",
        "0",
        "--meetergo-rpm",
        "6000",
        "--bulk-per-minute",
        "60",
    )
    try:
        if writes == "updates":
            # The same people in MeetMatch, with a company meetergo lacks (sent at once: the
            # sandbox answers each request slowly on its own).
            asyncio.run(_add_meetmatch_twins(server, people))
        state = tmp_path / "state.db"
        config = write_config(tmp_path / "config.toml", server, state, rate="6000")
        with config.open("a", encoding="utf-8") as extra:
            extra.write("\n[sync]\nbulk_threshold = 100000\n")
        _kill_after(server, config, "meetergo", 30)
        written = server.stats()["meetergo"]["writes"]
        assert 30 <= written < people

        rerun = meetbridge("backfill", "--config", str(config))
        assert rerun.returncode == 0, rerun.stderr

        mg = server.get("/_sandbox/meetergo/contacts")
        mm = server.get("/_sandbox/meetmatch/contacts")
        assert len(mg) == len(mm) == people
        assert max(_emails(mg).values()) == 1 and max(_emails(mm).values()) == 1
        assert set(_emails(mg)) == set(_emails(mm))
        stats = server.stats()["meetergo"]
        routes: Counter[tuple[str, str]] = Counter()
        for row in stats["by_route"]:
            routes[(row["method"], row["path"])] += row["count"]
        if writes == "single_creates":
            assert routes[("POST", "/crm/bulk")] == 0
            # The rerun created only who was missing: every POST made one contact.
            assert routes[("POST", "/crm")] == people
        else:
            assert all(c["additionalData"].get("company", "").startswith("Company ") for c in mg)
            # A PATCH is safe to repeat: at most the one in flight at the kill was sent twice.
            assert people <= routes[("PATCH", "/crm/{id}")] <= people + 8
        with sqlite3.connect(state) as db:
            statuses = [row[0] for row in db.execute("SELECT status FROM sync_runs ORDER BY id")]
        assert statuses == ["interrupted", "ok"]

        server.post("/_sandbox/reset-stats", {})
        third = meetbridge("backfill", "--config", str(config))
        assert third.returncode == 0, third.stderr
        after = server.stats()
        assert after["meetergo"]["writes"] == 0 and after["meetmatch"]["writes"] == 0
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
