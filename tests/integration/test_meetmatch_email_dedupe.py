"""MeetMatch answers a known email with the existing contact, but "the same email" may mean the
exact string: a POST with other letter case may then create a second contact.

meetbridge never relies on that dedupe for people it has seen: it matches by its own normalized
email over every sighting, so it links them instead of posting them. A person it never saw (older
than every newest-100 list, never in a webhook) it cannot match; under exact dedupe such a person
arriving from meetergo in other letter case becomes a second MeetMatch contact (a known limit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector import commands
from connector.runtime import Runtime
from connector.sandbox.app import Sandbox
from tests.invariants import duplicate_emails, email_of

OLD = datetime(2024, 1, 1, tzinfo=UTC)


def _push_out_of_the_window(sandbox: Sandbox, n: int = 100) -> None:
    """`n` newer MeetMatch contacts: everyone older drops out of GET /contacts."""
    later = datetime.now(UTC) + timedelta(hours=1)
    for i in range(n):
        sandbox.meetmatch.add_contact(
            f"Newer {i}", f"newer{i}@example.com", created_at=later, notify=False
        )


def _meetmatch_with(sandbox: Sandbox, email: str) -> list[dict[str, object]]:
    return [c for c in sandbox.meetmatch.all_contacts() if email_of(c) == email]


async def test_people_it_has_seen_are_linked_never_posted_again(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    sandbox.meetmatch.email_dedupe = "exact"
    dave = sandbox.meetmatch.add_contact(
        "Dave Smith", "Dave.Smith@Example.com", created_at=OLD, notify=False
    )
    erin = sandbox.meetmatch.add_contact("Erin Ko", "ERIN@example.com", notify=False)
    sandbox.meetergo.user_create_contact(firstName="Erin", email="erin@example.com")
    # First run: Dave is seen, but his meetergo create fails (meetergo's writes are down).
    sandbox.meetergo.faults.update({"write_error_rate": 1.0})
    first = await commands.backfill(runtime)
    assert first.summary.failed == 1
    sandbox.meetergo.faults.update({"write_error_rate": 0.0})
    # Then Dave drops out of every MeetMatch list, and a user adds him to meetergo by hand,
    # in lower case: a connector matching only what MeetMatch lists would post him back.
    _push_out_of_the_window(sandbox)
    assert dave["id"] not in sandbox.meetmatch.visible_people()
    by_hand = sandbox.meetergo.user_create_contact(firstName="Dave", email="dave.smith@example.com")
    sandbox.reset_counters()

    second = await commands.backfill(runtime)

    assert second.summary.failed == 0
    assert [c["id"] for c in _meetmatch_with(sandbox, "dave.smith@example.com")] == [dave["id"]]
    assert [c["id"] for c in _meetmatch_with(sandbox, "erin@example.com")] == [erin["id"]]
    link = await runtime.store.find_link(email="dave.smith@example.com")
    assert link is not None
    assert (link.meetmatch_id, link.meetergo_id) == (dave["id"], by_hand["id"])
    # Only the 100 newer people were posted anywhere; MeetMatch was asked to create nobody.
    assert sandbox.meetmatch.counters.count("POST", "/contacts") == 0
    assert duplicate_emails(sandbox.meetmatch.all_contacts()) == {}
    assert duplicate_emails(sandbox.meetergo.all_contacts()) == {}
    assert len(sandbox.meetergo.all_contacts()) == 102


@pytest.mark.parametrize(("dedupe", "frank_in_meetmatch"), [("casefold", 1), ("exact", 2)])
async def test_known_limit_a_person_never_seen_may_be_created_twice_under_exact_dedupe(
    sandbox: Sandbox, runtime: Runtime, dedupe: str, frank_in_meetmatch: int
) -> None:
    """Frank is older than MeetMatch's newest 100 and was never seen: no API shows him, so
    meetbridge creates the meetergo contact in MeetMatch. With case-insensitive dedupe
    MeetMatch answers with Frank; with exact dedupe it makes a second Frank."""
    sandbox.meetmatch.email_dedupe = dedupe
    sandbox.meetmatch.add_contact("Frank Ode", "Frank@Example.com", created_at=OLD, notify=False)
    _push_out_of_the_window(sandbox)
    sandbox.meetergo.user_create_contact(firstName="Frank", email="frank@example.com")

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    assert len(_meetmatch_with(sandbox, "frank@example.com")) == frank_in_meetmatch
