"""`meetbridge demo`: the whole product against the bundled sandbox, in a few seconds.

The sandbox runs in-process (through httpx's ASGI transport) with seeded data full of the cases
that break naive connectors: overlapping people with case-variant emails, unicode names, phone-only
and invalid entries, an ambiguous pair, prospects only visible in appointments. Rate limits are the
vendors' shape scaled up 60x on both sides, so the budget logic runs but the demo stays short.

After the backfill (twice, to show it is idempotent) the demo runs the daemon's live parts: the
webhook receiver, the inbox worker and a poll, with the sandbox vendors delivering their signed
webhooks into the receiver in-process, as they would over HTTPS.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from connector import commands
from connector.daemon import Daemon
from connector.hooks import ensure_subscriptions
from connector.metrics import Metrics
from connector.receiver import receiver_app
from connector.report import summary_table
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.sandbox.meetmatch import MeetMatchState
from connector.sandbox.seed import seed_demo
from connector.settings import load_settings
from connector.sync.live import LiveSync
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
            "webhook_secret": MeetMatchState().webhook_secret,
            "requests_per_minute": 120 * SPEEDUP,
        },
        "meetergo": {
            "base_url": "http://sandbox/meetergo",
            "api_key": "mg_sandbox",
            "requests_per_minute": 100 * SPEEDUP,
            "bulk_per_minute": 3 * SPEEDUP,
        },
        "state": {"url": state_url},
        "receiver": {
            # The sandbox delivers in-process; the URL only has to be one vendors accept.
            "public_url": "http://127.0.0.1:8080",
            "meetergo_path_token": secrets.token_urlsafe(32),
        },
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
            stats = sandbox.stats()
            live_ok = await _live_events(console, sandbox, rt)
            facts = await commands.status(rt)
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
    ok = first.summary.failed == 0 and writes_second == 0 and new_duplicates == 0 and live_ok
    console.print("[green]demo ok[/green]" if ok else "[red]demo found a problem[/red]")
    return 0 if ok else 1


async def _until(check: Callable[[], bool], seconds: float = 5.0) -> float | None:
    """Seconds until `check` held, or None if it did not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        await asyncio.sleep(0.005)
    return None


async def _live_events(console: Console, sandbox: Sandbox, rt: Runtime) -> bool:
    """The daemon's receiver, worker and poll on live events; prints what happened."""
    live = await LiveSync.create(rt)
    daemon = Daemon(rt, live, Metrics())
    settings = rt.settings
    assert settings.meetmatch.webhook_secret and settings.receiver.meetergo_path_token
    app = receiver_app(
        daemon.inbox,
        meetmatch_secrets=[settings.meetmatch.webhook_secret.get_secret_value()],
        meetergo_token=settings.receiver.meetergo_path_token.get_secret_value(),
        metrics=daemon.metrics,
        ready=daemon.ready,
    )
    # The vendors' webhook deliveries go straight into the receiver.
    into_receiver = httpx.ASGITransport(app=app)
    sandbox.meetmatch.deliverer.transport = into_receiver
    sandbox.meetergo.deliverer.transport = into_receiver
    await ensure_subscriptions(rt)
    worker = asyncio.create_task(daemon.work_inbox())

    rows: list[tuple[str, str, str]] = []
    ok = True

    def arrived(what: str, how: str, took: float | None) -> None:
        nonlocal ok
        ok = ok and took is not None
        verdict = f"arrived in {took * 1000:.0f} ms" if took is not None else "[red]lost[/red]"
        rows.append((what, how, verdict))

    sandbox.meetmatch.add_contact("Jordan Avery", "jordan.avery@acme.example", company="Acme")
    took = await _until(
        lambda: bool(sandbox.meetergo.contacts_with_email("jordan.avery@acme.example"))
    )
    arrived("MeetMatch contact → meetergo", "signed contact.created webhook", took)

    sandbox.meetergo.book("nia.booker@example.org", "Nia", "Booker")
    took = await _until(
        lambda: sandbox.meetmatch.contact_by_email("nia.booker@example.org") is not None
    )
    arrived("meetergo booking → MeetMatch", "booking_created webhook, re-read", took)

    forged = json.dumps({"event": "contact.created", "data": {"id": "x", "email": "eve@x.io"}})
    async with httpx.AsyncClient(transport=into_receiver, base_url="http://receiver") as client:
        answer = await client.post(
            "/hooks/meetmatch",
            content=forged,
            headers={"X-MeetMatch-Signature": "sha256=" + "0" * 64},
        )
    refused = answer.status_code == 401
    ok = ok and refused
    rows.append(("forged MeetMatch delivery", "wrong signature", f"refused ({answer.status_code})"))

    sandbox.meetergo.user_create_contact(firstName="Polly", email="polly.poll@example.org")
    started = time.monotonic()
    await daemon.poll()
    polled = sandbox.meetmatch.contact_by_email("polly.poll@example.org") is not None
    arrived(
        "meetergo UI contact → MeetMatch",
        "poll (meetergo has no contact events)",
        time.monotonic() - started if polled else None,
    )

    # The echoes of meetbridge's own creates come back as webhooks too; let them settle.
    await sandbox.drain_deliveries()
    for _ in range(500):
        if not await daemon.inbox.depth():
            break
        await asyncio.sleep(0.01)
    sandbox.reset_counters()
    await daemon.poll()
    quiet = sandbox.stats()["meetergo"]["writes"] + sandbox.stats()["meetmatch"]["writes"] == 0
    ok = ok and quiet
    rows.append(
        (
            "converged: echoes and a second poll",
            "content hashes",
            "0 writes" if quiet else "[red]wrote[/red]",
        )
    )
    daemon.stop.set()
    await worker

    table = Table(title="live events (receiver, inbox worker, poll)")
    for column in ("event", "how it got there", "result"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return ok
