"""The one-shot backfill: read both sides whole, plan every person, apply the plans.

Order matters and is chosen for the vendors' quirks:
1. MeetMatch first, all four lists (contacts, appointments, deals, form submissions): only the
   newest 100 of each are visible, and meetbridge's own creates would push people out of that
   window. Every person seen is remembered (sightings) before anything is written, so a person
   seen once is synced even if a crash comes before and the window has moved on by the rerun.
2. meetergo, every page, oldest first (new contacts then land on the last page instead of
   shifting pages not read yet).
3. Plans: each MeetMatch person against the meetergo contacts with the same email, then each
   meetergo contact not paired that way.
4. Writes: links, updates and MeetMatch creates, then meetergo creates in bulk.

Rerunning after a crash converges: links already made are found by id; a create whose link was
not saved is found again by email (meetergo) or answered with the existing record (MeetMatch).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from connector.clients.meetergo import MeetergoClient
from connector.clients.meetmatch import MeetMatchClient
from connector.errors import RecordError
from connector.store.state import Store
from connector.sync.applier import Applier
from connector.sync.gate import PersonGate
from connector.sync.links import LinkIndex
from connector.sync.planner import Planner, PlannerConfig
from connector.sync.plans import Plan, Summary, meetergo_row_key
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


@dataclass
class _MeetergoScan:
    by_id: dict[str, MeetergoContact] = field(default_factory=dict)
    by_email: dict[str, list[MeetergoContact]] = field(default_factory=lambda: defaultdict(list))
    # Whether every contact meetergo counted was read; if not, creates look before they leap.
    complete: bool = True

    def add(self, contact: MeetergoContact) -> None:
        if contact.id in self.by_id:
            return  # a page boundary shifted under us; the contact was already read
        self.by_id[contact.id] = contact
        email = normalize_email(contact.email)
        if isinstance(email, str):
            self.by_email[email].append(contact)


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


async def _scan_meetergo(client: MeetergoClient, hooks: BackfillHooks) -> _MeetergoScan:
    scan = _MeetergoScan()
    expected = 0
    for sort_by, order in SCAN_ORDERS:
        first = True
        async for page in client.iter_pages(sort_by=sort_by, sort_order=order):
            if first:
                hooks.phase(f"reading meetergo (by {sort_by})", page.total)
                first = False
            expected = max(expected, page.total)
            for contact in page.contacts:
                scan.add(contact)
            hooks.advance(len(page.contacts))
        if len(scan.by_id) >= expected:
            return scan
        log.warning(
            "meetergo paging by %s showed %d of %d contacts (tied sort keys); reading again",
            sort_by,
            len(scan.by_id),
            expected,
        )
    # Still short (contacts deleted during the walk also cause this): every meetergo create
    # of this run searches for the email first.
    scan.complete = False
    return scan


async def _missing_linked(
    client: MeetergoClient, links: LinkIndex, scan: _MeetergoScan, wanted: set[str]
) -> set[str]:
    """Linked meetergo ids the scan did not show: fetch each; those not found are deleted."""
    deleted: set[str] = set()
    for contact_id in sorted(wanted - set(scan.by_id)):
        try:
            scan.add(await client.details(contact_id=contact_id))
        except RecordError as exc:
            if exc.status == 404:
                deleted.add(contact_id)
            else:
                raise
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
        hooks.phase("reading MeetMatch", 4)
        current = await read_meetmatch(meetmatch)
        hooks.advance(4)
        if not dry_run:
            await store.record_sightings(
                (p.id, p.email, p.model_dump(mode="json")) for p in current
            )
        people: dict[str, MeetMatchProspect] = {
            p.id: p
            for p in (
                MeetMatchProspect.model_validate(row) for row in await store.unsettled_sightings()
            )
        }
        people.update({p.id: p for p in current})

        scan = await _scan_meetergo(meetergo, hooks)
        links = await LinkIndex.load(store, dry_run=dry_run)
        if scan.complete:
            # Every linked meetergo contact the full walk did not show is looked up: deletions
            # are found here even for people MeetMatch no longer lists.
            linked_ids = links.meetergo_ids()
        else:
            linked_ids = {
                link.meetergo_id
                for p in people.values()
                if (link := links.find(meetmatch_id=p.id)) and link.meetergo_id
            }
        deleted = await _missing_linked(meetergo, links, scan, linked_ids)

        planner = Planner(config, links)
        planner.deleted_meetergo |= deleted
        plans: list[Plan] = []
        paired: set[str] = set()
        meetmatch_emails: set[str] = set()
        claimed: dict[str, str] = {}
        for person in sorted(people.values(), key=lambda p: _preference(p, links)):
            email = normalize_email(person.email)
            candidates = scan.by_email.get(email, []) if isinstance(email, str) else []
            if isinstance(email, str):
                meetmatch_emails.add(email)
                holder = claimed.setdefault(email, person.id)
                if holder != person.id:
                    plans.append(planner.duplicate_meetmatch(person, email, holder))
                    continue
            link = links.find(meetmatch_id=person.id)
            linked = scan.by_id.get(link.meetergo_id) if link and link.meetergo_id else None
            plan = planner.plan_meetmatch(
                person,
                candidates,
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
        for contact in sorted(scan.by_id.values(), key=meetergo_row_key):
            if contact.id in paired:
                continue
            email = normalize_email(contact.email)
            same = scan.by_email.get(email, [contact]) if isinstance(email, str) else [contact]
            plans.extend(
                planner.plan_meetergo(
                    contact, same, in_meetmatch=isinstance(email, str) and email in meetmatch_emails
                )
            )

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
        applier.look_first_all = not scan.complete
        hooks.phase("writing", len(plans))
        await applier.apply_all(plans, hooks.advance)
        status = "failed" if summary.failed else "ok"
        return BackfillReport(summary, plans, len(people), len(scan.by_id))
    finally:
        if run_id is not None:
            await store.finish_run(run_id, status, summary.as_dict())


__all__ = ["BackfillHooks", "BackfillReport", "run_backfill"]
