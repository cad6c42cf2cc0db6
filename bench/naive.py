"""The baseline: the same data set through two one-way automations, the way two Zaps sync.

Automation A, "new meetergo contact → MeetMatch": for each meetergo contact, look in MeetMatch
(its only lookup is the newest-100 list) and create the person there when not seen.
Automation B, "new MeetMatch contact → meetergo": for each MeetMatch contact, including the
ones A just created (the loop two one-way syncs make), search meetergo by email and create the
person there when not found. Each trigger reads its source's new records a page at a time.

It runs for real against the sandbox, so the requests counted and the duplicates left are what
the vendors would see; meetbridge's backfill of the same data set is compared with it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from bench.backfill import MEETMATCH_PEOPLE, OVERLAP
from bench.harness import start_sandbox

MEETMATCH_HEADERS = {"Authorization": "Bearer mm_live_sandbox"}
MEETERGO_HEADERS = {"Authorization": "Bearer mg_sandbox"}
NEWEST = {"limit": 100}


@dataclass
class NaiveFigures:
    """What the naive path spent, by vendor, and what it left behind."""

    meetergo_contacts: int
    requests_meetmatch: int
    requests_meetergo: int
    meetergo_duplicates: int

    @property
    def requests(self) -> int:
        return self.requests_meetmatch + self.requests_meetergo

    def floor_seconds(self, meetmatch_rpm: float, meetergo_rpm: float) -> float:
        """The time the budgets impose; the two automations run side by side."""
        return 60 * max(
            self.requests_meetmatch / meetmatch_rpm, self.requests_meetergo / meetergo_rpm
        )


async def _meetergo_pages(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = (
            await client.get(
                "/meetergo/crm",
                params={"page": page, "limit": 100, "sortBy": "createdAt", "sortOrder": "ASC"},
                headers=MEETERGO_HEADERS,
            )
        ).json()
        contacts += [row["item"] for row in answer["result"]]
        if page >= answer["totalPages"]:
            return contacts
        page += 1


async def _automation_a(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """meetergo → MeetMatch; returns the MeetMatch contacts it created (B's next triggers)."""
    created: list[dict[str, Any]] = []
    for contact in await _meetergo_pages(client):
        email = contact.get("email")
        if not email:
            continue
        newest = (
            await client.get(
                "/meetmatch/contacts", params={"limit": 100}, headers=MEETMATCH_HEADERS
            )
        ).json()
        if any(p.get("email") == email for p in newest):
            continue
        name = " ".join(filter(None, (contact.get("firstName"), contact.get("lastName"))))
        answer = await client.post(
            "/meetmatch/contacts",
            json={"full_name": name or email, "email": email},
            headers=MEETMATCH_HEADERS,
        )
        if answer.status_code == 201:
            created.append(answer.json())
    return created


async def _automation_b(client: httpx.AsyncClient, people: list[dict[str, Any]]) -> None:
    """MeetMatch → meetergo, for every MeetMatch contact it is triggered with."""
    for person in people:
        found = (
            await client.get(
                "/meetergo/crm",
                params={"searchTerm": person["email"], "limit": 100},
                headers=MEETERGO_HEADERS,
            )
        ).json()
        if any(row["item"].get("email") == person["email"] for row in found["result"]):
            continue
        first, _, last = str(person.get("full_name") or "").partition(" ")
        await client.post(
            "/meetergo/crm",
            json={"firstName": first, "lastName": last, "email": person["email"]},
            headers=MEETERGO_HEADERS,
        )


async def _run(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        # B's trigger on MeetMatch sees the people already there (a page of its newest) ...
        existing = (
            await client.get(
                "/meetmatch/contacts", params={"limit": 100}, headers=MEETMATCH_HEADERS
            )
        ).json()
        await _automation_b(client, existing)
        # ... then fires again for every person A creates: the loop.
        await _automation_b(client, await _automation_a(client))


def measure_naive(meetergo: int) -> NaiveFigures:
    """Run both automations on the backfill's data set; count requests and duplicates."""
    sandbox = start_sandbox(meetergo=meetergo, meetmatch=MEETMATCH_PEOPLE, overlap=OVERLAP)
    try:
        asyncio.run(_run(sandbox.url))
        stats = sandbox.stats()
        contacts = sandbox.get("/_sandbox/meetergo/contacts")
    finally:
        sandbox.stop()
    rows = contacts["contacts"] if isinstance(contacts, dict) else contacts
    emails = [str(c.get("email", "")).casefold() for c in rows]
    return NaiveFigures(
        meetergo_contacts=meetergo,
        requests_meetmatch=stats["meetmatch"]["requests"],
        requests_meetergo=stats["meetergo"]["requests"],
        meetergo_duplicates=len(emails) - len(set(emails)),
    )
