"""The one-shot backfill: read both sides whole, plan every person, apply the plans.

Order matters and is chosen for the vendors' quirks:
1. MeetMatch first, all four lists (contacts, appointments, deals, form submissions): only the
   newest 100 of each are visible, and meetbridge's own creates would push people out of that
   window. Every person seen is remembered (sightings) before anything is written, so a person
   seen once is synced even if a crash comes before and the window has moved on by the rerun.
2. meetergo, every page, oldest first (new contacts then land on the last page instead of
   shifting pages not read yet), into a scan on disk (`connector.store.scan`): memory stays
   flat whatever the number of contacts.
3. Each MeetMatch person (a few hundred at most) is planned against the meetergo contacts with
   the same email, and applied: links, updates, then meetergo creates in bulk.
4. The scan is read back in batches: each meetergo contact not paired that way is planned and
   applied, batch by batch, with only that batch's links fetched.

Rerunning after a crash converges: links already made are found by id; a create whose link was
not saved is found again by email (meetergo) or answered with the existing record (MeetMatch).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from connector.clients.budget import yield_to_live
from connector.clients.meetergo import MeetergoClient
from connector.clients.meetmatch import MeetMatchClient
from connector.errors import RecordError
from connector.store.scan import ScanStore
from connector.store.state import Store
from connector.sync.applier import Applier
from connector.sync.gate import PersonGate
from connector.sync.links import LinkIndex
from connector.sync.planner import Planner, PlannerConfig
from connector.sync.plans import Plan, Summary
from mappings import normalize_email
from mappings.records import MeetergoContact, MeetMatchProspect

from .meetmatch_reader import read_meetmatch

log = logging.getLogger("meetbridge.backfill")


@dataclass
class BackfillReport:
    summary: Summary
    plans: list[Plan] = field(default_factory=list)
    meetmatch_seen: int = 0
    meetergo_seen: int = 0


@dataclass
class BackfillHooks:
    """Progress callbacks, so the CLI can draw a bar and tests can stay quiet."""

    phase: Callable[[str, int], None] = lambda _name, _total: None
    advance: Callable[[int], None] = lambda _n: None


def _preference(person: MeetMatchProspect, links: LinkIndex) -> tuple[object, ...]:
    """Which of several MeetMatch people with one email carries the sync, the same every run:
    the one already linked, else a real contact before a prospect sighting, then the oldest."""
    created = person.created_at.isoformat() if person.created_at else "~"
    linked = links.find(meetmatch_id=person.id) is not None
    return (not linked, person.source != "contact", created, person.id)


# Orders to walk meetergo in. Contacts created in one second (an import, a bulk call) tie on
# createdAt, and tied rows come back in no stable order, so one walk can miss some of them;
# a walk by email (nearly unique) or by name then picks up what the first one missed.
SCAN_ORDERS = (("createdAt", "ASC"), ("email", "ASC"), ("lastName", "ASC"), ("firstName", "ASC"))

# meetergo contacts planned and applied together: what bounds the memory of a backfill.
BATCH = 500


def _row(contact: MeetergoContact) -> tuple[str, str | None, str, dict[str, Any]]:
    """A scan row: id, normalized email, a key that orders oldest first, the record."""
    email = normalize_email(contact.email)
    created = contact.created_at.astimezone(UTC).isoformat() if contact.created_at else ""
    payload = contact.model_dump(mode="json", by_alias=True)
    return contact.id, email if isinstance(email, str) else None, f"{created}|{contact.id}", payload


def _contacts(payloads: list[dict[str, Any]]) -> list[MeetergoContact]:
    return [MeetergoContact.model_validate(p) for p in payloads]


async def _batch_contacts(payloads: list[dict[str, Any]]) -> list[MeetergoContact]:
    """`_contacts` in steps of 50, yielding between them: a reconcile's batch of 500 must not
    hold the event loop while a webhook waits."""
    contacts: list[MeetergoContact] = []
    for start in range(0, len(payloads), 50):
        await yield_to_live()
        contacts.extend(_contacts(payloads[start : start + 50]))
    return contacts


async def _scan_meetergo(client: MeetergoClient, hooks: BackfillHooks, scan: ScanStore) -> bool:
    """Walk all of meetergo into `scan`; whether it showed every contact meetergo counts."""
    expected = 0
    for sort_by, order in SCAN_ORDERS:
        first = True
        # Closed on the way out, error or not: the pages read ahead stop with the walk.
        async with contextlib.aclosing(
            client.iter_pages(sort_by=sort_by, sort_order=order)
        ) as pages:
            async for page in pages:
                await yield_to_live()
                if first:
                    hooks.phase(f"reading meetergo (by {sort_by})", page.total)
                    first = False
                expected = max(expected, page.total)
                # A page boundary shifted under us: rows read before are kept once, by id.
                await scan.add([_row(contact) for contact in page.contacts])
                hooks.advance(len(page.contacts))
        seen = await scan.count()
        if seen >= expected:
            return True
        log.warning(
            "meetergo paging by %s showed %d of %d contacts (tied sort keys); reading again",
            sort_by,
            seen,
            expected,
        )
    # Still short (contacts deleted during the walk also cause this): every meetergo create
    # of this run searches for the email first.
    return False


async def _missing_linked(client: MeetergoClient, scan: ScanStore, wanted: list[str]) -> set[str]:
    """Linked meetergo ids the scan did not show: fetch each; those not found are deleted."""
    deleted: set[str] = set()
    for contact_id in sorted(set(wanted) - await scan.present(wanted)):
        try:
            contact = await client.details(contact_id=contact_id)
        except RecordError as exc:
            if exc.status == 404:
                deleted.add(contact_id)
                continue
            raise
        await scan.add([_row(contact)])
    return deleted


async def _deleted_linked(
    store: Store,
    client: MeetergoClient,
    scan: ScanStore,
    people: dict[str, MeetMatchProspect],
    links: LinkIndex,
    complete: bool,
) -> set[str]:
    """Linked meetergo contacts that are gone (a user deleted them).

    After a full walk every live link is checked, so deletions are found even for people
    MeetMatch no longer lists; after a short walk only this run's people's links are.
    """
    if not complete:
        linked = [
            link.meetergo_id
            for p in people.values()
            if (link := links.find(meetmatch_id=p.id)) and link.meetergo_id
        ]
        return await _missing_linked(client, scan, linked)
    deleted: set[str] = set()
    async for chunk in store.linked_meetergo_ids():
        deleted |= await _missing_linked(client, scan, chunk)
    return deleted


async def run_backfill(
    store: Store,
    meetmatch: MeetMatchClient,
    meetergo: MeetergoClient,
    config: PlannerConfig,
    *,
    dry_run: bool = False,
    concurrency: int = 8,
    bulk_threshold: int = 3,
    hooks: BackfillHooks | None = None,
    gate: PersonGate | None = None,
) -> BackfillReport:
    hooks = hooks or BackfillHooks()
    summary = Summary()
    run_id = None if dry_run else await store.start_run("backfill")
    status = "failed"
    try:
        async with ScanStore.scratch() as scan:
            report = await _backfill(
                store,
                meetmatch,
                meetergo,
                config,
                scan,
                summary,
                dry_run=dry_run,
                concurrency=concurrency,
                bulk_threshold=bulk_threshold,
                hooks=hooks,
                gate=gate,
            )
        status = "failed" if summary.failed else "ok"
        log.info(
            "backfill done: %d MeetMatch people, %d meetergo contacts, %d state statements",
            report.meetmatch_seen,
            report.meetergo_seen,
            store.statements,
        )
        return report
    finally:
        if run_id is not None:
            await store.finish_run(run_id, status, summary.as_dict())


async def _backfill(
    store: Store,
    meetmatch: MeetMatchClient,
    meetergo: MeetergoClient,
    config: PlannerConfig,
    scan: ScanStore,
    summary: Summary,
    *,
    dry_run: bool,
    concurrency: int,
    bulk_threshold: int,
    hooks: BackfillHooks,
    gate: PersonGate | None,
) -> BackfillReport:
    hooks.phase("reading MeetMatch", 4)
    current = await read_meetmatch(meetmatch)
    hooks.advance(4)
    if not dry_run:
        await store.record_sightings((p.id, p.email, p.model_dump(mode="json")) for p in current)
    people: dict[str, MeetMatchProspect] = {
        p.id: p
        for p in (
            MeetMatchProspect.model_validate(row) for row in await store.unsettled_sightings()
        )
    }
    people.update({p.id: p for p in current})

    complete = await _scan_meetergo(meetergo, hooks, scan)
    links = LinkIndex(store, dry_run=dry_run)
    emails = {p.id: e for p in people.values() if isinstance(e := normalize_email(p.email), str)}
    await links.prefetch(meetmatch_ids=people, emails=emails.values())
    deleted = await _deleted_linked(store, meetergo, scan, people, links, complete)

    planner = Planner(config, links)
    planner.deleted_meetergo |= deleted
    applier = Applier(
        store,
        links,
        meetmatch,
        meetergo,
        config.options,
        summary,
        concurrency=concurrency,
        bulk_threshold=bulk_threshold,
        dry_run=dry_run,
        gate=gate,
    )
    applier.look_first_all = not complete
    report = BackfillReport(summary, meetmatch_seen=len(people), meetergo_seen=await scan.count())
    hooks.phase("writing", report.meetmatch_seen + report.meetergo_seen)

    # The MeetMatch people, against the meetergo contacts holding their emails.
    candidates = {
        email: _contacts(rows)
        for email, rows in (await scan.by_email(list(emails.values()))).items()
    }
    await links.prefetch(
        meetergo_ids=[c.id for found in candidates.values() for c in found] + sorted(deleted)
    )
    plans: list[Plan] = []
    paired: set[str] = set()
    claimed: dict[str, str] = {}
    for person in sorted(people.values(), key=lambda p: _preference(p, links)):
        email = emails.get(person.id)
        if email is not None:
            holder = claimed.setdefault(email, person.id)
            if holder != person.id:
                plans.append(planner.duplicate_meetmatch(person, email, holder))
                continue
        link = links.find(meetmatch_id=person.id)
        found = candidates.get(email, []) if email else []
        linked = next((c for c in found if link and c.id == link.meetergo_id), None)
        if link and link.meetergo_id and linked is None and link.meetergo_id not in deleted:
            linked = await _fetched(scan, link.meetergo_id)
        plan = planner.plan_meetmatch(
            person,
            found,
            linked,
            linked_contact_deleted=bool(link and link.meetergo_id in deleted),
        )
        if plan is None:
            continue
        plans.append(plan)
        for contact_id in (plan.meetergo_id, plan.link.meetergo_id if plan.link else None):
            if contact_id:
                paired.add(contact_id)
    planned = {p.source_id for p in plans}
    for contact_id in sorted(deleted):
        # People MeetMatch no longer lists whose meetergo contact was deleted: tombstone.
        gone = links.find(meetergo_id=contact_id)
        if gone is not None and gone.meetmatch_id and gone.meetmatch_id not in planned:
            plans.append(planner.tombstone(gone))
    await _apply(applier, plans, hooks, report, dry_run)

    # Every other meetergo contact, a batch at a time.
    shared = await scan.shared_emails()
    meetmatch_emails = set(emails.values())
    async for rows in scan.batches(BATCH):
        batch = [c for c in await _batch_contacts(rows) if c.id not in paired]
        links.clear()
        batch_emails = {c.id: e for c in batch if isinstance(e := normalize_email(c.email), str)}
        same_email = {
            email: _contacts(found)
            for email, found in (
                await scan.by_email([e for e in batch_emails.values() if e in shared])
            ).items()
        }
        # One lookup for the batch's links and those of the contacts sharing their emails.
        await links.prefetch(
            meetergo_ids=[c.id for c in batch]
            + [c.id for found in same_email.values() for c in found],
            emails=batch_emails.values(),
        )
        plans = []
        for contact in batch:
            await yield_to_live()
            email = batch_emails.get(contact.id)
            same = same_email.get(email, [contact]) if email else [contact]
            plans.extend(
                planner.plan_meetergo(contact, same, in_meetmatch=email in meetmatch_emails)
            )
        hooks.advance(len(rows) - len(batch))
        await _apply(applier, plans, hooks, report, dry_run)
    return report


async def _fetched(scan: ScanStore, contact_id: str) -> MeetergoContact | None:
    """A contact the scan holds by id (a linked one read in the walk or fetched after it)."""
    payload = await scan.by_id(contact_id)
    return MeetergoContact.model_validate(payload) if payload is not None else None


async def _apply(
    applier: Applier,
    plans: list[Plan],
    hooks: BackfillHooks,
    report: BackfillReport,
    dry_run: bool,
) -> None:
    await applier.apply_all(plans, hooks.advance)
    if dry_run:
        report.plans.extend(plans)  # printed by the dry run; a real run keeps none


__all__ = ["BackfillHooks", "BackfillReport", "run_backfill"]
