"""Everyone MeetMatch lets us see: the newest contacts plus the prospects in the other lists.

Appointments, deals and form submissions carry a prospect (`prospect_id` is the contact id), so
a person whose contact has left the newest-100 window can still be seen there. Sightings of one
person are merged into one record, the contact's own fields first.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from connector.clients.meetmatch import MeetMatchClient
from mappings import (
    merge_prospects,
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_deal,
    prospect_from_form,
)
from mappings.records import MeetMatchProspect


async def read_meetmatch(client: MeetMatchClient) -> list[MeetMatchProspect]:
    """The four newest-100 lists, merged by person (4 requests, sent together)."""
    in_contacts = asyncio.ensure_future(client.list_contacts())
    in_appointments = asyncio.ensure_future(client.list_appointments())
    in_deals = asyncio.ensure_future(client.list_deals())
    in_forms = asyncio.ensure_future(client.list_form_submissions())
    lists: list[asyncio.Future[Any]] = [in_contacts, in_appointments, in_deals, in_forms]
    try:
        contacts, appointments, deals, forms = await asyncio.gather(
            in_contacts, in_appointments, in_deals, in_forms
        )
    except BaseException:
        # One list failed (its own error is what the caller sees): the others stop too.
        for task in lists:
            task.cancel()
        await asyncio.gather(*lists, return_exceptions=True)
        raise
    sightings: list[MeetMatchProspect | None] = []
    sightings.extend(prospect_from_contact(c) for c in contacts)
    sightings.extend(prospect_from_appointment(a) for a in appointments)
    sightings.extend(prospect_from_deal(d) for d in deals)
    sightings.extend(prospect_from_form(f) for f in forms)
    by_person: dict[str, list[MeetMatchProspect]] = defaultdict(list)
    for sighting in sightings:
        if sighting is not None:
            by_person[sighting.id].append(sighting)
    return [merge_prospects(group) for _, group in sorted(by_person.items())]
