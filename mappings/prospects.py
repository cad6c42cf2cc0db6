"""MeetMatch people as seen in every list that names them.

MeetMatch shows only the newest 100 records of each list, so a contact can drop out of
`/contacts` while its appointments, deals or form submissions are still visible. Each of those
carries the prospect (its `prospect_id` is the contact id), so each becomes a sighting of one
shape, and the sightings of one person are merged into one record.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mappings.records import (
    MeetMatchAppointment,
    MeetMatchContact,
    MeetMatchDeal,
    MeetMatchFormSubmission,
    MeetMatchProspect,
)
from mappings.text import is_blank

# The fields a later sighting may fill in when the winning one lacks them.
_FILLABLE = ("full_name", "email", "company", "phone", "lead_source", "custom_fields", "created_at")


def prospect_from_contact(contact: MeetMatchContact) -> MeetMatchProspect:
    """The contact itself: the sighting that knows most and wins every field it has."""
    return MeetMatchProspect(
        id=contact.id,
        source="contact",
        full_name=contact.full_name,
        email=contact.email,
        company=contact.company,
        phone=contact.phone,
        lead_source=contact.lead_source,
        custom_fields=copy.deepcopy(contact.custom_fields),
        created_at=contact.created_at,
    )


def prospect_from_appointment(appointment: MeetMatchAppointment) -> MeetMatchProspect | None:
    """The appointment's prospect; `None` when it names no contact id to tie it to."""
    if appointment.prospect_id is None or is_blank(appointment.prospect_id):
        return None
    return MeetMatchProspect(
        id=appointment.prospect_id,
        source="appointment",
        full_name=appointment.prospect_name,
        email=appointment.prospect_email,
        company=appointment.prospect_company,
        created_at=appointment.created_at,
    )


def prospect_from_deal(deal: MeetMatchDeal) -> MeetMatchProspect | None:
    """The deal's prospect; `None` when it names no contact id to tie it to."""
    if deal.prospect_id is None or is_blank(deal.prospect_id):
        return None
    return MeetMatchProspect(
        id=deal.prospect_id,
        source="deal",
        full_name=deal.prospect_name,
        email=deal.prospect_email,
        created_at=deal.created_at,
    )


def prospect_from_form(submission: MeetMatchFormSubmission) -> MeetMatchProspect | None:
    """The submitter; `None` when the submission names no contact id to tie it to.

    The answers stay out: they belong to one submission, and copying them onto the contact would
    make every new submission look like a change of the person.
    """
    if submission.prospect_id is None or is_blank(submission.prospect_id):
        return None
    return MeetMatchProspect(
        id=submission.prospect_id,
        source="form_submission",
        full_name=submission.prospect_name,
        email=submission.prospect_email,
        company=submission.prospect_company,
        phone=submission.prospect_phone,
        created_at=submission.created_at,
    )


def merge_prospects(sightings: Sequence[MeetMatchProspect]) -> MeetMatchProspect:
    """One record for one person from all their sightings.

    The contact sighting wins field by field; the others, newest first, only fill what it lacks.
    The order of `sightings` does not matter: they are ranked by source, time and finally content,
    so the same sightings always give the same record.
    """
    if not sightings:
        raise ValueError("merge_prospects needs at least one sighting")
    ids = {sighting.id for sighting in sightings}
    if len(ids) != 1:
        raise ValueError(f"merge_prospects got sightings of different people: {sorted(ids)}")
    ranked = sorted(sightings, key=_rank)
    merged: dict[str, Any] = {"id": ranked[0].id, "source": ranked[0].source}
    for name in _FILLABLE:
        merged[name] = next(
            (getattr(s, name) for s in ranked if not _lacks(getattr(s, name))),
            getattr(ranked[0], name),
        )
    return MeetMatchProspect.model_validate(copy.deepcopy(merged))


def _lacks(value: object) -> bool:
    return is_blank(value) or value == {}


def _rank(sighting: MeetMatchProspect) -> tuple[bool, bool, float, str]:
    """Contact first, then newest first (undated last), then by content to break every tie."""
    when = _timestamp(sighting.created_at)
    content = json.dumps(sighting.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return (sighting.source != "contact", when is None, -(when or 0.0), content)


def _timestamp(moment: datetime | None) -> float | None:
    """Seconds since the epoch, reading a naive time as UTC so naive and aware times compare."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
