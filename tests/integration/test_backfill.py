"""Backfill end to end through the sandbox: DESIGN's invariants 1-4 and the request budget."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.sandbox.meetmatch import MeetMatchState
from connector.sandbox.seed import seed_bulk, seed_demo
from connector.settings import load_settings
from connector.sync.backfill import BackfillHooks
from connector.sync.plans import Side
from tests.conftest import config_dict, make_sandbox
from tests.invariants import (
    assert_no_duplicates,
    assert_nothing_lost,
    duplicate_emails,
    email_of,
    visible_meetmatch_ids,
)


async def test_demo_data_converges_without_duplicates_or_losses(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    seed_demo(sandbox)
    preexisting = set(duplicate_emails(sandbox.meetergo.all_contacts()))
    visible = visible_meetmatch_ids(sandbox)
    sandbox.reset_counters()

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    await assert_no_duplicates(sandbox, runtime, preexisting)
    await assert_nothing_lost(sandbox, runtime, visible)
    reasons = {(s.side, s.reason) for s in await runtime.store.skipped()}
    assert ("meetergo", "no_email") in reasons
    assert ("meetergo", "invalid_email") in reasons
    assert ("meetergo", "ambiguous_match") in reasons
    assert sandbox.stats()["meetergo"]["rate_limited"] == 0
    assert sandbox.stats()["meetmatch"]["rate_limited"] == 0


async def test_second_backfill_makes_zero_writes(sandbox: Sandbox, runtime: Runtime) -> None:
    seed_demo(sandbox)
    first = await commands.backfill(runtime)
    assert first.summary.get(Side.MEETMATCH, "created") > 0
    sandbox.reset_counters()

    second = await commands.backfill(runtime)

    stats = sandbox.stats()
    assert stats["meetergo"]["writes"] == 0
    assert stats["meetmatch"]["writes"] == 0
    for side in Side:
        for outcome in ("created", "updated", "linked", "failed"):
            assert second.summary.get(side, outcome) == 0, (side, outcome)


async def test_ambiguous_meetergo_pair_is_neither_modified_nor_linked(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    first = sandbox.meetergo.user_create_contact(
        firstName="Sam", lastName="Taylor", email="sam@example.com"
    )
    second = sandbox.meetergo.user_create_contact(firstName="Samuel", email="SAM@example.com ")
    sandbox.meetmatch.add_contact("Sam Taylor", "sam@example.com", company="Acme")

    await commands.backfill(runtime)

    after = {c["id"]: c for c in sandbox.meetergo.all_contacts()}
    assert after[first["id"]]["updatedAt"] == first["updatedAt"]
    assert after[second["id"]]["updatedAt"] == second["updatedAt"]
    assert len(after) == 2
    links = await runtime.store.all_links()
    assert all(link.meetergo_id not in after for link in links)
    facts = await commands.status(runtime)
    ambiguous = [s for s in facts["skipped"] if s["reason"] == "ambiguous_match"]
    assert {s["record_id"] for s in ambiguous if s["side"] == "meetergo"} == set(after)
    # MeetMatch holds the person once.
    assert [c["email"] for c in sandbox.meetmatch.all_contacts()] == ["sam@example.com"]


async def test_ambiguous_pair_reaches_meetmatch_once(sandbox: Sandbox, runtime: Runtime) -> None:
    older = datetime(2025, 1, 1, tzinfo=UTC)
    sandbox.meetergo.user_create_contact(firstName="Kim", email="kim@example.com", created_at=older)
    sandbox.meetergo.user_create_contact(firstName="Kimberly", email="Kim@Example.com")

    await commands.backfill(runtime)

    # Creating the person in MeetMatch does not clear the pair's skips: status lists both.
    skipped = await runtime.store.skipped()
    ambiguous = {
        s.record_id for s in skipped if (s.side, s.reason) == ("meetergo", "ambiguous_match")
    }
    assert ambiguous == {c["id"] for c in sandbox.meetergo.all_contacts()}
    await commands.backfill(runtime)

    assert [email_of(c) for c in sandbox.meetmatch.all_contacts()] == ["kim@example.com"]
    assert sandbox.meetmatch.all_contacts()[0]["full_name"] == "Kim"


MINIMUM_REQUESTS = 4 + math.ceil(1000 / 100) + 1000 + 1 + 1


@pytest.mark.parametrize("created", ["distinct", "one_second"])
async def test_request_count_is_within_five_percent_of_the_minimum(
    sandbox: Sandbox, runtime: Runtime, created: str
) -> None:
    """1,000 meetergo contacts into MeetMatch and 100 the other way, with default settings.

    The minimum: 4 MeetMatch list reads (contacts, appointments, deals, form submissions),
    10 meetergo pages of 100, 1,000 MeetMatch creates (there is no bulk endpoint), 1 meetergo
    bulk create for the 100, and 1 newest-first page to learn the new ids = 1,016 requests.

    The count does not depend on the pace: the budgets only delay requests, and paced at the
    vendors' rates none is refused (429s are asserted zero), so none is retried. The fixture's
    budgets (client and sandbox alike) are the vendors' scaled up 600x only to keep the test
    fast; at 100/minute the same run takes about 11 minutes and spends the same 1,016.

    - distinct: every meetergo contact has its own createdAt. Exactly the minimum.
    - one_second: all 1,000 came in one import and share one createdAt. Tied rows come back
      in no stable order, so the createdAt walk overlaps and misses rows and meetergo is
      walked again by email (10 more pages): within 1.05x, and nobody is created twice.
    """
    seed_bulk(sandbox, meetergo=1000, meetmatch=100, overlap=0, one_import=created == "one_second")
    sandbox.reset_counters()

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    assert report.summary.get(Side.MEETMATCH, "created") == 1000
    assert report.summary.get(Side.MEETERGO, "created") == 100
    stats = sandbox.stats()
    spent = stats["meetergo"]["requests"] + stats["meetmatch"]["requests"]
    assert MINIMUM_REQUESTS == 1016
    print(f"{created}: requests spent: {spent}, minimum: {MINIMUM_REQUESTS}")
    if created == "distinct":
        assert spent == MINIMUM_REQUESTS, spent
    else:
        assert MINIMUM_REQUESTS < spent <= 1.05 * MINIMUM_REQUESTS, spent
    assert stats["meetergo"]["rate_limited"] == 0
    assert stats["meetmatch"]["rate_limited"] == 0
    mg, mm = sandbox.meetergo.all_contacts(), sandbox.meetmatch.all_contacts()
    assert len(mm) == 1100 and len(mg) == 1100
    assert duplicate_emails(mg) == {} and duplicate_emails(mm) == {}
    assert {email_of(c) for c in mg} == {email_of(c) for c in mm}


async def test_dry_run_writes_nothing(sandbox: Sandbox, runtime: Runtime) -> None:
    seed_demo(sandbox, meetergo=60, meetmatch=30, overlap=10)
    sandbox.reset_counters()

    report = await commands.backfill(runtime, dry_run=True)

    assert report.plans
    stats = sandbox.stats()
    assert stats["meetergo"]["writes"] == 0
    assert stats["meetmatch"]["writes"] == 0
    assert await runtime.store.all_links() == []
    assert await runtime.store.skipped() == []


async def test_one_direction_only(sandbox: Sandbox, runtime: Runtime) -> None:
    sandbox.meetergo.user_create_contact(firstName="Ana", email="ana@example.com")
    sandbox.meetmatch.add_contact("Bo Li", "bo@example.com")

    await commands.backfill(runtime, directions=["meetergo_to_meetmatch"])

    assert {email_of(c) for c in sandbox.meetmatch.all_contacts()} == {
        "ana@example.com",
        "bo@example.com",
    }
    assert {email_of(c) for c in sandbox.meetergo.all_contacts()} == {"ana@example.com"}


async def test_backfill_converges_on_every_state_backend(any_state_url: str) -> None:
    sandbox = make_sandbox()
    seed_demo(sandbox, meetergo=120, meetmatch=60, overlap=20)
    preexisting = set(duplicate_emails(sandbox.meetergo.all_contacts()))
    visible = visible_meetmatch_ids(sandbox)
    settings = load_settings(None, config_dict(any_state_url))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        await commands.backfill(rt)
        await assert_no_duplicates(sandbox, rt, preexisting)
        await assert_nothing_lost(sandbox, rt, visible)
        sandbox.reset_counters()
        await commands.backfill(rt)
    assert sandbox.stats()["meetergo"]["writes"] + sandbox.stats()["meetmatch"]["writes"] == 0


async def test_budget_at_the_vendor_rate_never_meets_a_429(tmp_path: Path) -> None:
    """Invariant 6: meetbridge paced at exactly the vendors' rates is never refused.

    The sandbox's buckets have the vendors' shape (meetergo: bursts well above the pace; the
    bulk endpoint its own bucket) at 60x speed so the pacing really engages: 300+ requests at
    100/s. meetbridge's own burst (10) must stay below the vendor's: with equal buckets, network
    latency lets the sender's bucket drift ahead of the receiver's.
    """
    sandbox = make_sandbox(requests_per_minute=6000, burst=100, bulk_per_minute=180, bulk_burst=3)
    sandbox.meetmatch.set_limits(7200, burst=20)
    seed_bulk(sandbox, meetergo=250, meetmatch=60, overlap=10)
    data = config_dict(f"sqlite:///{tmp_path / 'state.db'}")
    data["meetergo"].update(requests_per_minute=6000, bulk_per_minute=180)
    data["meetmatch"].update(requests_per_minute=7200)
    settings = load_settings(None, data)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport) as rt:
        started = time.monotonic()
        report = await commands.backfill(rt)
        elapsed = time.monotonic() - started
    assert report.summary.failed == 0
    stats = sandbox.stats()
    assert stats["meetergo"]["requests"] >= 5 and stats["meetmatch"]["requests"] > 240
    # The pace really held the run back: 240+ MeetMatch requests at 120/s take 1.9 s or more.
    assert elapsed >= (stats["meetmatch"]["requests"] - 20) / 120
    assert stats["meetergo"]["rate_limited"] == 0
    assert stats["meetmatch"]["rate_limited"] == 0


def _people_visible_through_their_records(
    sandbox: Sandbox, *, contacts: int, booked: int, submitted: int
) -> int:
    """MeetMatch people new to meetergo (each list shows its newest 100): `booked` seen only as
    appointment prospects and `submitted` only in form submissions (their contacts are older
    than the newest `contacts` plain ones). Returns how many people in all."""
    assert max(contacts, booked, submitted) <= 100
    for n in range(booked):
        sandbox.meetmatch.add_appointment(
            prospect_email=f"booked{n}@example.com", prospect_name=f"Booked {n}", notify=False
        )
    for n in range(submitted):
        sandbox.meetmatch.add_form_submission(
            prospect_email=f"asked{n}@example.com", prospect_name=f"Asked {n}", notify=False
        )
    later = datetime.now(UTC) + timedelta(hours=1)
    for n in range(contacts):
        sandbox.meetmatch.add_contact(
            f"Contact {n}", f"contact{n}@example.com", created_at=later, notify=False
        )
    return contacts + booked + submitted


@pytest.mark.parametrize(
    ("retry_after", "storm"),
    [(True, 0), (False, 0), (False, 20)],
    ids=["retry-after", "no-retry-after", "429-storm-without-retry-after"],
)
async def test_meetergo_at_its_own_rate_and_burst_is_never_refused(
    tmp_path: Path, retry_after: bool, storm: int
) -> None:
    """Invariant 6 under stress: 200+ meetergo requests, the client paced at exactly the
    sandbox's rate with a small burst, so every request after the first few must wait.

    Single POST /crm creates (bulk_threshold out of reach) at 100/s with a burst of 5: the
    elapsed time must be at least (requests - burst) / rate, which proves pacing rather than
    luck, and the sandbox must never have refused one. meetergo does not document Retry-After,
    so the sandbox also runs without it; and in the last case it answers a storm of 429s
    (without Retry-After) in the middle of the writes: the backfill rides it out on its
    backoff, the real limiter still refuses nothing, and nobody is created twice.

    The sandbox's bucket holds one token more than the client's. With exactly equal buckets a
    request that reaches the server a little later than its predecessor did (event-loop and
    GIL jitter, up to ~5 ms in process, i.e. half a token at 100/s) finds the server's bucket
    a fraction of a token behind the client's: measured, 3 runs in 4 met one 429. No client
    can pace against an identical bucket through a link with jitter; one token of margin
    covers 10 ms here and 600 ms at meetergo's real 100/minute (whose burst is 200 anyway).
    """
    rate, burst = 6000, 5
    sandbox = Sandbox(
        meetmatch=MeetMatchState(),
        meetergo=MeetergoState(
            requests_per_minute=rate, burst=burst + 1, send_retry_after=retry_after
        ),
    )
    people = _people_visible_through_their_records(sandbox, contacts=100, booked=100, submitted=20)
    data = config_dict(f"sqlite:///{tmp_path / 'state.db'}")
    data["meetergo"].update(requests_per_minute=rate, burst=burst)
    data["sync"] = {"bulk_threshold": 1_000_000}
    data["retry"] = {"attempts": 10, "initial_wait_seconds": 0.01, "max_wait_seconds": 0.05}
    settings = load_settings(None, data)

    def phase(name: str, _total: int) -> None:
        if name == "writing" and storm:
            sandbox.meetergo.faults.update({"fail_next": [429] * storm})

    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport) as rt:
        started = time.monotonic()
        report = await commands.backfill(rt, hooks=BackfillHooks(phase=phase))
        elapsed = time.monotonic() - started

    assert report.summary.failed == 0, report.summary.failures
    assert report.summary.get(Side.MEETERGO, "created") == people
    stats = sandbox.stats()["meetergo"]
    assert stats["requests"] >= 200
    assert sandbox.meetergo.counters.count("POST", "/crm", 201) == people
    assert sandbox.meetergo.counters.count("POST", "/crm/bulk") == 0
    # Only the injected 429s, none from the limiter itself.
    assert stats["rate_limited"] == storm
    assert elapsed >= (stats["requests"] - burst) / (rate / 60), elapsed
    contacts = sandbox.meetergo.all_contacts()
    assert len(contacts) == people and duplicate_emails(contacts) == {}
    assert {email_of(c) for c in contacts} == {
        email_of(c) for c in sandbox.meetmatch.all_contacts()
    }


async def test_a_vendor_that_is_stricter_than_the_budget_is_honoured(tmp_path: Path) -> None:
    """A 429 with Retry-After pauses the budget; the run still completes without a failure."""
    sandbox = make_sandbox(requests_per_minute=600, burst=3)
    seed_bulk(sandbox, meetergo=0, meetmatch=12, overlap=0)
    sandbox.meetergo.faults.update({"fail_next": [429]})
    data = config_dict(f"sqlite:///{tmp_path / 'state.db'}")
    settings = load_settings(None, data)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport) as rt:
        report = await commands.backfill(rt)
    assert report.summary.failed == 0
    assert sandbox.stats()["meetergo"]["rate_limited"] >= 1
    assert len(sandbox.meetergo.all_contacts()) == 12


async def test_two_meetmatch_contacts_with_one_email_reach_meetergo_once(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    """MeetMatch's UI can hold two contacts with one email; meetergo gets the person once."""
    older = sandbox.meetmatch.add_contact("Lee Park", "lee@example.com", notify=False)
    newer = sandbox.meetmatch.add_contact("Lee  Park", "LEE@example.com", notify=False)

    await commands.backfill(runtime)
    sandbox.reset_counters()
    await commands.backfill(runtime)

    assert [email_of(c) for c in sandbox.meetergo.all_contacts()] == ["lee@example.com"]
    assert sandbox.stats()["meetergo"]["writes"] == 0
    [link] = await runtime.store.all_links()
    # Created in the same second, the two cannot be told apart by age: either may carry it,
    # the other is skipped with the reason.
    [other] = {older["id"], newer["id"]} - {link.meetmatch_id}
    skipped = {(s.record_id, s.reason) for s in await runtime.store.skipped()}
    assert skipped == {(other, "ambiguous_match")}
