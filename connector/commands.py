"""The commands' work, as async functions the CLI, the demo and tests all call.

Each takes an open `Runtime`; the CLI only parses arguments, prints, and maps errors to exit codes.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.errors import AuthError, RecordError
from connector.runtime import Runtime
from connector.store.inbox import Inbox, Subscriptions
from connector.sync.applier import Applier
from connector.sync.backfill import BackfillHooks, BackfillReport, run_backfill
from connector.sync.links import LinkIndex
from connector.sync.planner import Planner, PlannerConfig
from connector.sync.plans import Summary
from connector.sync.resync import resync_meetergo, resync_meetmatch
from mappings.records import MeetMatchProspect


def _config_for(rt: Runtime, directions: list[str] | None) -> PlannerConfig:
    if not directions:
        return rt.planner
    return dataclasses.replace(
        rt.planner, directions=frozenset(d for d in rt.planner.directions if d in directions)
    )


async def backfill(
    rt: Runtime,
    *,
    directions: list[str] | None = None,
    dry_run: bool = False,
    hooks: BackfillHooks | None = None,
) -> BackfillReport:
    return await run_backfill(
        rt.store,
        rt.meetmatch,
        rt.meetergo,
        _config_for(rt, directions),
        dry_run=dry_run,
        concurrency=rt.settings.sync.concurrency,
        bulk_threshold=rt.settings.sync.bulk_threshold,
        hooks=hooks,
    )


def redact_target(url: str) -> str:
    """meetergo's target URL carries the path token, a secret: keep only its first characters."""
    head, sep, token = url.rpartition("/hooks/meetergo/")
    return f"{head}{sep}{token[:4]}…" if sep else url


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def status(rt: Runtime) -> dict[str, Any]:
    """Every fact `meetbridge status` shows, as plain JSON-ready data."""
    store = rt.store
    skipped = await store.skipped()
    by_reason = Counter((s.side, s.reason) for s in skipped)
    runs = await store.last_runs()
    letters = await store.open_dead_letters()
    inbox = Inbox(store)
    last = {
        name: await store.get_cursor(f"last_{name}")
        for name in ("poll_meetmatch", "poll_meetergo", "reconcile", "dead_letters")
    }
    return {
        "links": await store.link_counts(),
        "skipped_by_reason": [
            {"side": side, "reason": reason, "count": n}
            for (side, reason), n in sorted(by_reason.items())
        ],
        "skipped": [s.__dict__ for s in skipped],
        "dead_letters": [
            {
                "id": d.id,
                "target": d.target,
                "operation": d.operation,
                "source_side": d.source_side,
                "source_id": d.source_id,
                "email": d.email,
                "attempts": d.attempts,
                "error": d.error,
                "created_at": _iso(d.created_at),
            }
            for d in letters
        ],
        "last_runs": {
            kind: {
                "status": run["status"],
                "started_at": _iso(run["started_at"]),
                "finished_at": _iso(run["finished_at"]),
                "summary": run["summary"],
            }
            for kind, run in runs.items()
        },
        "inbox": await inbox.counts(),
        "inbox_depth": await inbox.depth(),
        "last_success": last,
        "subscriptions": [
            {**s.__dict__, "target_url": redact_target(s.target_url)}
            for s in await Subscriptions(store).all()
        ],
    }


@dataclass
class ReplayResult:
    replayed: list[int]
    failed: dict[int, str]


async def replay(rt: Runtime, ids: list[int]) -> ReplayResult:
    """Sync each dead letter's source record again; resolved when it now goes through."""
    links = await LinkIndex.load(rt.store)
    planner = Planner(rt.planner, links)
    result = ReplayResult([], {})
    for letter in await rt.store.open_dead_letters(ids):
        summary = Summary()
        applier = Applier(
            rt.store,
            links,
            rt.meetmatch,
            rt.meetergo,
            rt.planner.options,
            summary,
            concurrency=1,
            bulk_threshold=rt.settings.sync.bulk_threshold,
        )
        try:
            if letter.source_side == "meetmatch":
                payload = await rt.store.get_sighting(letter.source_id)
                if payload is None:
                    result.failed[letter.id] = "the MeetMatch record was never seen; cannot replay"
                    continue
                await resync_meetmatch(planner, applier, MeetMatchProspect.model_validate(payload))
            else:
                await resync_meetergo(planner, applier, letter.source_id)
        except AuthError:
            raise
        except RecordError as exc:
            result.failed[letter.id] = str(exc)
            continue
        if summary.failed:
            result.failed[letter.id] = summary.failures[-1]
        else:
            await rt.store.resolve_dead_letter(letter.id)
            result.replayed.append(letter.id)
    return result


async def check(rt: Runtime) -> dict[str, str]:
    """Verify both keys and the state database; AuthError names the key that was refused."""
    org = await rt.meetmatch.auth()
    await rt.meetergo.list_page(1, 1)
    await rt.store.ping()
    return {
        "meetmatch": f"ok (organization {org.name or org.id or 'unnamed'})",
        "meetergo": "ok",
        "state": "ok",
    }
