"""Changes users make between runs: deletions, emails moved between contacts.

The link is the truth once it exists: no run may re-pair a person by email over a live link,
fail forever on a uniqueness rule, or write again once nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import Settings
from tests.invariants import email_of


def _writes(sandbox: Sandbox) -> int:
    stats = sandbox.stats()
    return int(stats["meetergo"]["writes"] + stats["meetmatch"]["writes"])


async def _quiet_rerun(sandbox: Sandbox, runtime: Runtime) -> None:
    sandbox.reset_counters()
    report = await commands.backfill(runtime)
    assert report.summary.failed == 0
    assert _writes(sandbox) == 0


async def test_a_deleted_meetergo_contact_stays_deleted(sandbox: Sandbox, runtime: Runtime) -> None:
    sandbox.meetmatch.add_contact("Del Eted", "del@example.com", notify=False)
    await commands.backfill(runtime)
    [contact] = sandbox.meetergo.all_contacts()
    sandbox.meetergo.user_delete_contact(contact["id"])

    report = await commands.backfill(runtime)

    assert report.summary.failed == 0
    assert sandbox.meetergo.all_contacts() == []
    facts = await commands.status(runtime)
    assert {"side": "meetmatch", "reason": "deleted_on_other_side", "count": 1} in facts[
        "skipped_by_reason"
    ]
    await _quiet_rerun(sandbox, runtime)
    assert sandbox.stats()["meetergo"]["requests"] <= 6  # the tombstone is not looked up again


async def test_recreate_brings_a_deleted_contact_back(
    sandbox: Sandbox, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(sync={"on_meetergo_delete": "recreate"})
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        sandbox.meetmatch.add_contact("Re Create", "re@example.com", notify=False)
        await commands.backfill(rt)
        [contact] = sandbox.meetergo.all_contacts()
        sandbox.meetergo.user_delete_contact(contact["id"])

        await commands.backfill(rt)

        [again] = sandbox.meetergo.all_contacts()
        assert again["id"] != contact["id"] and email_of(again) == "re@example.com"
        await _quiet_rerun(sandbox, rt)


async def test_a_contact_made_again_by_a_user_is_linked(sandbox: Sandbox, runtime: Runtime) -> None:
    sandbox.meetmatch.add_contact("Ne W", "new@example.com", notify=False)
    await commands.backfill(runtime)
    [old] = sandbox.meetergo.all_contacts()
    sandbox.meetergo.user_delete_contact(old["id"])
    await commands.backfill(runtime)
    fresh = sandbox.meetergo.user_create_contact(firstName="Ne", email="new@example.com")

    await commands.backfill(runtime)

    link = await runtime.store.find_link(email="new@example.com")
    assert link is not None and link.meetergo_id == fresh["id"] and link.state == "active"
    assert len(sandbox.meetmatch.all_contacts()) == 1
    await _quiet_rerun(sandbox, runtime)


async def test_an_email_moved_to_another_linked_contact_fails_nothing(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    sandbox.meetmatch.add_contact("Ada Home", "ada@example.com", notify=False)
    sandbox.meetmatch.add_contact("Ada Work", "ada.work@example.com", notify=False)
    await commands.backfill(runtime)
    by_email = {email_of(c): c for c in sandbox.meetergo.all_contacts()}
    sandbox.meetergo.user_delete_contact(by_email["ada.work@example.com"]["id"])
    sandbox.meetergo.user_update_contact(
        by_email["ada@example.com"]["id"], email="ada.work@example.com"
    )

    for _ in range(2):
        report = await commands.backfill(runtime)
        assert report.summary.failed == 0
    assert (await commands.status(runtime))["dead_letters"] == []
    await _quiet_rerun(sandbox, runtime)


async def test_matching_by_email_never_overrides_a_live_link(
    sandbox: Sandbox, runtime: Runtime
) -> None:
    person = sandbox.meetmatch.add_contact("Cy One", "cy@example.com", notify=False)
    await commands.backfill(runtime)
    [first] = sandbox.meetergo.all_contacts()
    sandbox.meetergo.user_update_contact(first["id"], email="cy.new@example.com")
    sandbox.meetergo.user_create_contact(firstName="Cy", email="cy@example.com")

    await commands.backfill(runtime)

    link = await runtime.store.find_link(meetmatch_id=person["id"])
    assert link is not None and link.meetergo_id == first["id"]
    await _quiet_rerun(sandbox, runtime)
