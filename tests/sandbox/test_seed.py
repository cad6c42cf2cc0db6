"""Seeding: deterministic, awkward on purpose, invisible to counters."""

from __future__ import annotations

import httpx

from connector.sandbox import Sandbox, seed_bulk, seed_demo
from connector.sandbox.common import normalize_email

from .conftest import MM


def _without_ids(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "id" and not k.endswith("_id")} for r in records]


def test_seed_demo_is_deterministic() -> None:
    first, second = Sandbox(), Sandbox()
    assert seed_demo(first) == seed_demo(second)
    assert first.meetergo.all_contacts() == second.meetergo.all_contacts()
    for kind in ("contacts", "appointments", "deals", "outcomes", "form-submissions"):
        assert first.meetmatch.all_records(kind) == second.meetmatch.all_records(kind)
    mg_ids = {c["id"] for c in first.meetergo.all_contacts()}
    assert not mg_ids & {c["id"] for c in first.meetmatch.all_contacts()}
    other = Sandbox()
    seed_demo(other, seed=8)
    assert _without_ids(other.meetmatch.all_contacts()) != _without_ids(
        first.meetmatch.all_contacts()
    )


def test_seed_demo_holds_the_hard_cases() -> None:
    sandbox = Sandbox()
    summary = seed_demo(sandbox)
    mg = sandbox.meetergo.all_contacts()
    mm = sandbox.meetmatch.all_contacts()
    assert len(mg) == 300 and len(mm) == 120 and summary["overlap"] == 40
    names = {(c["firstName"], c["lastName"]) for c in mg}
    for name in [("Zoë", "Ångström"), ("José", "Núñez"), ("Łukasz", "Żółć"), ("Cher", None)]:
        assert name in names
    assert any(c["lastName"] and c["lastName"].startswith("van der ") for c in mg)
    assert any(c["email"] is None and c["phoneNumber"] for c in mg)
    assert any(c["email"] == "not-an-email" for c in mg)
    assert any(c["tags"] for c in mg) and any(c["additionalData"].get("jobTitle") for c in mg)
    by_email: dict[str, list[str]] = {}
    for c in mg:
        if c["email"]:
            by_email.setdefault(normalize_email(c["email"]), []).append(c["email"])
    ambiguous = [raw for raw in by_email.values() if len(raw) > 1]
    assert len(ambiguous) == 1 and len(set(ambiguous[0])) == 2  # one email, two spellings

    shared = [c for c in mm if normalize_email(c["email"]) in by_email]
    assert len(shared) == 40
    assert any(c["email"] != c["email"].strip() for c in shared)
    assert any(c["email"] != c["email"].lower() for c in shared)
    full_names = [c["full_name"] for c in mm]
    assert any(n.startswith("Dr. ") for n in full_names)
    assert any(n.endswith(" Jr.") for n in full_names)
    assert any("  " in n for n in full_names)
    assert any(c["custom_fields"] for c in mm)
    assert summary["appointments"] > 0 and summary["deals"] > 0
    assert summary["form_submissions"] > 0 and summary["outcomes"] > 0


async def test_some_prospects_are_outside_the_newest_100() -> None:
    sandbox = Sandbox()
    seed_demo(sandbox)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        visible = {
            c["id"] for c in (await client.get("/meetmatch/contacts?limit=100", headers=MM)).json()
        }
        appointments = (await client.get("/meetmatch/appointments?limit=100", headers=MM)).json()
    prospects = {a["prospect_id"] for a in appointments}
    all_ids = {c["id"] for c in sandbox.meetmatch.all_contacts()}
    assert prospects <= all_ids
    assert prospects - visible  # people only reachable through their appointments
    assert prospects & visible
    assert sandbox.stats()["meetmatch"]["requests"] == 2  # seeding itself was not counted


def test_seed_bulk_is_plain_and_fast() -> None:
    sandbox = Sandbox()
    assert seed_bulk(sandbox, meetergo=2000, meetmatch=500, overlap=100) == {
        "meetergo": 2000,
        "meetmatch": 500,
        "overlap": 100,
    }
    mg_emails = {c["email"] for c in sandbox.meetergo.all_contacts()}
    mm_emails = [c["email"] for c in sandbox.meetmatch.all_contacts()]
    assert len(mg_emails) == 2000 and len(set(mm_emails)) == 500
    assert len(mg_emails & set(mm_emails)) == 100
    assert sandbox.meetergo.counters.requests == 0
    assert len({c["createdAt"] for c in sandbox.meetergo.all_contacts()}) == 2000


def test_seed_bulk_as_one_import_shares_one_created_at() -> None:
    sandbox = Sandbox()
    seed_bulk(sandbox, meetergo=300, meetmatch=0, overlap=0, one_import=True)
    assert len({c["createdAt"] for c in sandbox.meetergo.all_contacts()}) == 1
    assert len({c["email"] for c in sandbox.meetergo.all_contacts()}) == 300
