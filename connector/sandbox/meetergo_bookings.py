"""Bookings of the simulated meetergo company: the only source of meetergo webhooks.

meetergo has no contact events; a booking is what tells a sync client that a person appeared or
changed. Each booking gets an attendee id linked to a contact, which GET /crm/details resolves,
and its booking_created payload is built here in both envelopes seen in the wild.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import Json, iso_millis, utcnow


@dataclass(frozen=True)
class Attendee:
    """What the person typed into the booking form."""

    email: str
    firstname: str | None
    lastname: str | None
    phone: str | None
    timezone: str
    language: str


class BookingLedger:
    """Bookings, attendee → contact links and booking-form submissions of one company."""

    def __init__(self, company_id: str, meeting_type_id: str, new_id: Callable[[], str]) -> None:
        self.company_id = company_id
        self._new_id = new_id
        self.meeting_type_id = meeting_type_id
        self._bookings: list[tuple[str, Json]] = []
        self._attendees: dict[str, str] = {}
        self._forms: dict[str, list[Json]] = {}

    def add(
        self,
        contact_id: str,
        person: Attendee,
        *,
        start: datetime | None,
        duration_minutes: int,
        answers: Json | None,
    ) -> Json:
        """Record a booking for a contact and return its booking_created data (no envelope)."""
        begins = start if start is not None else utcnow().replace(microsecond=0) + timedelta(days=2)
        booking_id = self._new_id()
        attendee: Json = {
            "id": self._new_id(),
            "email": person.email,
            "firstname": person.firstname,
            "lastname": person.lastname,
            "fullname": " ".join(p for p in (person.firstname, person.lastname) if p) or None,
            "phone": person.phone,
            "timezone": person.timezone,
            "language": person.language,
        }
        created = iso_millis(utcnow())
        booking: Json = {
            "id": booking_id,
            "start": iso_millis(begins),
            "end": iso_millis(begins + timedelta(minutes=duration_minutes)),
            "location": f"https://meet.meetergo.com/{booking_id[:8]}",
            "isCancelled": False,
            "rescheduledAt": None,
            "meetingTypeId": self.meeting_type_id,
            "companyId": self.company_id,
            "createdAt": created,
            "attendees": [attendee],
            "hosts": [],
        }
        self._attendees[attendee["id"]] = contact_id
        self._bookings.append((contact_id, booking))
        if answers:
            self._forms.setdefault(contact_id, []).append(
                {
                    "id": self._new_id(),
                    "bookingId": booking_id,
                    "answers": dict(answers),
                    "createdAt": created,
                }
            )
        return copy.deepcopy(booking)

    def contact_of_attendee(self, attendee_id: str) -> str | None:
        """The contact an attendee id (from a booking webhook) belongs to."""
        return self._attendees.get(attendee_id)

    def count_for(self, contact_id: str) -> int:
        """How many bookings a contact has made (2+ earns the "Recurring" tag)."""
        return sum(1 for owner, _ in self._bookings if owner == contact_id)

    def appointments_of(self, contact_id: str) -> list[Json]:
        """A contact's bookings as /crm rows and /crm/details show them."""
        return [
            {
                "id": b["id"],
                "start": b["start"],
                "end": b["end"],
                "location": b["location"],
                "meetingTypeId": b["meetingTypeId"],
                "isCancelled": b["isCancelled"],
                "attendeeId": b["attendees"][0]["id"],
            }
            for owner, b in self._bookings
            if owner == contact_id
        ]

    def form_submissions_of(self, contact_id: str) -> list[Json]:
        """The booking-form answers a contact submitted, oldest first."""
        return copy.deepcopy(self._forms.get(contact_id, []))


def envelope(style: str, event: str, data: Json) -> Json:
    """A webhook body: "flat" (current, with webhookType) or "event_data" (older {event, data})."""
    if style == "event_data":
        return {"event": event, "data": data}
    return {"webhookType": event, **data}
