"""Syncing one record on its own (replay of a dead letter, and later live events).

The same planner and applier as the backfill, fed by targeted reads instead of a full scan:
meetergo is searched by email, a linked meetergo contact is fetched by id, and MeetMatch people
come from the remembered sightings (MeetMatch has no way to fetch an older record).
"""

from __future__ import annotations

from connector.errors import RecordError
from connector.sync.applier import Applier
from connector.sync.planner import Planner
from connector.sync.plans import Plan
from mappings import normalize_email
from mappings.records import MeetergoContact, MeetMatchProspect


async def _current(applier: Applier, contact_id: str) -> MeetergoContact | None:
    """The meetergo contact as it is now, or None when it was deleted."""
    try:
        return await applier.meetergo.details(contact_id=contact_id)
    except RecordError as exc:
        if exc.status == 404:
            return None
        raise


async def resync_meetmatch(
    planner: Planner, applier: Applier, person: MeetMatchProspect
) -> Plan | None:
    """Plan and apply one MeetMatch person; returns the plan (None: nothing to do)."""
    email = normalize_email(person.email)
    candidates = await applier.meetergo.find_by_email(email) if isinstance(email, str) else []
    link = planner.links.find(
        meetmatch_id=person.id, email=email if isinstance(email, str) else None
    )
    linked = None
    deleted = False
    if link is not None and link.meetergo_id:
        linked = next((c for c in candidates if c.id == link.meetergo_id), None)
        if linked is None:
            linked = await _current(applier, link.meetergo_id)
            deleted = linked is None
    plan = planner.plan_meetmatch(person, candidates, linked, linked_contact_deleted=deleted)
    if plan is not None:
        await applier.apply(plan)
    return plan


async def resync_meetergo(planner: Planner, applier: Applier, contact_id: str) -> list[Plan]:
    """Plan and apply one meetergo contact, read fresh from meetergo (never from a payload)."""
    contact = await _current(applier, contact_id)
    if contact is None:
        return []
    email = normalize_email(contact.email)
    same = await applier.meetergo.find_by_email(email) if isinstance(email, str) else [contact]
    if contact.id not in {c.id for c in same}:
        same = [*same, contact]
    plans = planner.plan_meetergo(contact, same)
    for plan in plans:
        await applier.apply(plan)
    return plans
