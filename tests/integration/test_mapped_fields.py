"""What the vendors hold after a backfill, field by field: the mapping seen from outside.

The mapping rules are unit-tested in tests/mappings/; here the same rules are checked on the
records the sandbox vendors ended up with, through the real clients, planner and applier, under
both conflict policies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import load_settings
from tests.conftest import config_dict
from tests.invariants import email_of

NESTED = {"size": 50, "regions": ["EU", "US"], "contract": {"signed": True, "tier": "gold"}}


@pytest.fixture(params=["fill_empty", "source_wins"])
def policy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def mapped(sandbox: Sandbox, tmp_path: Path, policy: str) -> AsyncIterator[Runtime]:
    data = config_dict(f"sqlite:///{tmp_path / 'state.db'}")
    data["sync"] = {
        "conflict": policy,
        "meetergo_tags": ["MeetMatch", "Synced"],
        "lead_source": "meetergo import",
        "field_renames": {"job": "role"},
        "default_phone_region": "DE",
    }
    settings = load_settings(None, data)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        yield rt


def _seed(sandbox: Sandbox) -> dict[str, str]:
    """Both sides' people; returns the meetergo ids of those meetergo holds before the sync."""
    mm, mg = sandbox.meetmatch, sandbox.meetergo
    # Only in MeetMatch.
    mm.add_contact(
        "Ludwig van der Berg",
        "Ludwig.vdBerg@Example.com",
        company="Acme GmbH",
        phone="0151 2345678",
        lead_source="Website",
        custom_fields={"job": "CTO", "profile": NESTED, "tags": ["Lead"]},
        notify=False,
    )
    mm.add_contact("Zoë Ångström-Núñez", "zoe@example.com", phone="+33 6 12 34 56 78", notify=False)
    # On both sides, with different values.
    mm.add_contact(
        "Anna Schmidt-Weber",
        "Anna.Schmidt@Example.com",
        company="New Co",
        phone="040 7654321",
        custom_fields={"tags": ["Lead", "customer"], "industry": "Retail", "job": "VP"},
        notify=False,
    )
    anna = mg.user_create_contact(
        firstName="Anna",
        lastName="Schmidt",
        email="anna.schmidt@example.com",
        phoneNumber="+49 30 1234567",
        tags=["Customer"],
        additionalData={"company": "Old Co", "role": "CTO", "jobTitle": "Head of IT"},
    )
    mm.add_contact("Bo Li", "bo@example.com", phone="+49 151 9876543", notify=False)
    bo = mg.user_create_contact(firstName="Bo", lastName="Li", email="bo@example.com")
    # Only in meetergo.
    mg.user_create_contact(
        firstName="José",
        lastName="Núñez",
        email="jose@example.org",
        phoneNumber="+34 612 345 678",
        tags=["VIP"],
        additionalData={"company": "Globex", "leadSource": "Event", "role": "CEO", "x": NESTED},
    )
    mg.user_create_contact(firstName="Cher", email="cher@example.com")
    return {"anna": anna["id"], "bo": bo["id"]}


def _by_email(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        email = email_of(record)
        assert email is not None and email not in found, record
        found[email] = record
    return found


async def test_vendor_records_hold_the_mapped_fields(
    sandbox: Sandbox, mapped: Runtime, policy: str
) -> None:
    ids = _seed(sandbox)

    report = await commands.backfill(mapped)

    assert report.summary.failed == 0
    mg = _by_email(sandbox.meetergo.all_contacts())
    mm = _by_email(sandbox.meetmatch.all_contacts())
    assert (
        set(mg)
        == set(mm)
        == {
            "ludwig.vdberg@example.com",
            "zoe@example.com",
            "anna.schmidt@example.com",
            "bo@example.com",
            "jose@example.org",
            "cher@example.com",
        }
    )

    # MeetMatch -> meetergo creates: the name split once (particles stay in the last name),
    # E.164 phones, custom fields under the configured names with nested values whole,
    # company and lead source in additionalData, the configured tags after the person's own.
    ludwig = mg["ludwig.vdberg@example.com"]
    assert (ludwig["firstName"], ludwig["lastName"]) == ("Ludwig", "van der Berg")
    assert ludwig["email"] == "Ludwig.vdBerg@Example.com"  # written as the source spelled it
    assert ludwig["phoneNumber"] == "+491512345678"
    assert ludwig["additionalData"] == {
        "role": "CTO",
        "profile": NESTED,
        "company": "Acme GmbH",
        "leadSource": "Website",
    }
    assert ludwig["tags"] == ["Lead", "MeetMatch", "Synced"]
    zoe = mg["zoe@example.com"]
    assert (zoe["firstName"], zoe["lastName"]) == ("Zoë", "Ångström-Núñez")
    assert zoe["phoneNumber"] == "+33612345678"
    assert zoe["tags"] == ["MeetMatch", "Synced"]
    assert zoe["additionalData"] == {}

    # meetergo -> MeetMatch creates: the parts joined, additionalData back under MeetMatch's
    # names, tags in custom_fields, the configured lead source where meetergo has none.
    jose = mm["jose@example.org"]
    assert jose["full_name"] == "José Núñez"
    assert jose["company"] == "Globex"
    assert jose["lead_source"] == "Event"
    assert jose["phone"] == "+34612345678"
    assert jose["custom_fields"] == {"job": "CEO", "x": NESTED, "tags": ["VIP"]}
    cher = mm["cher@example.com"]
    assert (cher["full_name"], cher["lead_source"]) == ("Cher", "meetergo import")
    assert cher["company"] is None

    # The people both sides held: MeetMatch is never changed (it cannot be), meetergo is
    # patched as the policy allows, and tags are merged, never replaced or removed.
    assert mm["anna.schmidt@example.com"]["full_name"] == "Anna Schmidt-Weber"
    anna = sandbox.meetergo.get_contact(ids["anna"])
    assert anna is not None
    assert anna["tags"] == ["Customer", "Lead"]  # "customer" is the same tag, case aside
    if policy == "fill_empty":
        assert (anna["firstName"], anna["lastName"]) == ("Anna", "Schmidt")
        assert anna["phoneNumber"] == "+49 30 1234567"
        assert anna["additionalData"] == {
            "company": "Old Co",
            "role": "CTO",
            "jobTitle": "Head of IT",
            "industry": "Retail",
        }
    else:
        assert (anna["firstName"], anna["lastName"]) == ("Anna", "Schmidt-Weber")
        assert anna["phoneNumber"] == "+49407654321"
        assert anna["additionalData"] == {
            "company": "New Co",
            "role": "VP",
            "jobTitle": "Head of IT",  # a key only meetergo has is kept
            "industry": "Retail",
        }
    # An empty field is filled under either policy; held name parts are never re-split.
    bo = sandbox.meetergo.get_contact(ids["bo"])
    assert bo is not None
    assert (bo["firstName"], bo["lastName"], bo["phoneNumber"]) == ("Bo", "Li", "+491519876543")
    assert bo["tags"] == []

    # Settled: a second backfill finds nothing to write.
    sandbox.reset_counters()
    await commands.backfill(mapped)
    assert sandbox.stats()["meetergo"]["writes"] == 0
    assert sandbox.stats()["meetmatch"]["writes"] == 0
