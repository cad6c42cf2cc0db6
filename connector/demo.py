"""`meetbridge demo`: the whole product against the bundled sandbox, in a few seconds.

The sandbox runs in-process (through httpx's ASGI transport) with seeded data full of the cases
that break naive connectors: overlapping people with case-variant emails, unicode names, phone-only
and invalid entries, an ambiguous pair, prospects only visible in appointments. Rate limits are the
vendors' shape scaled up 60x on both sides, so the budget logic runs but the demo stays short.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import httpx
from rich.console import Console

from connector import commands
from connector.report import summary_table
from connector.runtime import open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.sandbox.meetmatch import MeetMatchState
from connector.sandbox.seed import seed_demo
from connector.settings import load_settings
from mappings import normalize_email

SPEEDUP = 60


def demo_sandbox() -> Sandbox:
    return Sandbox(
        meetmatch=MeetMatchState(requests_per_minute=120 * SPEEDUP, burst=20),
        meetergo=MeetergoState(
            requests_per_minute=100 * SPEEDUP, burst=100, bulk_per_minute=3 * SPEEDUP
        ),
    )


def demo_config(state_url: str) -> dict[str, dict[str, object]]:
    return {
        "meetmatch": {
            "base_url": "http://sandbox/meetmatch",
            "api_key": "mm_live_sandbox",
            "requests_per_minute": 120 * SPEEDUP,
        },
        "meetergo": {
            "base_url": "http://sandbox/meetergo",
            "api_key": "mg_sandbox",
            "requests_per_minute": 100 * SPEEDUP,
            "bulk_per_minute": 3 * SPEEDUP,
        },
        "state": {"url": state_url},
    }


def _duplicates(contacts: list[dict[str, object]]) -> int:
    emails = Counter(
        e for c in contacts if isinstance(e := normalize_email(str(c.get("email") or "")), str)
    )
    return sum(n - 1 for n in emails.values() if n > 1)


def _reason_counts(rows: list[dict[str, object]]) -> list[str]:
    return [f"{row['side']} {row['reason']}={row['count']}" for row in rows]


async def run_demo(console: Console, meetergo: int = 300, meetmatch: int = 200) -> int:
    sandbox = demo_sandbox()
    seed_demo(sandbox, meetergo=meetergo, meetmatch=meetmatch)
    mg_before = sandbox.meetergo.all_contacts()
    mm_before = sandbox.meetmatch.all_contacts()
    visible = sandbox.meetmatch.visible_people()
    console.print(
        f"[bold]sandbox seeded[/bold]: {len(mg_before)} meetergo contacts "
        f"({_duplicates(mg_before)} deliberate duplicate email), {len(mm_before)} MeetMatch "
        f"contacts, plus appointments, deals and form submissions"
    )
    console.print(
        f"MeetMatch lists show only their newest 100 records: {len(visible)} of "
        f"{len(mm_before)} MeetMatch people are visible through the API"
    )
    with tempfile.TemporaryDirectory(prefix="meetbridge-demo-") as tmp:
        settings = load_settings(None, demo_config(f"sqlite:///{Path(tmp) / 'state.db'}"))
        transport = httpx.ASGITransport(app=sandbox.app)
        async with open_runtime(settings, transport=transport) as rt:
            first = await commands.backfill(rt)
            console.print(summary_table(first.summary, "first backfill"))
            writes_first = sandbox.stats()
            sandbox.reset_counters()
            second = await commands.backfill(rt)
            console.print(summary_table(second.summary, "second backfill (idempotence)"))
            facts = await commands.status(rt)
        stats = sandbox.stats()
    mg_after = sandbox.meetergo.all_contacts()
    mm_after = sandbox.meetmatch.all_contacts()
    writes_second = stats["meetergo"]["writes"] + stats["meetmatch"]["writes"]
    console.print(
        f"first backfill: {writes_first['meetergo']['requests']} meetergo requests "
        f"({writes_first['meetergo']['writes']} writes), "
        f"{writes_first['meetmatch']['requests']} MeetMatch requests "
        f"({writes_first['meetmatch']['writes']} writes), "
        f"{writes_first['meetergo']['rate_limited'] + writes_first['meetmatch']['rate_limited']}"
        " answered 429"
    )
    console.print(f"second backfill: {writes_second} writes")
    console.print(
        f"after: {len(mg_after)} meetergo contacts, {len(mm_after)} MeetMatch contacts; "
        f"links: {facts['links']['both_sides']} paired; "
        f"skipped: {sum(r['count'] for r in facts['skipped_by_reason'])} "
        f"({', '.join(_reason_counts(facts['skipped_by_reason']))})"
    )
    new_duplicates = _duplicates(mg_after) - _duplicates(mg_before) + _duplicates(mm_after)
    ok = first.summary.failed == 0 and writes_second == 0 and new_duplicates == 0
    console.print("[green]demo ok[/green]" if ok else "[red]demo found a problem[/red]")
    return 0 if ok else 1
