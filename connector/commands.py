"""The commands' work, as async functions the CLI, the demo and tests all call.

Each takes an open `Runtime`; the CLI only parses arguments, prints, and maps errors to exit codes.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.errors import AuthError, MeetbridgeError
from connector.runtime import Runtime, open_runtime
from connector.settings import Settings
from connector.store.database import dry_run_url
from connector.store.inbox import Delivery, Inbox, Subscriptions
from connector.store.state import DeadLetter
from connector.sync.applier import Applier
from connector.sync.backfill import BackfillHooks, BackfillReport, run_backfill
from connector.sync.live import LiveSync
from connector.sync.planner import PlannerConfig
from connector.sync.plans import Summary
from connector.sync.resync import resync_meetergo, resync_meetmatch
from mappings.records import MeetMatchProspect

if TYPE_CHECKING:  # only for annotations: the clients are the code that uses httpx
    import httpx

    from connector.clients.retry import RetryPolicy


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


async def dry_run_backfill(
    settings: Settings,
    *,
    directions: list[str] | None = None,
    hooks: BackfillHooks | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> BackfillReport:
    """`backfill --dry-run`: the plan, with nothing written to either vendor or the state.

    Opening a runtime migrates its store, so a dry run opens its own on `dry_run_url`: a
    private copy of a SQLite state (none is created where there was none), or a read-only
    PostgreSQL session that refuses a schema it would have to migrate.
    """
    async with dry_run_url(settings.state.url) as url:
        private = settings.model_copy(
            update={"state": settings.state.model_copy(update={"url": url})}
        )
        async with open_runtime(private, transport=transport, retry=retry) as rt:
            return await backfill(rt, directions=directions, dry_run=True, hooks=hooks)


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


# A dead letter of this operation holds a webhook delivery the worker gave up on (its payload
# is the delivery); every other one holds a failed write, replayed from its source record.
DELIVERY = "delivery"


async def replay(rt: Runtime, ids: list[int], *, live: LiveSync | None = None) -> ReplayResult:
    """Sync each dead letter's source record again; resolved when it now goes through.

    The daemon passes its `LiveSync` (and holds its lock), so a replay shares the per-person
    gate with a reconcile running beside it; the CLI replays on a private one.
    """
    live = live or await LiveSync.create(rt)
    result = ReplayResult([], {})
    for letter in await rt.store.open_dead_letters(ids):
        summary = Summary()
        # Counted and shown like live sync's own actions (metrics, the status page).
        summary.listeners.extend(live.summary.listeners)
        applier = Applier(
            rt.store,
            live.links,
            rt.meetmatch,
            rt.meetergo,
            rt.planner.options,
            summary,
            concurrency=1,
            bulk_threshold=rt.settings.sync.bulk_threshold,
            gate=live.gate,
        )
        applier.on_action = live.applier.on_action
        try:
            problem = await _replay_one(rt, live, applier, letter)
        except AuthError:
            raise
        except Exception as exc:
            # Anything, a bug included: this letter stays open and counts the try; the rest of
            # the batch is still replayed.
            problem = (
                str(exc) if isinstance(exc, MeetbridgeError) else f"{type(exc).__name__}: {exc}"
            )
        if problem is None and summary.failed:
            problem = summary.failures[-1]
        if problem is None:
            await rt.store.resolve_dead_letter(letter.id)
            result.replayed.append(letter.id)
            continue
        result.failed[letter.id] = problem
        if letter.operation == DELIVERY or not summary.failed:
            # Not counted by the applier (which counts a failed write on the letter of that
            # write): without this the letter's next retry would not wait any longer.
            await rt.store.dead_letter_failed_again(letter.id, problem)
    return result


async def _replay_one(
    rt: Runtime, live: LiveSync, applier: Applier, letter: DeadLetter
) -> str | None:
    """Replay one dead letter; the reason it cannot be replayed, or None once it was tried."""
    if letter.operation == DELIVERY:
        delivery = Delivery(
            id=0,
            vendor=str(letter.payload.get("vendor", "")),
            event=str(letter.payload.get("event", "")),
            payload=dict(letter.payload.get("delivery") or {}),
            attempts=letter.attempts,
        )
        await live.apply_delivery(delivery, applier)
    elif letter.source_side == "meetmatch":
        payload = await rt.store.get_sighting(letter.source_id)
        if payload is None:
            return "the MeetMatch record was never seen; cannot replay"
        await resync_meetmatch(live.planner, applier, MeetMatchProspect.model_validate(payload))
    else:
        await resync_meetergo(live.planner, applier, letter.source_id)
    return None


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
