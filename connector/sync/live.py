"""Live sync: what the daemon does with a webhook delivery and on each poll.

Deliveries, polls, replays and the reconcile scan run side by side; what keeps them apart is the
per-person gate (`connector.sync.gate`), held by each step from its first look at a person's
link to its last write. So an echo of meetbridge's own write is only looked at after the write's
link is saved, two steps never both create one person, and a webhook never waits for a poll or a
reconcile busy with other people. The scheduler keeps a poll from running twice at once; the
rate budgets, not locks, bound throughput.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from connector.clients.meetergo import PAGE_LIMIT
from connector.errors import RecordError
from connector.runtime import Runtime
from connector.store.inbox import Delivery
from connector.sync.applier import Applier
from connector.sync.gate import PersonGate
from connector.sync.links import LinkIndex
from connector.sync.meetmatch_reader import read_meetmatch
from connector.sync.planner import Planner
from connector.sync.plans import Summary, meetergo_row_key
from connector.sync.resync import resync_meetmatch, sync_meetergo_contact
from mappings import (
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_deal,
    prospect_from_form,
)
from mappings.records import (
    MeetergoContact,
    MeetMatchAppointment,
    MeetMatchContact,
    MeetMatchDeal,
    MeetMatchFormSubmission,
    MeetMatchProspect,
)

log = logging.getLogger("meetbridge.live")

# Links live sync keeps between steps (each step fetches its own again; this only bounds memory).
LIVE_LINKS = 5000

MEETERGO_CONSUMED = frozenset({"booking_created", "booking_rescheduled", "form_submission"})


def prospect_from_event(event: str, data: Any) -> MeetMatchProspect | None:
    """The person a MeetMatch delivery is about (None: the event carries nobody to sync)."""
    if not isinstance(data, dict):
        return None
    kind = event.split(".", 1)[0]
    try:
        if kind == "contact":
            return prospect_from_contact(MeetMatchContact.model_validate(data))
        if kind == "appointment":
            return prospect_from_appointment(MeetMatchAppointment.model_validate(data))
        if kind == "deal":
            return prospect_from_deal(MeetMatchDeal.model_validate(data))
        if kind == "form":
            return prospect_from_form(MeetMatchFormSubmission.model_validate(data))
    except ValidationError as exc:
        raise RecordError("MeetMatch", f"{event} delivery: malformed record: {exc}") from exc
    return None


def meetergo_booking_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The booking fields, from either envelope (flat with webhookType, or event/data)."""
    data = payload.get("data")
    return data if isinstance(data, dict) else payload


def attendee_ids(payload: dict[str, Any]) -> list[str]:
    attendees = meetergo_booking_data(payload).get("attendees")
    if not isinstance(attendees, list):
        return []
    return [str(a["id"]) for a in attendees if isinstance(a, dict) and a.get("id")]


class LiveSync:
    """Deliveries and polls through the planner and applier shared with the backfill."""

    def __init__(self, rt: Runtime, links: LinkIndex) -> None:
        self.rt = rt
        self.summary = Summary()
        self.planner = Planner(rt.planner, links)
        self.gate = PersonGate()
        self.applier = Applier(
            rt.store,
            links,
            rt.meetmatch,
            rt.meetergo,
            rt.planner.options,
            self.summary,
            concurrency=1,
            bulk_threshold=rt.settings.sync.bulk_threshold,
            gate=self.gate,
        )
        self.links = links
        # Serializes replays (the status page's button and the scheduled retry), nothing else.
        self.lock = asyncio.Lock()

    def forget_links(self) -> None:
        """Drop what is known of links (another replica wrote them while this one stood by)."""
        self.links.clear()

    @classmethod
    async def create(cls, rt: Runtime) -> LiveSync:
        return cls(rt, LinkIndex(rt.store, keep=LIVE_LINKS))

    # --- webhook deliveries ----------------------------------------------------------------

    async def apply_delivery(self, delivery: Delivery, applier: Applier | None = None) -> None:
        """Apply one stored delivery; raises what should make the worker try again later.

        `applier`: a replay brings its own (with its own tally), sharing the person gate.
        """
        applier = applier or self.applier
        if delivery.vendor == "meetmatch":
            person = prospect_from_event(delivery.event, delivery.payload.get("data"))
            if person is not None:
                await self._meetmatch_people([person], applier)
        elif delivery.event in MEETERGO_CONSUMED:
            await self._meetergo_delivery(delivery, applier)

    async def _meetmatch_people(
        self,
        people: Iterable[MeetMatchProspect],
        applier: Applier,
        *,
        only_news: bool = False,
    ) -> None:
        """Remember and sync people; `only_news`: skip those seen before, unchanged, settled
        (a poll sees the same newest records every time)."""
        people = list(people)
        # Seen once counts: remembered before any write, so a crash cannot lose the person.
        news = await self.rt.store.record_sightings(
            (p.id, p.email, p.model_dump(mode="json")) for p in people
        )
        for person in people:
            if only_news and person.id not in news:
                continue
            await resync_meetmatch(self.planner, applier, person)

    async def _meetergo_delivery(self, delivery: Delivery, applier: Applier) -> None:
        # meetergo signs nothing: the payload is only a pointer; the contact is re-read from
        # the API by attendee id, never trusted from the body.
        for attendee in attendee_ids(delivery.payload):
            try:
                contact = await self.rt.meetergo.details(attendee_id=attendee)
            except RecordError as exc:
                if exc.status == 404:
                    log.info("booking attendee %s not found in meetergo; ignored", attendee)
                    continue
                raise
            await sync_meetergo_contact(self.planner, applier, contact)

    # --- polls -----------------------------------------------------------------------------

    async def poll_meetmatch(self) -> int:
        """The newest 100 of each MeetMatch list; returns how many people were looked at."""
        people = await read_meetmatch(self.rt.meetmatch)
        await self._meetmatch_people(people, self.applier, only_news=True)
        return len(people)

    async def poll_meetergo(self) -> int:
        """Newest meetergo contacts first, down to ones meetbridge already knows; returns new ones.

        meetergo has no contact webhooks and no updated-since filter. Contacts created in the
        same second tie on createdAt and come back in any order, so the walk does not stop at
        the first known contact but at the first page that ends older than it.
        """
        fresh: dict[str, MeetergoContact] = {}
        cutoff = None
        page = 1
        while True:
            current = await self.rt.meetergo.list_page(page, PAGE_LIMIT, sort_order="DESC")
            contacts = current.contacts
            known = await self.rt.store.known_meetergo_ids([c.id for c in contacts])
            for contact in contacts:
                if contact.id not in known:
                    fresh.setdefault(contact.id, contact)
                elif cutoff is None and contact.created_at is not None:
                    cutoff = contact.created_at
            if not contacts or page >= current.total_pages:
                break
            last = contacts[-1].created_at
            if cutoff is not None and last is not None and last < cutoff:
                break
            page += 1
        # Oldest first, as they were created.
        for contact in sorted(fresh.values(), key=meetergo_row_key):
            await sync_meetergo_contact(self.planner, self.applier, contact)
        return len(fresh)
