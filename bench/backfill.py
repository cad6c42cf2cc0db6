"""Backfill benchmarks: requests against the computed minimum, time against the rate floor,
peak memory, and how time and state statements scale with the number of contacts.

Data set: `n` meetergo contacts and 100 MeetMatch contacts, 50 of them the same people (by
email). A backfill then links 50 pairs, creates the 50 MeetMatch-only people in meetergo and the
`n - 50` meetergo-only people in MeetMatch.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import Sandbox, run_meetbridge, start_sandbox, write_config

MEETMATCH_PEOPLE = 100
OVERLAP = 50
# What a backfill must read on MeetMatch: contacts, appointments, deals, form submissions.
MEETMATCH_LISTS = 4
MEETERGO_PAGE = 100  # meetergo's largest page
BULK_MAX = 1000  # contacts per POST /crm/bulk


def minimum_requests(
    meetergo: int, meetmatch: int = MEETMATCH_PEOPLE, overlap: int = OVERLAP
) -> int:
    """The fewest requests any correct backfill of the data set can make.

    Every meetergo page must be read once; the MeetMatch-only people go to meetergo in as few
    bulk calls as fit, and the newest pages are read once more to learn the ids meetergo gave
    them (the bulk answer does not name them); each meetergo-only person is one MeetMatch
    create (MeetMatch has no bulk). Overlapping people with nothing to fill need no write.
    """
    new_meetergo = meetmatch - overlap
    new_meetmatch = meetergo - overlap
    return (
        MEETMATCH_LISTS
        + max(1, math.ceil(meetergo / MEETERGO_PAGE))
        + math.ceil(new_meetergo / BULK_MAX)
        + math.ceil(new_meetergo / MEETERGO_PAGE)
        + new_meetmatch
    )


@dataclass
class BackfillFigures:
    """One measured backfill."""

    meetergo_contacts: int
    meetmatch_contacts: int
    exit_code: int
    requests_meetmatch: int
    requests_meetergo: int
    rate_limited: int
    minimum: int
    process_seconds: float
    run_seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    state_statements: int
    meetmatch_rpm: float | None
    meetergo_rpm: float | None

    @property
    def requests(self) -> int:
        return self.requests_meetmatch + self.requests_meetergo

    @property
    def efficiency(self) -> float:
        """Requests spent over the minimum (1.00 = none wasted)."""
        return self.requests / self.minimum

    @property
    def rate_limited_share(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0

    @property
    def floor_seconds(self) -> float | None:
        """The time the budgets alone impose: each vendor's requests over its rate.

        The phases that use each vendor run one after the other (meetergo's walk, then
        MeetMatch's creates), so the floors add up.
        """
        if self.meetmatch_rpm is None or self.meetergo_rpm is None:
            return None
        return 60 * (
            self.requests_meetmatch / self.meetmatch_rpm
            + self.requests_meetergo / self.meetergo_rpm
        )

    @property
    def floor_ratio(self) -> float | None:
        floor = self.floor_seconds
        return self.run_seconds / floor if floor else None

    @property
    def statements_per_contact(self) -> float:
        return self.state_statements / (self.meetergo_contacts + self.meetmatch_contacts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "requests": self.requests,
            "efficiency": round(self.efficiency, 4),
            "rate_limited_share": round(self.rate_limited_share, 5),
            "floor_seconds": self.floor_seconds,
            "floor_ratio": self.floor_ratio,
            "statements_per_contact": round(self.statements_per_contact, 3),
        }


def _run_seconds(state: Path) -> float:
    """How long the backfill's own run took, from its record in the state database.

    The process time also holds interpreter start, imports and migrations (about a second),
    which no budget imposes; the rate floor is compared with the run itself.
    """
    with sqlite3.connect(state) as db:
        started, finished = db.execute(
            "SELECT started_at, finished_at FROM sync_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def _statements(output: str) -> int:
    for line in output.splitlines():
        if line.startswith("{") and "state statements" in line:
            message = str(json.loads(line).get("msg", ""))
            return int(message.rsplit(",", 1)[1].split()[0])
    raise RuntimeError("the backfill did not log its state statements")


def measure_backfill(
    meetergo: int,
    workdir: Path,
    *,
    meetmatch_rpm: float | None = None,
    meetergo_rpm: float | None = None,
    bulk_per_minute: float | None = None,
) -> BackfillFigures:
    """Seed a sandbox, run `meetbridge backfill` in its own process, read what it cost."""
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / f"backfill-{meetergo}.db"
    state.unlink(missing_ok=True)
    sandbox: Sandbox = start_sandbox(
        meetergo=meetergo,
        meetmatch=MEETMATCH_PEOPLE,
        overlap=OVERLAP,
        meetergo_rpm=meetergo_rpm,
        meetmatch_rpm=meetmatch_rpm,
        bulk_per_minute=bulk_per_minute,
    )
    try:
        config = write_config(
            workdir / "backfill.toml",
            sandbox,
            state,
            meetergo_rpm=meetergo_rpm,
            meetmatch_rpm=meetmatch_rpm,
            bulk_per_minute=bulk_per_minute,
        )
        timed = run_meetbridge("backfill", "--config", str(config), "--log-level", "INFO")
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    if timed.returncode != 0:
        raise RuntimeError(f"backfill exited {timed.returncode}:\n{timed.output[-3000:]}")
    return BackfillFigures(
        meetergo_contacts=meetergo,
        meetmatch_contacts=MEETMATCH_PEOPLE,
        exit_code=timed.returncode,
        requests_meetmatch=stats["meetmatch"]["requests"],
        requests_meetergo=stats["meetergo"]["requests"],
        rate_limited=stats["meetmatch"]["rate_limited"] + stats["meetergo"]["rate_limited"],
        minimum=minimum_requests(meetergo),
        process_seconds=timed.wall_seconds,
        run_seconds=_run_seconds(state),
        peak_rss_mb=timed.peak_rss_mb,
        cpu_seconds=timed.cpu_seconds,
        state_statements=_statements(timed.output),
        meetmatch_rpm=meetmatch_rpm,
        meetergo_rpm=meetergo_rpm,
    )
