"""Simulated MeetMatch API: a stateful fake of the Zapier-facing REST API, quirks included.

The quirks that matter to a sync client: list endpoints show only the newest `limit` (at most
100) records and have no paging, so older records vanish from view; POST /contacts answers 200
with the existing record when the email is taken; contacts can be neither updated nor deleted;
REST hooks fire for API-made contacts too (the echo a sync must suppress).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from .common import (
    Json,
    VendorState,
    iso_seconds,
    json_response,
    normalize_email,
    retry_after_seconds,
    utcnow,
)
from .deliveries import Deliverer
from .faults import Faults
from .limits import TokenBucket
from .meetmatch_api import routes
from .meetmatch_records import (
    CREATED_EVENT,
    KINDS,
    appointment_record,
    contact_record,
    deal_record,
    form_submission_record,
    outcome_record,
    prospect_of,
)

LIST_ENVELOPES = ("data", "results", "items")
EMAIL_DEDUPE = ("casefold", "exact")
# Stands in for the prospect while a record's own fields are validated.
_NOBODY: Json = {"id": "", "full_name": None, "email": None, "company": None, "phone": None}
_ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class MeetMatchState(VendorState):
    """One MeetMatch organization: records, REST-hook subscriptions, keys, limits, faults.

    `api_keys` maps each key to its scopes ("read", "write"). `requests_per_minute` is None
    (no public limit) unless a test wants one; `burst` defaults to one minute's worth.
    `list_envelope` None answers lists as bare arrays; "data", "results" or "items" wraps them.
    `email_dedupe` is how POST /contacts (and a booking's prospect) finds an existing contact:
    "casefold" (trimmed, case-insensitive) or "exact" (the string as stored). MeetMatch's page
    only says "the same email"; "exact" is the reading least kind to a sync client.
    """

    vendor = "meetmatch"

    def __init__(
        self,
        api_keys: Mapping[str, Iterable[str]] | None = None,
        *,
        webhook_secret: str = "whsec_sandbox",
        requests_per_minute: float | None = None,
        burst: float | None = None,
        list_envelope: str | None = None,
        email_dedupe: str = "casefold",
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        delivery_transport: httpx.AsyncBaseTransport | None = None,
        delivery_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            faults=faults,
            clock=clock,
            deliverer=Deliverer(client=delivery_client, transport=delivery_transport),
        )
        keys = api_keys if api_keys is not None else {"mm_live_sandbox": {"read", "write"}}
        self.api_keys: dict[str, set[str]] = {key: set(scopes) for key, scopes in keys.items()}
        self.webhook_secret = webhook_secret
        self.list_envelope = list_envelope
        self.organization: Json = {"id": "org_sandbox", "name": "Sandbox Org"}
        self.pipelines: list[Json] = [
            {"id": "6a1f0c9e-3b2d-4e5f-8a7b-9c0d1e2f3a4b", "name": "Inbound Sales"}
        ]
        self.hooks: dict[str, Json] = {}
        self._records: dict[str, list[Json]] = {kind: [] for kind in KINDS}
        self._contacts_by_id: dict[str, Json] = {}
        self._contacts_by_email: dict[str, Json] = {}
        self._email_dedupe = "casefold"
        self.email_dedupe = email_dedupe
        self.requests_per_minute: float | None = None
        self.burst: float | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self.set_limits(requests_per_minute, burst)

    # ---- configuration -------------------------------------------------------------------
    @property
    def email_dedupe(self) -> str:
        """How an existing contact is found by email: "casefold" or "exact"."""
        return self._email_dedupe

    @email_dedupe.setter
    def email_dedupe(self, mode: str) -> None:
        if mode not in EMAIL_DEDUPE:
            raise ValueError(f"email_dedupe must be one of {', '.join(EMAIL_DEDUPE)}")
        self._email_dedupe = mode
        self._contacts_by_email.clear()
        for record in self._records["contacts"]:  # oldest first: the first one keeps the key
            key = self.email_key(record.get("email"))
            if key:
                self._contacts_by_email.setdefault(key, record)

    def email_key(self, email: str | None) -> str:
        """What two emails must share to be "the same email" under `email_dedupe`."""
        if self._email_dedupe == "exact":
            return email or ""
        return normalize_email(email)

    def set_limits(self, requests_per_minute: float | None, burst: float | None = None) -> None:
        """Set (or with None remove) the per-key rate limit; every bucket starts full again."""
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        self._buckets.clear()

    # ---- records (the Python face of "a user acts in MeetMatch") -------------------------
    def add_contact(
        self,
        full_name: str | None,
        email: str | None,
        *,
        company: str | None = None,
        phone: str | None = None,
        lead_source: str | None = None,
        custom_fields: Json | None = None,
        created_at: datetime | None = None,
        notify: bool = True,
    ) -> Json:
        """A user creates a contact in MeetMatch's UI; fires contact.created when `notify`.

        Unlike POST /contacts this does not dedupe by email (imports and UI edits can leave
        two contacts with one email, and a sync must cope).
        """
        fields = {
            "full_name": full_name,
            "email": email,
            "company": company,
            "phone": phone,
            "lead_source": lead_source,
            "custom_fields": custom_fields,
        }
        record = contact_record(self.new_id(), self._stamp(created_at), fields)
        self._store("contacts", record)
        self._contacts_by_id[record["id"]] = record
        if self.email_key(email):
            self._contacts_by_email.setdefault(self.email_key(email), record)
        if notify:
            self.fire(CREATED_EVENT["contacts"], record)
        return copy.deepcopy(record)

    def add_appointment(
        self, *, created_at: datetime | None = None, notify: bool = True, **fields: Any
    ) -> Json:
        """A prospect books a meeting (see `_add_about` for how the prospect is given)."""
        return self._add_about("appointments", appointment_record, fields, created_at, notify)

    def add_deal(
        self, *, created_at: datetime | None = None, notify: bool = True, **fields: Any
    ) -> Json:
        """A rep opens a deal; `pipeline_id` defaults to the seeded pipeline."""
        rest = dict(fields)
        pipeline = self.pipeline(rest.pop("pipeline_id", self.pipelines[0]["id"]))
        if pipeline is None:
            raise KeyError("unknown pipeline_id")
        rest.pop("pipeline_name", None)

        def build(record_id: str, stamp: str, prospect: Json, values: Json) -> Json:
            return deal_record(record_id, stamp, prospect, pipeline, values)

        return self._add_about("deals", build, rest, created_at, notify)

    def add_outcome(
        self, *, created_at: datetime | None = None, notify: bool = True, **fields: Any
    ) -> Json:
        """A rep logs a call outcome."""
        return self._add_about("outcomes", outcome_record, fields, created_at, notify)

    def add_form_submission(
        self, *, created_at: datetime | None = None, notify: bool = True, **fields: Any
    ) -> Json:
        """A prospect submits a questionnaire."""
        return self._add_about(
            "form-submissions", form_submission_record, fields, created_at, notify
        )

    def _add_about(
        self,
        kind: str,
        build: Callable[[str, str, Json, Json], Json],
        fields: Json,
        created_at: datetime | None,
        notify: bool,
    ) -> Json:
        """Create a record about a prospect, who is always a contact of the organization.

        `prospect_id` names an existing contact. Otherwise `prospect_email` finds one (as
        `email_dedupe` compares emails) or a new contact is created from the prospect_*
        fields, as MeetMatch's CRM does when someone new books; that creation fires
        contact.created like any other.
        The record's own fields are validated first, so a bad call creates nothing.
        """
        rest = dict(fields)
        prospect_id = rest.pop("prospect_id", None)
        given = {k: rest.pop(k) for k in list(rest) if k.startswith("prospect_")}
        record_id, stamp = self.new_id(), self._stamp(created_at)
        build(record_id, stamp, prospect_of(_NOBODY), rest)
        if prospect_id is not None:
            contact = self._contacts_by_id.get(prospect_id)
            if contact is None:
                raise KeyError(f"unknown prospect_id {prospect_id}")
        elif given.get("prospect_email"):
            email = given["prospect_email"]
            contact = self._contacts_by_email.get(self.email_key(email))
            if contact is None:
                created = self.add_contact(
                    given.get("prospect_name"),
                    email,
                    company=given.get("prospect_company"),
                    phone=given.get("prospect_phone"),
                    lead_source="MeetMatch booking",
                )
                contact = self._contacts_by_id[created["id"]]
        else:
            raise ValueError("prospect_id or prospect_email is required")
        record = build(record_id, stamp, {**prospect_of(contact), **given}, rest)
        return self._add(kind, record, notify)

    def pipeline(self, pipeline_id: Any) -> Json | None:
        """The pipeline with this id, or None."""
        return next((p for p in self.pipelines if p["id"] == pipeline_id), None)

    def _add(self, kind: str, record: Json, notify: bool) -> Json:
        self._store(kind, record)
        if notify:
            self.fire(CREATED_EVENT[kind], record)
        return copy.deepcopy(record)

    def _store(self, kind: str, record: Json) -> None:
        self._records[kind].append(record)

    def _stamp(self, created_at: datetime | None) -> str:
        return iso_seconds(created_at if created_at is not None else utcnow())

    def newest(self, kind: str, limit: int, status: str | None = None) -> list[Json]:
        """What a list endpoint shows: newest first (ties: later insert first), at most `limit`."""
        rows = [
            (record["created_at"], seq, record)
            for seq, record in enumerate(self._records[kind])
            if status is None or record.get("status") == status
        ]
        rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [copy.deepcopy(record) for _, _, record in rows[:limit]]

    def visible_people(self, limit: int = 100) -> set[str]:
        """Ids of the people the API lets a client see at all: the contacts in the newest
        `limit`, and the prospects of the newest `limit` appointments, deals, submissions."""
        ids = {contact["id"] for contact in self.newest("contacts", limit)}
        for kind in ("appointments", "deals", "form-submissions"):
            ids |= {r["prospect_id"] for r in self.newest(kind, limit) if r.get("prospect_id")}
        return ids

    def all_records(self, kind: str) -> list[Json]:
        """Every record of a kind in insertion order (oldest first), beyond any API window."""
        return copy.deepcopy(self._records[kind])

    def all_contacts(self) -> list[Json]:
        """Every contact, oldest first: what the org really holds, not what the API shows."""
        return self.all_records("contacts")

    def contact_by_id(self, contact_id: Any) -> Json | None:
        """The contact with this id (visible in the API window or not), or None."""
        found = self._contacts_by_id.get(contact_id)
        return copy.deepcopy(found) if found is not None else None

    def contact_by_email(self, email: str) -> Json | None:
        """The contact POST /contacts would answer for this email, if any."""
        found = self._contacts_by_email.get(self.email_key(email))
        return copy.deepcopy(found) if found is not None else None

    # ---- REST hooks ----------------------------------------------------------------------
    def subscribe(self, target_url: str, event: str) -> str:
        """Add a REST-hook subscription and return its id (several per event may coexist)."""
        hook_id = self.new_id()
        self.hooks[hook_id] = {
            "id": hook_id,
            "target_url": target_url,
            "event": event,
            "created_at": iso_seconds(utcnow()),
        }
        return hook_id

    def unsubscribe(self, hook_id: str) -> None:
        """Remove a subscription; unknown ids are fine (DELETE /hooks/{id} is idempotent)."""
        self.hooks.pop(hook_id, None)

    def hook_list(self) -> list[Json]:
        """The current subscriptions (for the control API; no vendor endpoint lists them)."""
        return [dict(hook) for hook in self.hooks.values()]

    def sign(self, body: bytes) -> str:
        """The X-MeetMatch-Signature value for a raw body."""
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def fire(self, event: str, record: Json) -> None:
        """Deliver `event` to every subscription to it, in the background."""
        body = json.dumps({"event": event, "data": record}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-MeetMatch-Event": event,
            "X-MeetMatch-Signature": self.sign(body),
        }
        for hook in list(self.hooks.values()):
            if hook["event"] != event:
                continue
            hook_id = hook["id"]
            self.deliverer.send(
                event=event,
                target=hook["target_url"],
                body=body,
                headers=headers,
                subscription_id=hook_id,
                on_gone=functools.partial(self.unsubscribe, hook_id),
            )

    # ---- pipeline hooks ------------------------------------------------------------------
    def authenticate(self, request: Request, scope: str) -> tuple[str, Response | None]:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        scopes = self.api_keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            return "", self.error(401, "Missing, malformed, revoked or expired API key")
        if scope not in scopes:
            return key, self.error(403, f"This API key lacks the '{scope}' scope")
        return key.strip(), None

    def admit(self, key: str, *, bulk: bool) -> Response | None:
        if self.requests_per_minute is None:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity = self.burst if self.burst is not None else max(1.0, self.requests_per_minute)
            bucket = TokenBucket(self.requests_per_minute, capacity, self.clock)
            self._buckets[key] = bucket
        wait = bucket.try_take()
        return None if wait == 0.0 else self.throttled(wait)

    def error(self, status: int, message: str, field: str | None = None) -> Response:
        body: Json = {"error": _ERROR_CODES.get(status, "error"), "message": message}
        if field is not None:
            body["field"] = field
        return json_response(body, status)

    def throttled(self, wait: float) -> Response:
        return json_response(
            {"error": "rate_limited", "message": "Too many requests"},
            429,
            {"Retry-After": retry_after_seconds(wait)},
        )


def meetmatch_app(state: MeetMatchState) -> Starlette:
    """The MeetMatch REST API over `state`; mount it where the base URL should point."""
    return Starlette(routes=routes(state))
