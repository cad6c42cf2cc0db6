"""The daemon's jobs in-process: scheduling, the dead-letter retry, deliveries given up on.

The daemon object is the real one (`connector.daemon.Daemon`), on a sandbox through the ASGI
transport; only the receiver and the signal handling of `meetbridge run` are left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import update

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.clients.transport import RequestCounter
from connector.daemon import MAX_DELIVERY_ATTEMPTS, Daemon
from connector.metrics import Metrics
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import Settings
from connector.store import tables as t
from connector.store.inbox import Delivery
from connector.store.state import utcnow
from connector.sync.live import LiveSync
from tests.invariants import email_of


@dataclass
class Running:
    rt: Runtime
    daemon: Daemon


@asynccontextmanager
async def _daemon(
    sandbox: Sandbox, settings: Settings, attempts: int = 2
) -> AsyncIterator[Running]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(
        settings, transport=transport, retry=RetryPolicy.no_wait(attempts)
    ) as rt:
        live = await LiveSync.create(rt)
        yield Running(rt, Daemon(rt, live, Metrics()))


async def _age_dead_letters(rt: Runtime, minutes: float) -> None:
    """As if the letters' last try was `minutes` ago (the retry backoff is in minutes)."""
    async with rt.store.tx() as conn:
        await conn.execute(
            update(t.dead_letters).values(updated_at=utcnow() - timedelta(minutes=minutes))
        )


async def test_scheduled_jobs_all_run(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    """Every job is scheduled to run, not only the poll (a job added without a first run
    time would sit paused forever in APScheduler 3)."""
    settings = make_settings(sync={"poll_interval_seconds": 0.3, "reconcile_interval_seconds": 0.6})
    sandbox.meetergo.user_create_contact(firstName="Rec", email="rec@example.com")
    async with _daemon(sandbox, settings) as running:
        scheduler = running.daemon._schedule(settings)
        jobs = {job.id: job for job in scheduler.get_jobs()}
        scheduler.start()
        try:
            await asyncio.sleep(1.6)
            assert all(job.next_run_time is not None for job in scheduler.get_jobs())
        finally:
            scheduler.shutdown(wait=False)
        assert set(jobs) == {"poll", "retry_dead_letters", "reconcile"}
        store = running.rt.store
        assert await store.get_cursor("last_poll_meetergo") is not None
        assert await store.get_cursor("last_reconcile") is not None
        metrics = running.daemon.metrics.render().decode()
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith("meetbridge_last_success") and "reconcile" in x
        )
        assert not line.endswith(" 0.0"), line
    assert [email_of(c) for c in sandbox.meetmatch.all_contacts()] == ["rec@example.com"]


async def test_a_poll_never_runs_twice_at_once(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(sync={"poll_interval_seconds": 0.1})
    sandbox.meetergo.faults.update({"latency": 0.25})  # every poll outlasts its interval
    async with _daemon(sandbox, settings) as running:
        live = running.daemon.live
        real = live.poll_meetergo
        overlap = {"now": 0, "most": 0, "runs": 0}

        async def watched() -> int:
            overlap["now"] += 1
            overlap["runs"] += 1
            overlap["most"] = max(overlap["most"], overlap["now"])
            try:
                return await real()
            finally:
                overlap["now"] -= 1

        live.poll_meetergo = watched  # type: ignore[method-assign]
        scheduler = running.daemon._schedule(settings)
        scheduler.start()
        await asyncio.sleep(1.5)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.6)  # the poll in flight ends
    assert overlap["runs"] >= 2
    assert overlap["most"] == 1


async def test_dead_letters_are_retried_with_a_growing_backoff(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    for n in range(2):
        sandbox.meetergo.user_create_contact(firstName=f"D{n}", email=f"d{n}@example.com")
    sandbox.meetmatch.faults.update({"write_error_rate": 1.0})
    async with _daemon(sandbox, make_settings()) as running:
        rt, daemon = running.rt, running.daemon
        await commands.backfill(rt)
        assert [d.attempts for d in await rt.store.open_dead_letters()] == [1, 1]

        posts = sandbox.meetmatch.counters.count("POST", "/contacts")
        await daemon.retry_dead_letters()  # not due yet: a minute after the first failure
        assert sandbox.meetmatch.counters.count("POST", "/contacts") == posts
        await _age_dead_letters(rt, 1.5)
        await daemon.retry_dead_letters()  # due, and the vendor still refuses
        assert [d.attempts for d in await rt.store.open_dead_letters()] == [2, 2]
        await _age_dead_letters(rt, 1.5)
        posts = sandbox.meetmatch.counters.count("POST", "/contacts")
        await daemon.retry_dead_letters()  # attempt 2 waits two minutes: not due
        assert sandbox.meetmatch.counters.count("POST", "/contacts") == posts

        # A read failing before any write is tried still counts as a failed try.
        sandbox.meetmatch.faults.update({"write_error_rate": 0.0})
        sandbox.meetergo.faults.update({"error_rate": 1.0})
        await _age_dead_letters(rt, 2.5)
        await daemon.retry_dead_letters()
        assert [d.attempts for d in await rt.store.open_dead_letters()] == [3, 3]

        sandbox.meetergo.faults.update({"error_rate": 0.0})
        await _age_dead_letters(rt, 4.5)
        await daemon.retry_dead_letters()
        assert await rt.store.open_dead_letters() == []
        assert "dead_letters 0.0" in daemon.metrics.render().decode()
    assert sorted(email_of(c) or "" for c in sandbox.meetmatch.all_contacts()) == [
        "d0@example.com",
        "d1@example.com",
    ]


async def test_a_delivery_given_up_on_becomes_a_dead_letter_and_replays(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    booking = sandbox.meetergo.book("late@example.com", "La", "Te")
    sandbox.meetergo.faults.update({"error_rate": 1.0})  # meetergo cannot be read
    async with _daemon(sandbox, make_settings()) as running:
        rt, daemon = running.rt, running.daemon
        assert await daemon.inbox.enqueue("meetergo", "booking_created", b"b1", booking)
        [stored] = await daemon.inbox.pending()
        await daemon._apply(Delivery(stored.id, stored.vendor, stored.event, stored.payload, 0))
        assert (await daemon.inbox.counts()).get("pending") == 1  # deferred, not given up
        assert await rt.store.open_dead_letters() == []

        last_try = Delivery(
            stored.id, stored.vendor, stored.event, stored.payload, MAX_DELIVERY_ATTEMPTS - 1
        )
        await daemon._apply(last_try)
        assert (await daemon.inbox.counts()) == {"failed": 1}
        [letter] = (await commands.status(rt))["dead_letters"]
        assert letter["operation"] == "delivery" and "500" in letter["error"]
        assert sandbox.meetmatch.all_contacts() == []

        sandbox.meetergo.faults.update({"error_rate": 0.0})
        result = await commands.replay(rt, [])
        assert result.replayed == [letter["id"]] and result.failed == {}
        assert (await commands.status(rt))["dead_letters"] == []
    assert [email_of(c) for c in sandbox.meetmatch.all_contacts()] == ["late@example.com"]


async def test_a_cancelled_poll_stops_there(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    """A stop past its grace time or a lost lock cancels a poll: the rest of it must not run
    (without the lock another replica may be syncing already)."""
    sandbox.meetmatch.faults.update({"latency": 0.5})
    async with _daemon(sandbox, make_settings()) as running:
        daemon = running.daemon
        poll = asyncio.create_task(daemon.poll())
        await asyncio.sleep(0.1)
        assert poll in daemon.in_flight
        poll.cancel()
        await asyncio.gather(poll, return_exceptions=True)
        await asyncio.sleep(0.3)
        assert sandbox.meetergo.counters.requests == 0  # poll_meetergo never started
        assert daemon.in_flight == set()


def test_a_revoked_key_is_refused_for_reads_and_writes_until_any_request_passes() -> None:
    counter = RequestCounter()
    changes: list[tuple[str, str, bool]] = []
    counter.key_listeners.append(lambda *change: changes.append(change))
    counter.key_answer("meetergo", "write", "401: revoked", whole_key=True)
    assert set(counter.refused) == {("meetergo", "read"), ("meetergo", "write")}
    counter.key_answer("meetergo", "read", None)  # the key works again: both clear
    assert counter.refused == {}
    counter.key_answer("meetmatch", "write", "403: no write scope")
    counter.key_answer("meetmatch", "read", None)  # reads never lacked their scope
    assert set(counter.refused) == {("meetmatch", "write")}
    counter.key_answer("meetmatch", "write", "403: no write scope")  # no second line
    assert changes == [
        ("meetergo", "read", False),
        ("meetergo", "write", False),
        ("meetergo", "read", True),
        ("meetergo", "write", True),
        ("meetmatch", "write", False),
    ]
