"""Backfill under vendor faults: lost answers, 5xx, 429 storms, refused records.

Each case asserts the outcome on both vendors (no duplicates, everyone arrived) and what was
recorded, not merely that the run ended.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.seed import seed_bulk
from connector.settings import Settings
from connector.sync.backfill import BackfillHooks
from connector.sync.plans import Side
from tests.invariants import duplicate_emails, email_of


def _emails(records: list[dict[str, object]]) -> set[str]:
    return {e for r in records if (e := email_of(r))}  # type: ignore[arg-type]


def _converged(sandbox: Sandbox) -> None:
    mg = sandbox.meetergo.all_contacts()
    mm = sandbox.meetmatch.all_contacts()
    assert duplicate_emails(mg) == {}
    assert duplicate_emails(mm) == {}
    assert _emails(mg) == _emails(mm)


async def test_lost_answers_to_single_creates_make_no_duplicates(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    for n in range(2):  # below the bulk threshold: one POST /crm each
        sandbox.meetmatch.add_contact(f"Person {n}", f"p{n}@example.com")
    sandbox.meetergo.faults.update({"drop_after_write_rate": 1.0})

    report = await commands.backfill(runtime)

    # Each create was applied, its answer lost; the search found it instead of creating again.
    assert report.summary.failed == 0
    assert len(sandbox.meetergo.all_contacts()) == 2
    _converged(sandbox)


async def test_lost_bulk_answer_is_recovered_by_the_reread(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    seed_bulk(sandbox, meetergo=0, meetmatch=50, overlap=0)
    sandbox.meetergo.faults.update({"drop_after_write_rate": 1.0})
    sandbox.reset_counters()

    report = await commands.backfill(runtime)

    assert report.summary.get(Side.MEETERGO, "created") == 50
    assert sandbox.stats()["meetergo"]["writes"] == 1
    _converged(sandbox)


async def test_server_errors_and_429_storms_are_ridden_out(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    seed_bulk(sandbox, meetergo=30, meetmatch=20, overlap=5)
    sandbox.meetmatch.faults.update({"fail_next": [500, 503, 429, 500]})
    sandbox.meetergo.faults.update({"fail_next": [429, 500, 502]})

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    _converged(sandbox)


async def test_random_faults_then_rerun_converge(sandbox: Sandbox, runtime: Runtime) -> None:
    seed_bulk(sandbox, meetergo=80, meetmatch=40, overlap=10)
    for state in (sandbox.meetergo, sandbox.meetmatch):
        state.faults.update({"error_rate": 0.3, "drop_after_write_rate": 0.2, "seed": 3})

    await commands.backfill(runtime)
    for state in (sandbox.meetergo, sandbox.meetmatch):
        state.faults.update({"error_rate": 0.0, "drop_after_write_rate": 0.0})
    await commands.backfill(runtime)

    _converged(sandbox)
    sandbox.reset_counters()
    await commands.backfill(runtime)
    assert sandbox.stats()["meetergo"]["writes"] + sandbox.stats()["meetmatch"]["writes"] == 0


async def test_failed_writes_become_dead_letters_and_replay_clears_them(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(retry={"attempts": 2})
    for n in range(3):
        sandbox.meetergo.user_create_contact(firstName=f"P{n}", email=f"p{n}@example.com")
    sandbox.meetmatch.faults.update({"write_error_rate": 1.0})
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait(2)) as rt:
        report = await commands.backfill(rt)
        assert report.summary.get(Side.MEETMATCH, "failed") == 3
        facts = await commands.status(rt)
        assert {d["email"] for d in facts["dead_letters"]} == {
            "p0@example.com",
            "p1@example.com",
            "p2@example.com",
        }
        assert all("500" in d["error"] for d in facts["dead_letters"])
        assert sandbox.meetmatch.all_contacts() == []

        sandbox.meetmatch.faults.update({"write_error_rate": 0.0})
        result = await commands.replay(rt, [])

        assert len(result.replayed) == 3 and result.failed == {}
        assert (await commands.status(rt))["dead_letters"] == []
        assert _emails(sandbox.meetmatch.all_contacts()) == {
            "p0@example.com",
            "p1@example.com",
            "p2@example.com",
        }
        sandbox.reset_counters()
        await commands.backfill(rt)
        assert sandbox.stats()["meetmatch"]["writes"] == 0


async def test_contacts_created_in_one_second_are_all_found(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    """An import gives hundreds of meetergo contacts one createdAt; pages over tied rows overlap
    and miss rows. meetbridge must still see everyone before deciding what to create."""
    moment = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    for n in range(300):
        sandbox.meetergo.user_create_contact(
            firstName=f"Imported{n}", email=f"imp{n}@example.com", created_at=moment
        )
    for n in range(80):
        sandbox.meetmatch.add_contact(f"Imported {n}", f"imp{n}@example.com", notify=False)
    for n in range(20):
        sandbox.meetmatch.add_contact(f"New {n}", f"new{n}@example.com", notify=False)

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    _converged(sandbox)
    assert len(sandbox.meetergo.all_contacts()) == 320


async def test_an_incomplete_scan_never_bulk_creates_blindly(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    """meetergo counts a row in `total` that meetbridge cannot read (a malformed contact), so
    the scan cannot vouch that it saw everyone; and a user adds one of the people to meetergo
    after the walk, before the writes. A bulk call would create that person a second time:
    instead every create searches for its email first, and the user's contact is linked."""
    broken = sandbox.meetergo.user_create_contact(firstName="Old", email="legacy@example.com")
    sandbox.meetergo.corrupt_contact(broken["id"], tags="VIP")  # a string, not a list
    for n in range(5):
        sandbox.meetmatch.add_contact(f"Person {n}", f"p{n}@example.com", notify=False)
    made_by_hand: list[str] = []

    def phase(name: str, _total: int) -> None:
        if name == "writing":
            made_by_hand.append(
                sandbox.meetergo.user_create_contact(firstName="P", email="P2@example.com")["id"]
            )

    sandbox.reset_counters()
    report = await commands.backfill(runtime, hooks=BackfillHooks(phase=phase))

    assert report.summary.failed == 0
    mg = sandbox.meetergo.all_contacts()
    assert duplicate_emails(mg) == {}
    assert _emails(mg) == {"legacy@example.com", *(f"p{n}@example.com" for n in range(5))}
    assert sandbox.meetergo.counters.count("POST", "/crm/bulk") == 0
    assert sandbox.meetergo.counters.count("POST", "/crm", 201) == 4
    link = await runtime.store.find_link(email="p2@example.com")
    assert link is not None and [link.meetergo_id] == made_by_hand
