"""A reconcile scan saturating a vendor's budget delays live work by at most one request slot.

The daemon's own reconcile job runs against a sandbox whose MeetMatch budget is one request per
100 ms with no burst; it has dozens of MeetMatch creates to make. A webhook delivery arriving
meanwhile needs one MeetMatch write of its own. It must not queue behind the reconcile's writes:
its request takes the next token, and the whole delivery takes about one slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from connector.clients.retry import RetryPolicy
from connector.daemon import Daemon
from connector.metrics import Metrics
from connector.runtime import open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.sandbox.meetmatch import MeetMatchState
from connector.sandbox.seed import seed_bulk
from connector.settings import Settings
from connector.store.inbox import Delivery
from connector.sync.live import LiveSync
from tests.invariants import duplicate_emails, email_of

SLOT = 0.1  # MeetMatch: 600 requests/minute, one at a time
LIVE_OVERHEAD = 0.15  # the delivery's own work: two meetergo reads, store writes


async def test_a_webhook_overtakes_a_saturating_reconcile(
    make_settings: Callable[..., Settings],
) -> None:
    sandbox = Sandbox(
        meetmatch=MeetMatchState(requests_per_minute=600, burst=1),
        meetergo=MeetergoState(requests_per_minute=60_000, burst=100, bulk_per_minute=600),
    )
    seed_bulk(sandbox, meetergo=40, meetmatch=0, overlap=0)
    settings = make_settings(
        meetmatch={"requests_per_minute": 600, "burst": 1},
        meetergo={"requests_per_minute": 60_000, "bulk_per_minute": 600},
    )
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        live = await LiveSync.create(rt)
        daemon = Daemon(rt, live, Metrics())
        reconcile = asyncio.create_task(daemon.reconcile())

        # Let the reconcile get well into its MeetMatch creates (4 s of them in all).
        # The sandbox's counters have no event to wait on: poll them.
        while sandbox.meetmatch.counters.writes < 8:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        booking = sandbox.meetergo.book("live@example.com", "Li", "Ve")
        delivery = Delivery(1, "meetergo", "booking_created", booking, 0)
        writes_before = sandbox.meetmatch.counters.writes
        started = time.monotonic()
        await live.apply_delivery(delivery)
        took = time.monotonic() - started
        writes_meanwhile = sandbox.meetmatch.counters.writes - writes_before

        assert sandbox.meetmatch.contact_by_email("live@example.com") is not None
        assert not reconcile.done(), "the reconcile should still be saturating the budget"
        # The delivery's write took the next free token: at most the one reconcile request
        # already granted went before it.
        assert writes_meanwhile <= 2, writes_meanwhile  # the granted one, and the live one
        assert took <= SLOT + LIVE_OVERHEAD, f"the webhook waited {took:.3f} s"

        await reconcile
        assert await rt.store.get_cursor("last_reconcile") is not None

    mm = sandbox.meetmatch.all_contacts()
    assert duplicate_emails(mm) == {}
    assert {email_of(c) for c in mm} == {email_of(c) for c in sandbox.meetergo.all_contacts()}
    assert len(mm) == 41
