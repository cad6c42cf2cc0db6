"""Checks of DESIGN's invariants against what the sandbox vendors hold after a sync.

They read the vendors' own records (all of them, not only what the API would show) and the
state database, never meetbridge's idea of what it did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.runtime import Runtime
from connector.sandbox.app import Sandbox
from mappings import normalize_email


def email_of(record: dict[str, Any]) -> str | None:
    email = normalize_email(record.get("email"))
    return email if isinstance(email, str) else None


def duplicate_emails(records: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e for r in records if (e := email_of(r)))
    return {e: n for e, n in counts.items() if n > 1}


async def assert_no_duplicates(
    sandbox: Sandbox,
    rt: Runtime,
    preexisting: set[str],
    meetmatch_preexisting: frozenset[str] | set[str] = frozenset(),
) -> None:
    """No two contacts meetbridge created or linked share a normalized email on one side."""
    links = await rt.store.all_links()
    mg = {c["id"]: c for c in sandbox.meetergo.all_contacts()}
    mm = {c["id"]: c for c in sandbox.meetmatch.all_contacts()}
    linked_mg = [mg[link.meetergo_id] for link in links if link.meetergo_id in mg]
    linked_mm = [mm[link.meetmatch_id] for link in links if link.meetmatch_id in mm]
    assert duplicate_emails(linked_mg) == {}
    assert duplicate_emails(linked_mm) == {}
    # And no duplicate appeared that was not there before meetbridge ran.
    assert set(duplicate_emails(list(mg.values()))) <= preexisting
    assert set(duplicate_emails(list(mm.values()))) <= set(meetmatch_preexisting)


async def assert_nothing_lost(sandbox: Sandbox, rt: Runtime, meetmatch_visible: set[str]) -> None:
    """Every contact with a valid email on one side is on the other, or skipped with a reason.

    `meetmatch_visible`: ids of the MeetMatch people the API let meetbridge see.
    """
    skipped = {(s.side, s.record_id): s.reason for s in await rt.store.skipped()}
    mm_emails = {e for c in sandbox.meetmatch.all_contacts() if (e := email_of(c))}
    mg_emails = {e for c in sandbox.meetergo.all_contacts() if (e := email_of(c))}
    for contact in sandbox.meetergo.all_contacts():
        if ("meetergo", contact["id"]) in skipped:
            continue
        email = email_of(contact)
        assert email is not None, f"meetergo {contact['id']} has no valid email and no skip"
        assert email in mm_emails, f"meetergo {email} never reached MeetMatch"
    people = {c["id"]: c for c in sandbox.meetmatch.all_contacts()}
    for person_id in meetmatch_visible:
        if ("meetmatch", person_id) in skipped:
            continue
        email = email_of(people[person_id])
        assert email is not None, f"MeetMatch {person_id} has no valid email and no skip"
        assert email in mg_emails, f"MeetMatch {email} never reached meetergo"


def visible_meetmatch_ids(sandbox: Sandbox) -> set[str]:
    """The MeetMatch people the API shows right now: newest 100 of each list."""
    return sandbox.meetmatch.visible_people()
