"""Simulated meetergo API: a stateful fake of the /crm and /webhooks endpoints, quirks included.

The quirks that matter to a sync client: 100 requests/minute per key and 3 bulk calls/minute;
GET /crm wraps each contact in `item` and pages over a live list (inserts shift pages); POST /crm
never dedupes; a bulk create answers no ids; PATCH replaces `tags` and `additionalData` whole;
there are no contact webhooks, only booking events, which may arrive twice and are unsigned.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from .common import (
    Json,
    VendorState,
    iso_millis,
    iso_seconds,
    json_response,
    normalize_email,
    retry_after_seconds,
    utcnow,
)
from .deliveries import Deliverer
from .faults import Faults
from .limits import TokenBucket
from .meetergo_api import routes
from .meetergo_bookings import Attendee, BookingLedger, envelope
from .meetergo_index import ContactIndex, sort_key
from .meetergo_schema import PLATFORM_KEY_PREFIX, USER_ID_HEADER, WRITABLE_FIELDS, error_body


class MeetergoState(VendorState):
    """One meetergo company: contacts, bookings, webhooks, keys, rate budgets, faults.

    `api_keys` are bearer tokens; those starting with "ak_live:" are platform keys and need the
    x-meetergo-api-user-id header (any non-empty value is accepted). The budget is a token bucket
    per key: `requests_per_minute` refill, `burst` capacity. The vendor documents bursts up to
    200; the default bucket of 100 is stricter, never kinder. Bulk calls also spend from their
    own bucket (`bulk_per_minute`, capacity `bulk_burst`).
    """

    vendor = "meetergo"

    def __init__(
        self,
        api_keys: Iterable[str] | None = None,
        *,
        requests_per_minute: float = 100,
        burst: float = 100,
        bulk_per_minute: float = 3,
        bulk_burst: float = 3,
        send_retry_after: bool = True,
        webhook_envelope: str = "flat",
        duplicate_deliveries: bool = False,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        delivery_transport: httpx.AsyncBaseTransport | None = None,
        delivery_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            faults=faults,
            clock=clock,
            deliverer=Deliverer(client=delivery_client, transport=delivery_transport, timeout=30),
        )
        self.api_keys: set[str] = set(api_keys) if api_keys is not None else {"mg_sandbox"}
        self.send_retry_after = send_retry_after
        self.webhook_envelope = webhook_envelope
        self.duplicate_deliveries = duplicate_deliveries
        self.company_id = "3f6e2b1a-8c4d-4e9f-a0b1-c2d3e4f5a6b7"
        self.meeting_type_id = "7c1d9e2f-4a3b-4c5d-8e6f-0a1b2c3d4e5f"
        self._contacts: dict[str, Json] = {}
        # GET /crm's orders and search fields, updated by every write (`_rewrite`).
        self._index = ContactIndex(self._contacts.values)
        self.bookings = BookingLedger(self.company_id, self.meeting_type_id, self.new_id)
        self.webhooks: dict[str, Json] = {}
        # Orders rows that tie on every sort key differently at each request (seeded: repeatable).
        self.tie_order = random.Random(0)
        self._buckets: dict[str, TokenBucket] = {}
        self._bulk_buckets: dict[str, TokenBucket] = {}
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        self.bulk_per_minute = bulk_per_minute
        self.bulk_burst = bulk_burst

    # ---- configuration -------------------------------------------------------------------
    def set_limits(
        self,
        *,
        requests_per_minute: float | None = None,
        burst: float | None = None,
        bulk_per_minute: float | None = None,
        bulk_burst: float | None = None,
    ) -> None:
        """Change the budgets (None keeps a value); every bucket starts full again."""
        if requests_per_minute is not None:
            self.requests_per_minute = requests_per_minute
        if burst is not None:
            self.burst = burst
        if bulk_per_minute is not None:
            self.bulk_per_minute = bulk_per_minute
        if bulk_burst is not None:
            self.bulk_burst = bulk_burst
        self._buckets.clear()
        self._bulk_buckets.clear()

    # ---- contacts ------------------------------------------------------------------------
    def _stamp(self, moment: datetime | None = None) -> str:
        """A timestamp at second resolution, as meetergo shows them: records created in the
        same second (a bulk import, a busy minute) tie, and nothing orders them further."""
        return iso_seconds(moment if moment is not None else utcnow())

    def create_contact(self, fields: Json, *, created_at: datetime | None = None) -> Json:
        """Insert a contact as given (no dedupe, no validation: callers validate)."""
        stamp = self._stamp(created_at)
        contact: Json = {
            "id": self.new_id(),
            "firstName": None,
            "lastName": None,
            "email": None,
            "phoneNumber": None,
            "language": None,
            "tags": [],
            "notes": None,
            "crmCompanyId": None,
            "accountOwnerId": None,
            "additionalData": {},
            "noShowCount": 0,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        contact.update(copy.deepcopy({k: v for k, v in fields.items() if k in WRITABLE_FIELDS}))
        contact["tags"] = contact["tags"] or []
        contact["additionalData"] = contact["additionalData"] or {}
        self._contacts[contact["id"]] = contact
        self._index.add(contact)
        return copy.deepcopy(contact)

    def update_contact(self, contact_id: str, fields: Json) -> Json | None:
        """Replace the given fields (tags and additionalData whole) and bump updatedAt."""
        contact = self._contacts.get(contact_id)
        if contact is None:
            return None
        with self._rewrite(contact):
            contact.update(copy.deepcopy({k: v for k, v in fields.items() if k in WRITABLE_FIELDS}))
            contact["updatedAt"] = self._stamp()
        return copy.deepcopy(contact)

    def delete_contact(self, contact_id: str) -> bool:
        """Remove a contact; False when there was none."""
        contact = self._contacts.pop(contact_id, None)
        if contact is None:
            return False
        self._index.remove(contact)
        return True

    def user_create_contact(self, *, created_at: datetime | None = None, **fields: Any) -> Json:
        """A user adds a contact in meetergo's UI: no webhook (meetergo has no contact events)."""
        return self.create_contact(fields, created_at=created_at)

    def user_update_contact(self, contact_id: str, **fields: Any) -> Json:
        """A user edits a contact in the UI; KeyError when it does not exist."""
        updated = self.update_contact(contact_id, fields)
        if updated is None:
            raise KeyError(contact_id)
        return updated

    def user_delete_contact(self, contact_id: str) -> None:
        """A user deletes a contact in the UI; KeyError when it does not exist."""
        if not self.delete_contact(contact_id):
            raise KeyError(contact_id)

    def corrupt_contact(self, contact_id: str, **raw: Any) -> None:
        """Overwrite fields with values no API call could store (e.g. `tags="VIP"`): a row an
        old import or integration left behind, which GET /crm still lists and counts in
        `total`, and which a strict client cannot parse. KeyError when there is no contact."""
        contact = self._contacts[contact_id]
        with self._rewrite(contact):
            contact.update(copy.deepcopy(raw))

    def get_contact(self, contact_id: str) -> Json | None:
        """One contact by id, or None."""
        found = self._contacts.get(contact_id)
        return copy.deepcopy(found) if found is not None else None

    def contacts_with_email(self, email: str) -> list[Json]:
        """Every contact whose email matches (trimmed, case-insensitive): the truth behind the
        API, for tests and the demo (the API's own search is `search`)."""
        key = normalize_email(email)
        return [
            copy.deepcopy(c) for c in self._contacts.values() if normalize_email(c["email"]) == key
        ]

    def all_contacts(self) -> list[Json]:
        """Every contact in insertion order (oldest first)."""
        return copy.deepcopy(list(self._contacts.values()))

    def search(
        self,
        *,
        search_term: str | None = None,
        tags: list[str] | None = None,
        owner_id: str | None = None,
        sort_by: str = "createdAt",
        descending: bool = True,
    ) -> list[Json]:
        """GET /crm's filter and order over the live list.

        A contact matches `tags` when it has ANY of them. Nulls sort after values in ascending
        order and first in descending order, as PostgreSQL does; createdAt breaks ties.
        """
        term = search_term.casefold() if search_term else None
        found = []
        for contact in self._index.matching(term) if term else self._contacts.values():
            if tags and not set(tags) & set(contact["tags"]):
                continue
            if owner_id is not None and contact["accountOwnerId"] != owner_id:
                continue
            found.append(contact)

        self.tie_order.shuffle(found)
        found.sort(key=sort_key(sort_by), reverse=descending)
        return found

    @contextlib.contextmanager
    def _rewrite(self, contact: Json) -> Iterator[None]:
        """Around an in-place change of `contact`: its place in every order is filed anew."""
        self._index.remove(contact)
        try:
            yield
        finally:
            self._index.add(contact)

    def search_page(
        self,
        page: int,
        limit: int,
        *,
        search_term: str | None = None,
        tags: list[str] | None = None,
        owner_id: str | None = None,
        sort_by: str = "createdAt",
        descending: bool = True,
    ) -> tuple[list[Json], int]:
        """One page of `search` and the total it pages through.

        Without filters the order is kept between requests and only the runs of tied rows the
        page touches are shuffled: the same answers as sorting everything each time (ties in
        any order, anew on every request), at the cost of one page.
        """
        start = (page - 1) * limit
        if search_term or tags or owner_id is not None:
            found = self.search(
                search_term=search_term,
                tags=tags,
                owner_id=owner_id,
                sort_by=sort_by,
                descending=descending,
            )
            return found[start : start + limit], len(found)
        return self._index.page(sort_by, descending, start, limit, self.tie_order)

    def row(self, contact: Json) -> Json:
        """A contact as GET /crm and POST /crm show it: wrapped in `item`, with appointments."""
        appointments = self.bookings.appointments_of(contact["id"])
        now = iso_millis(utcnow())
        upcoming = [a["start"] for a in appointments if not a["isCancelled"] and a["start"] > now]
        return {
            "item": copy.deepcopy(contact),
            "appointments": appointments,
            "nextAppointmentIso": min(upcoming) if upcoming else None,
        }

    def details(
        self, *, contact_id: str | None = None, attendee_id: str | None = None
    ) -> Json | None:
        """GET /crm/details: the contact, its appointments and form submissions, or None."""
        if contact_id is None and attendee_id is not None:
            contact_id = self.bookings.contact_of_attendee(attendee_id)
        contact = self._contacts.get(contact_id) if contact_id is not None else None
        if contact is None:
            return None
        return {
            "item": copy.deepcopy(contact),
            "appointments": self.bookings.appointments_of(contact["id"]),
            "formSubmissions": self.bookings.form_submissions_of(contact["id"]),
        }

    # ---- bookings ------------------------------------------------------------------------
    def book(
        self,
        email: str,
        firstname: str | None = None,
        lastname: str | None = None,
        phone: str | None = None,
        *,
        answers: Json | None = None,
        start: datetime | None = None,
        duration_minutes: int = 30,
        timezone: str = "Europe/Berlin",
        language: str = "de",
    ) -> Json:
        """Someone books a meeting: match or create the contact by email, fire booking_created.

        An existing contact (the oldest one with that email, trimmed and case-insensitive) is
        enriched: empty first/last name and phone are filled, booking-form `answers` are added
        to additionalData, and a second booking adds the automatic "Recurring" tag.
        """
        contact = self._match_by_email(email)
        if contact is None:
            contact = self._contacts[
                self.create_contact(
                    {
                        "firstName": firstname,
                        "lastName": lastname,
                        "email": email,
                        "phoneNumber": phone,
                        "language": language,
                        "additionalData": dict(answers or {}),
                    }
                )["id"]
            ]
        else:
            with self._rewrite(contact):
                self._enrich(contact, firstname, lastname, phone, answers)
        person = Attendee(email, firstname, lastname, phone, timezone, language)
        booking = self.bookings.add(
            contact["id"], person, start=start, duration_minutes=duration_minutes, answers=answers
        )
        if self.bookings.count_for(contact["id"]) >= 2 and "Recurring" not in contact["tags"]:
            contact["tags"] = [*contact["tags"], "Recurring"]
            contact["updatedAt"] = self._stamp()
        self.fire("booking_created", booking)
        return booking

    def _match_by_email(self, email: str) -> Json | None:
        key = normalize_email(email)
        return next(
            (c for c in self._contacts.values() if normalize_email(c["email"]) == key and key), None
        )

    def _enrich(
        self,
        contact: Json,
        first: str | None,
        last: str | None,
        phone: str | None,
        answers: Json | None,
    ) -> None:
        changed = False
        for name, value in (("firstName", first), ("lastName", last), ("phoneNumber", phone)):
            if value and not contact.get(name):
                contact[name] = value
                changed = True
        for name, value in (answers or {}).items():
            if name not in contact["additionalData"]:
                contact["additionalData"][name] = value
                changed = True
        if changed:
            contact["updatedAt"] = self._stamp()

    # ---- webhooks ------------------------------------------------------------------------
    def add_webhook(
        self, endpoint: str, event_types: list[str], description: str | None = None
    ) -> Json:
        """Register a webhook (callers check the 6-per-company limit and the fields)."""
        hook: Json = {
            "id": self.new_id(),
            "endpoint": endpoint,
            "description": description,
            "eventTypes": list(event_types),
            "createdAt": iso_millis(utcnow()),
        }
        self.webhooks[hook["id"]] = hook
        return dict(hook)

    def webhook_list(self) -> list[Json]:
        """The registered webhooks, oldest first."""
        return [copy.deepcopy(hook) for hook in self.webhooks.values()]

    def fire(self, event: str, data: Json) -> None:
        """Deliver `event` to each webhook subscribed to it; twice when duplicate_deliveries."""
        body = json.dumps(
            envelope(self.webhook_envelope, event, data), separators=(",", ":")
        ).encode()
        copies = 2 if self.duplicate_deliveries else 1
        for hook in list(self.webhooks.values()):
            if event not in hook["eventTypes"]:
                continue
            for _ in range(copies):
                self.deliverer.send(
                    event=event,
                    target=hook["endpoint"],
                    body=body,
                    headers={"Content-Type": "application/json"},
                    subscription_id=hook["id"],
                )

    # ---- pipeline hooks ------------------------------------------------------------------
    def authenticate(self, request: Request, scope: str) -> tuple[str, Response | None]:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return "", self.error(401, "Unauthorized")
        user_id = request.headers.get(USER_ID_HEADER)
        if key.startswith(PLATFORM_KEY_PREFIX) and not user_id:
            return key, self.error(
                400, f"Missing required header '{USER_ID_HEADER}' for platform API keys"
            )
        if not key.startswith(PLATFORM_KEY_PREFIX) and user_id is not None:
            return key, self.error(
                400,
                f"Header '{USER_ID_HEADER}' is only allowed with platform API keys; "
                "personal access tokens must not send it",
            )
        return key, None

    def admit(self, key: str, *, bulk: bool) -> Response | None:
        buckets = [self._bucket(self._buckets, key, self.requests_per_minute, self.burst)]
        if bulk:
            buckets.append(
                self._bucket(self._bulk_buckets, key, self.bulk_per_minute, self.bulk_burst)
            )
        wait = max(bucket.wait_time() for bucket in buckets)
        if wait > 0:
            return self.throttled(wait)
        for bucket in buckets:
            bucket.try_take()
        return None

    def _bucket(
        self, buckets: dict[str, TokenBucket], key: str, rate: float, capacity: float
    ) -> TokenBucket:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(rate, capacity, self.clock)
        return bucket

    def error(self, status: int, message: str, field: str | None = None) -> Response:
        return json_response(error_body(status, message, field), status)

    def throttled(self, wait: float) -> Response:
        headers = {"Retry-After": retry_after_seconds(wait)} if self.send_retry_after else None
        return json_response(error_body(429, "Too Many Requests"), 429, headers)


def meetergo_app(state: MeetergoState) -> Starlette:
    """The meetergo REST API over `state`; mount it where the base URL should point."""
    return Starlette(routes=routes(state))
