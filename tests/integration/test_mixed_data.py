"""Randomized mixes of awkward data and faults: the invariants hold whatever the mix.

Each seed builds both sides from a small pool of people, so the same person turns up on both
sides, twice on one side, in other letter case or with spaces, without an email, with a broken
one, only as an appointment prospect. A first backfill runs under random faults, a second one
clean; then everyone must be in place exactly once and a third backfill must write nothing.
"""

from __future__ import annotations

import random

import pytest

from connector import commands
from connector.runtime import Runtime
from connector.sandbox.app import Sandbox
from tests.invariants import (
    assert_no_duplicates,
    assert_nothing_lost,
    duplicate_emails,
    visible_meetmatch_ids,
)

FIRST = ["Anna", "Jan", "Zoë", "José", "Łukasz", "Mary-Jane", "Wei", "Ritin"]
LAST = ["Müller", "van der Berg", "Núñez", "Sahni", "O'Neil", "Li", "", "Ångström"]


def _variant(rng: random.Random, email: str) -> str:
    if rng.random() < 0.3:
        email = email.upper() if rng.random() < 0.5 else email.title()
    if rng.random() < 0.2:
        email = f"  {email} "
    return email


def _build(sandbox: Sandbox, seed: int) -> None:
    rng = random.Random(seed)
    pool = [f"person{n}@example.com" for n in range(60)]
    for _ in range(70):
        roll = rng.random()
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if roll < 0.08:
            sandbox.meetergo.user_create_contact(firstName=first, phoneNumber="+4915112345678")
        elif roll < 0.12:
            sandbox.meetergo.user_create_contact(firstName=first, email="not-an-email")
        else:
            sandbox.meetergo.user_create_contact(
                firstName=first,
                lastName=last or None,
                email=_variant(rng, rng.choice(pool)),
                tags=rng.sample(["Lead", "VIP", "Customer"], k=rng.randint(0, 2)),
                additionalData={"jobTitle": "CTO"} if rng.random() < 0.3 else {},
            )
    for _ in range(40):
        email = _variant(rng, rng.choice(pool))
        if rng.random() < 0.7:
            sandbox.meetmatch.add_contact(
                f"{rng.choice(['', 'Dr. '])}{rng.choice(FIRST)} {rng.choice(LAST)}".strip(),
                email,
                company=rng.choice([None, "Acme", "Élan SARL"]),
                custom_fields={"industry": "SaaS"} if rng.random() < 0.5 else {},
                notify=False,
            )
        else:
            sandbox.meetmatch.add_appointment(
                prospect_email=email,
                prospect_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}".strip(),
                notify=False,
            )


@pytest.mark.parametrize("seed", range(5))
async def test_invariants_hold_for_any_mix(sandbox: Sandbox, runtime: Runtime, seed: int) -> None:
    _build(sandbox, seed)
    preexisting = set(duplicate_emails(sandbox.meetergo.all_contacts()))
    mm_preexisting = set(duplicate_emails(sandbox.meetmatch.all_contacts()))
    visible = visible_meetmatch_ids(sandbox)
    for state in (sandbox.meetergo, sandbox.meetmatch):
        state.faults.update({"error_rate": 0.15, "drop_after_write_rate": 0.15, "seed": seed})

    await commands.backfill(runtime)
    for state in (sandbox.meetergo, sandbox.meetmatch):
        state.faults.update({"error_rate": 0.0, "drop_after_write_rate": 0.0})
    second = await commands.backfill(runtime)

    assert second.summary.failed == 0
    await assert_no_duplicates(sandbox, runtime, preexisting, mm_preexisting)
    await assert_nothing_lost(sandbox, runtime, visible)
    sandbox.reset_counters()
    await commands.backfill(runtime)
    assert sandbox.stats()["meetergo"]["writes"] == 0
    assert sandbox.stats()["meetmatch"]["writes"] == 0
