"""meetergo CRM client: the endpoints meetbridge needs, typed in and out.

Quirks it absorbs: every `/crm` row wraps the contact in `item`; list filters repeat their key;
the bulk endpoint has its own budget of 3 calls a minute on top of the general one and answers
nothing we can link by; creates are not deduplicated by the server, so a create whose answer was
lost raises `UncertainWriteError` instead of being retried (the caller looks first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx
from pydantic import ValidationError

from connector.clients.budget import RateBudget
from connector.clients.retry import RetryPolicy
from connector.clients.transport import RequestCounter, VendorHttp
from connector.errors import AuthError, FatalError, MeetbridgeError
from connector.settings import MeetergoSettings
from mappings.emails import normalize_email
from mappings.records import MeetergoContact, MeetergoDraft, MeetergoPage, MeetergoWebhook

VENDOR = "meetergo"
log = logging.getLogger(__name__)
PAGE_LIMIT = 100  # meetergo's maximum page size
# Pages of a walk requested before the caller asks for them.
READ_AHEAD = 4
BULK_LIMIT = 1000  # contacts per bulk call


def _auth_check(status: int, message: str) -> MeetbridgeError | None:
    if status == 400 and "x-meetergo-api-user-id" in message.lower():
        return AuthError(
            VENDOR,
            "meetergo.api_user_id",
            message,
            "platform keys (ak_live:…) need meetergo.api_user_id set to the user to act as; "
            "personal access tokens need it empty",
        )
    if status in (401, 403):
        return AuthError(
            VENDOR,
            "meetergo.api_key",
            f"HTTP {status} ({message})",
            "create an API key in meetergo and set meetergo.api_key "
            "(or MEETBRIDGE_MEETERGO__API_KEY)",
        )
    return None


def _contact(row: Any, where: str) -> MeetergoContact:
    """Parse one contact, unwrapping meetergo's `item` envelope when present."""
    if isinstance(row, dict) and isinstance(row.get("item"), dict):
        row = row["item"]
    try:
        return MeetergoContact.model_validate(row)
    except ValidationError as exc:
        raise FatalError(VENDOR, f"{where}: malformed contact: {exc.errors()[:1]}") from exc


class MeetergoClient:
    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: MeetergoSettings,
        retry: RetryPolicy | None = None,
        counter: RequestCounter | None = None,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
            "Accept": "application/json",
        }
        if settings.api_user_id:
            headers["x-meetergo-api-user-id"] = settings.api_user_id
        self.http = VendorHttp(
            VENDOR,
            client,
            settings.base_url,
            headers,
            RateBudget(settings.requests_per_minute, settings.burst),
            retry or RetryPolicy(),
            _auth_check,
            counter,
            settings.timeout_seconds,
        )
        # Bulk calls have a budget of their own (3/min) and also spend the general one.
        self.bulk_budget = RateBudget(settings.bulk_per_minute, 1)

    async def list_page(
        self,
        page: int = 1,
        limit: int = PAGE_LIMIT,
        *,
        sort_by: str = "createdAt",
        sort_order: str = "ASC",
        search_term: str | None = None,
        tags: Sequence[str] = (),
    ) -> MeetergoPage:
        params: list[tuple[str, str | int]] = [
            ("page", page),
            ("limit", limit),
            ("sortBy", sort_by),
            ("sortOrder", sort_order),
        ]
        if search_term:
            params.append(("searchTerm", search_term))
        params.extend(("tags", tag) for tag in tags)
        body = await self.http.request("GET", "/crm", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("result"), list):
            raise FatalError(VENDOR, "GET /crm: answer has no result list")
        contacts = []
        for row in body["result"]:
            try:
                contacts.append(_contact(row, "GET /crm"))
            except FatalError as exc:
                # One malformed row must not hide the page: it is left out, loudly.
                log.warning("%s", exc)
        return MeetergoPage(
            contacts=contacts,
            page=int(body.get("page", page)),
            limit=int(body.get("limit", limit)),
            total=int(body.get("total", 0)),
            total_pages=int(body.get("totalPages", 0)),
        )

    async def iter_pages(
        self,
        *,
        sort_by: str = "createdAt",
        sort_order: str = "ASC",
        limit: int = PAGE_LIMIT,
        ahead: int = READ_AHEAD,
    ) -> AsyncGenerator[MeetergoPage, None]:
        """Every page in order, oldest contacts first by default.

        Oldest first means contacts created during the walk land on the last page instead of
        shifting the pages not yet read. Rows that tie on the sort key have no stable order
        between requests, so pages may overlap and miss rows: the caller dedupes by id and
        checks the count against `total`.

        Once the first page tells how many there are, up to `ahead` later pages are requested
        while the caller works: a page's round trip then hides behind the budget's pace
        instead of adding to it (the budget still paces every request).
        """
        first = await self.list_page(1, limit, sort_by=sort_by, sort_order=sort_order)
        yield first
        if not first.contacts or first.total_pages <= 1:
            return
        last_page = first.total_pages
        pending: dict[int, asyncio.Task[MeetergoPage]] = {}
        following = 2
        try:
            page = 2
            while page <= last_page:
                while following <= last_page and len(pending) < max(1, ahead):
                    pending[following] = asyncio.ensure_future(
                        self.list_page(following, limit, sort_by=sort_by, sort_order=sort_order)
                    )
                    following += 1
                current = await pending.pop(page)
                yield current
                if not current.contacts:
                    return
                # Contacts created during the walk may add pages at the end.
                last_page = max(last_page, current.total_pages)
                page += 1
        finally:
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)

    async def find_by_email(self, email: str) -> list[MeetergoContact]:
        """Contacts whose normalized email equals `email` (a search, then an exact filter)."""
        found: list[MeetergoContact] = []
        page = 1
        while True:
            current = await self.list_page(page, PAGE_LIMIT, search_term=email)
            found.extend(c for c in current.contacts if normalize_email(c.email) == email)
            if page >= current.total_pages or not current.contacts:
                return found
            page += 1

    async def create(self, draft: MeetergoDraft) -> MeetergoContact:
        body = await self.http.request("POST", "/crm", body=draft.body(), idempotent=False)
        return _contact(body, "POST /crm")

    async def bulk_create(self, drafts: Sequence[MeetergoDraft]) -> None:
        """Create up to 1000 contacts in one call; the answer carries no ids (re-read to link)."""
        if not 1 <= len(drafts) <= BULK_LIMIT:
            raise ValueError(f"a bulk call takes 1 to {BULK_LIMIT} contacts")
        await self.http.request(
            "POST",
            "/crm/bulk",
            body={"contacts": [d.body() for d in drafts]},
            idempotent=False,
            extra_budgets=(self.bulk_budget,),
        )

    async def update(self, contact_id: str, draft: MeetergoDraft) -> MeetergoContact:
        # A PATCH with whole values is safe to repeat.
        body = await self.http.request("PATCH", f"/crm/{contact_id}", body=draft.body())
        return _contact(body, "PATCH /crm")

    async def delete(self, contact_id: str) -> None:
        await self.http.request("DELETE", f"/crm/{contact_id}")

    async def details(
        self, *, contact_id: str | None = None, attendee_id: str | None = None
    ) -> MeetergoContact:
        if contact_id:
            params: list[tuple[str, str | int]] = [("contactId", contact_id)]
        elif attendee_id:
            params = [("attendeeId", attendee_id)]
        else:
            raise ValueError("name a contact id or an attendee id")
        return _contact(await self.http.request("GET", "/crm/details", params=params), "details")

    async def list_webhooks(self) -> list[MeetergoWebhook]:
        body = await self.http.request("GET", "/webhooks")
        rows = body if isinstance(body, list) else (body or {}).get("result", [])
        return [MeetergoWebhook.model_validate(row) for row in rows]

    async def create_webhook(self, endpoint: str, event_types: Sequence[str]) -> MeetergoWebhook:
        body = await self.http.request(
            "POST",
            "/webhooks",
            body={
                "endpoint": endpoint,
                "description": "meetbridge",
                "eventTypes": list(event_types),
            },
            idempotent=False,
        )
        return MeetergoWebhook.model_validate(body)

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.http.request("DELETE", f"/webhooks/{webhook_id}")
