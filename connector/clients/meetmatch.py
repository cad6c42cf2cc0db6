"""MeetMatch REST client: the endpoints meetbridge needs, typed in and out.

Quirks it absorbs: list endpoints show only the newest `limit` (at most 100) records and their
shape is a bare array or an array wrapped in `data`/`results`/`items`; contacts can be created but
never changed, and creating an existing email answers 200 with the record that already exists.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connector.clients.budget import RateBudget
from connector.clients.retry import RetryPolicy
from connector.clients.transport import RequestCounter, VendorHttp
from connector.errors import AuthError, FatalError, MeetbridgeError
from connector.settings import MeetMatchSettings
from mappings.records import (
    MeetMatchAppointment,
    MeetMatchContact,
    MeetMatchDeal,
    MeetMatchFormSubmission,
    MeetMatchOrganization,
    NewMeetMatchContact,
)

VENDOR = "MeetMatch"
log = logging.getLogger(__name__)
MAX_LIMIT = 100
R = TypeVar("R", bound=BaseModel)


def _auth_check(status: int, message: str) -> MeetbridgeError | None:
    if status == 401:
        return AuthError(
            VENDOR,
            "meetmatch.api_key",
            f"the key is missing, malformed, revoked or expired ({message})",
            "create a key under Settings → Zapier & API Keys and set meetmatch.api_key "
            "(or MEETBRIDGE_MEETMATCH__API_KEY)",
        )
    if status == 403:
        return AuthError(
            VENDOR,
            "meetmatch.api_key",
            f"the key lacks a scope this call needs ({message})",
            "give the key both the read and the write scope",
        )
    return None


def unwrap_list(body: Any) -> list[Any]:
    """A list answer is a bare array; accept one wrapped in data/results/items as well."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("data", "results", "items"):
            if isinstance(body.get(key), list):
                return list(body[key])
    raise FatalError(VENDOR, f"expected a list of records, got {type(body).__name__}")


class MeetMatchClient:
    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: MeetMatchSettings,
        retry: RetryPolicy | None = None,
        counter: RequestCounter | None = None,
    ) -> None:
        self.http = VendorHttp(
            VENDOR,
            client,
            settings.base_url,
            {
                "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                "Accept": "application/json",
            },
            RateBudget(settings.requests_per_minute, settings.burst),
            retry or RetryPolicy(),
            _auth_check,
            counter,
            settings.timeout_seconds,
        )

    async def auth(self) -> MeetMatchOrganization:
        body = await self.http.request("GET", "/auth")
        if isinstance(body, dict):
            inner = body.get("organization")
            return MeetMatchOrganization.model_validate(inner if isinstance(inner, dict) else body)
        return MeetMatchOrganization()

    async def _list(self, path: str, model: type[R], limit: int) -> list[R]:
        limit = max(1, min(MAX_LIMIT, limit))
        rows = unwrap_list(await self.http.request("GET", path, params=[("limit", limit)]))
        records = []
        for row in rows:
            try:
                records.append(model.model_validate(row))
            except ValidationError as exc:
                # One malformed record must not hide the others: it is left out, loudly.
                ref = row.get("id") if isinstance(row, dict) else None
                log.warning("%s: record %s left out, malformed: %s", path, ref, exc.errors()[:1])
        return records

    async def list_contacts(self, limit: int = MAX_LIMIT) -> list[MeetMatchContact]:
        return await self._list("/contacts", MeetMatchContact, limit)

    async def list_appointments(self, limit: int = MAX_LIMIT) -> list[MeetMatchAppointment]:
        return await self._list("/appointments", MeetMatchAppointment, limit)

    async def list_deals(self, limit: int = MAX_LIMIT) -> list[MeetMatchDeal]:
        return await self._list("/deals", MeetMatchDeal, limit)

    async def list_form_submissions(self, limit: int = MAX_LIMIT) -> list[MeetMatchFormSubmission]:
        return await self._list("/form-submissions", MeetMatchFormSubmission, limit)

    async def create_contact(self, new: NewMeetMatchContact) -> tuple[MeetMatchContact, bool]:
        """Create a contact; returns it and whether it is new (False: the email existed).

        Safe to repeat: MeetMatch answers an existing email with the existing record, so a retry
        after a lost answer cannot make a second contact.
        """
        status, body = await self.http.request_with_status(
            "POST", "/contacts", body=new.model_dump(mode="json", exclude_none=True)
        )
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]
        try:
            contact = MeetMatchContact.model_validate(body)
        except ValidationError as exc:
            raise FatalError(VENDOR, f"POST /contacts: unexpected answer: {exc}") from exc
        return contact, status == 201

    async def subscribe_hook(self, target_url: str, event: str) -> str:
        body = await self.http.request(
            "POST", "/hooks", body={"target_url": target_url, "event": event}
        )
        if not isinstance(body, dict) or "id" not in body:
            raise FatalError(VENDOR, "POST /hooks: answer has no subscription id")
        return str(body["id"])

    async def unsubscribe_hook(self, hook_id: str) -> None:
        await self.http.request("DELETE", f"/hooks/{hook_id}")
