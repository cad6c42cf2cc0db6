"""Syncing one record on its own: live events, polls and the replay of dead letters.

The same planner and applier as the backfill, fed by targeted reads instead of a full scan:
meetergo is searched by email, a linked meetergo contact is fetched by id, and MeetMatch people
come from what was delivered or polled (MeetMatch has no way to fetch an older record).

Before any read, the person's link is re-read from the store and the observation compared with
the hash the link remembers: an echo of meetbridge's own write, or a record seen before
unchanged, costs no request at all.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext

from connector.errors import RecordError
from connector.sync.applier import Applier
from connector.sync.planner import Planner, meetergo_hash
from connector.sync.plans import Plan
from mappings import EmailProblem, content_hash, from_meetmatch, normalize_email
from mappings.records import MeetergoContact, MeetMatchProspect


async def _current(applier: Applier, contact_id: str) -> MeetergoContact | None:
    """The meetergo contact as it is now, or None when it was deleted."""
    try:
        return await applier.meetergo.details(contact_id=contact_id)
    except RecordError as exc:
        if exc.status == 404:
            return None
        raise


def _gate(applier: Applier, email: str | None) -> AbstractAsyncContextManager[None]:
    """The person's gate, held from the first look at the link to the last write.

    Held for the whole step, an echo of meetbridge's own write (the same person, seen again
    from the other side) is only looked at once that write's link is saved.
    """
    return applier.gate.hold(email) if applier.gate is not None else nullcontext()


async def resync_meetmatch(
    planner: Planner, applier: Applier, person: MeetMatchProspect
) -> Plan | None:
    """Plan and apply one MeetMatch person; returns the plan (None: nothing to do)."""
    email = normalize_email(person.email)
    known = email if isinstance(email, str) else None
    async with _gate(applier, known):
        return await _resync_meetmatch(planner, applier, person, known)


async def _resync_meetmatch(
    planner: Planner, applier: Applier, person: MeetMatchProspect, known: str | None
) -> Plan | None:
    link = await planner.links.refresh(meetmatch_id=person.id, email=known)
    canonical = from_meetmatch(person, planner.config.options)
    recreate = (
        link is not None
        and link.state == "meetergo_deleted"
        and planner.config.on_meetergo_delete == "recreate"
    )
    if (
        link is not None
        and link.meetmatch_id == person.id
        and link.meetergo_id is not None
        and not isinstance(canonical, EmailProblem)
        and link.meetmatch_hash == content_hash(canonical)
        and not recreate
    ):
        return None  # an echo, or seen before unchanged (a tombstone stays one)
    candidates = await applier.meetergo.find_by_email(known) if known else []
    # Planning asks whether a candidate already stands for someone else.
    await planner.links.prefetch(meetergo_ids=[c.id for c in candidates])
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
    return await sync_meetergo_contact(planner, applier, contact)


async def sync_meetergo_contact(
    planner: Planner, applier: Applier, contact: MeetergoContact
) -> list[Plan]:
    """Plan and apply a meetergo contact just read from meetergo."""
    email = normalize_email(contact.email)
    known = email if isinstance(email, str) else None
    async with _gate(applier, known):
        return await _sync_meetergo_contact(planner, applier, contact, known)


async def _sync_meetergo_contact(
    planner: Planner, applier: Applier, contact: MeetergoContact, known: str | None
) -> list[Plan]:
    link = await planner.links.refresh(meetergo_id=contact.id, email=known)
    if (
        link is not None
        and link.meetergo_id == contact.id
        and link.meetmatch_id is not None
        and link.meetergo_hash == meetergo_hash(contact, planner.config.options)
    ):
        return []  # seen before, unchanged
    same = await applier.meetergo.find_by_email(known) if known else [contact]
    if contact.id not in {c.id for c in same}:
        same = [*same, contact]
    plans = planner.plan_meetergo(contact, same)
    for plan in plans:
        await applier.apply(plan)
    return plans
