"""Deterministic sandbox data: the awkward people a real pair of accounts holds.

`seed_demo` builds data that exercises every hard case of the sync: unicode names, name
particles and single names, titles and suffixes, contacts without email or with invalid email,
an ambiguous pair (one email, two meetergo contacts), the same person on both sides under
case- and whitespace-variant emails, and MeetMatch prospects that are older than the newest-100
window. `seed_bulk` builds plain, valid data fast for benchmarks. Seeding writes straight into
the states: it is not counted, not rate limited, and fires no webhooks.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .common import Json, is_valid_email, normalize_email

if TYPE_CHECKING:
    from .app import Sandbox

FIRST_NAMES = (
    "Anna", "Lukas", "Sofia", "Jonas", "Mia", "Leon", "Emma", "Finn", "Hannah", "Paul", "Lea",
    "Elias", "Clara", "Felix", "Zoë", "José", "Łukasz", "Søren", "Chloé", "Björn", "Mateo",
    "Aylin", "Mehmet", "Priya", "Wei", "Yuki", "Siobhán", "François", "Ingrid", "Dmitri",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
    "Ångström", "Núñez", "Żółć", "van der Berg", "von Bismarck", "de la Cruz", "O'Brien",
    "MacLeod", "Nguyen", "García", "Kowalski", "Öztürk", "Dubois", "Rossi", "Jensen", "Novák",
)  # fmt: skip
COMPANIES = ("Acme GmbH", "Globex AG", "Initech", "Umbrella Corp", "Nordwind KG", "Élan SARL")
JOB_TITLES = ("CEO", "Head of Sales", "Office Manager", "CTO", "Account Executive")
TAGS = ("Lead", "Customer", "Enterprise", "Newsletter", "Partner")
LEAD_SOURCES = ("Website", "Referral", "LinkedIn", "Event")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.de")

# The people every demo has, first in insertion order: (firstName, lastName, email, phone).
SPECIAL_MEETERGO: tuple[tuple[str | None, str | None, str | None, str | None], ...] = (
    ("Anna", "Müller", "anna.mueller@example.com", "+49 151 2345678"),
    ("Zoë", "Ångström", "zoe.angstrom@example.com", None),
    ("José", "Núñez", "jose.nunez@example.org", "+34 612 345 678"),
    ("Łukasz", "Żółć", "lukasz.zolc@example.net", None),
    ("Maria", "van der Berg", "maria.vanderberg@example.com", None),
    ("Ludwig", "van Beethoven", "ludwig@example.de", None),
    ("Cher", None, "cher@example.com", None),
    ("Sting", None, None, "+44 20 7946 0000"),
    ("Sam", "Taylor", "Sam.Taylor@example.com", None),
    ("Samantha", "Taylor", "sam.taylor@EXAMPLE.com", None),
    ("Invalid", "Email", "not-an-email", None),
    ("Jane", "Doe", "jane.doe@", None),
    ("Max", "Mustermann", "max mustermann@example.com", None),
)
AMBIGUOUS_EMAIL = "sam.taylor@example.com"

MEETERGO_EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
MEETMATCH_EPOCH = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)


def _seed_ids(sandbox: Sandbox, seed: int) -> None:
    """Repeatable ids too; the vendors get different sequences so no id occurs on both sides."""
    sandbox.meetmatch.seed_ids(seed * 2)
    sandbox.meetergo.seed_ids(seed * 2 + 1)


def _ascii(text: str) -> str:
    """A name as it would appear in an email address (Żółć -> zolc, van der Berg -> vanderberg)."""
    text = text.replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _phone(rng: random.Random) -> str:
    return f"+49 15{rng.randint(1, 9)} {rng.randint(1000000, 9999999)}"


def _meetergo_people(count: int, rng: random.Random) -> list[Json]:
    people: list[Json] = []
    for first, last, email, phone in SPECIAL_MEETERGO[:count]:
        people.append({"firstName": first, "lastName": last, "email": email, "phoneNumber": phone})
    for index in range(len(people), count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        person: Json = {"firstName": first, "lastName": last}
        if index % 15 == 0:  # phone only: no email to match by
            person["phoneNumber"] = _phone(rng)
        else:
            person["email"] = f"{_ascii(first)}.{_ascii(last)}{index}@{rng.choice(DOMAINS)}"
            if rng.random() < 0.5:
                person["phoneNumber"] = _phone(rng)
        people.append(person)
    for person in people:
        person["tags"] = rng.sample(TAGS, rng.randint(0, 2))
        person["language"] = rng.choice(("de", "en"))
        if rng.random() < 0.7:
            person["additionalData"] = {
                "company": rng.choice(COMPANIES),
                "jobTitle": rng.choice(JOB_TITLES),
            }
    return people


def _variant_email(email: str, index: int) -> str:
    """The same address as the other side holds it, differently cased or padded."""
    local, _, domain = email.partition("@")
    variants = (
        email.upper(),
        f"  {local.title()}@{domain.title()} ",
        f"{local}@{domain.upper()}",
        f" {email}",
        email,
    )
    return variants[index % len(variants)]


def _decorated_name(first: str | None, last: str | None, index: int) -> str:
    """A full name the way people type it: titles, suffixes, stray spaces."""
    name = " ".join(part for part in (first, last) if part)
    forms = (name, f"Dr. {name}", f"{name} Jr.", name.replace(" ", "  "), f" {name} ", name)
    return forms[index % len(forms)]


def seed_demo(
    sandbox: Sandbox, *, meetergo: int = 300, meetmatch: int = 120, overlap: int = 40, seed: int = 7
) -> dict[str, int]:
    """Fill both vendors with the demo data set; same arguments, same data (ids aside).

    Returns how many records of each kind were created.
    """
    rng = random.Random(seed)
    _seed_ids(sandbox, seed)
    people = _meetergo_people(meetergo, rng)
    for index, person in enumerate(people):
        sandbox.meetergo.create_contact(
            person, created_at=MEETERGO_EPOCH + timedelta(minutes=37 * index)
        )
    matchable = [
        p
        for p in people
        if is_valid_email(p.get("email")) and normalize_email(p["email"]) != AMBIGUOUS_EMAIL
    ]
    overlap = min(overlap, len(matchable), meetmatch)
    shared = rng.sample(matchable, overlap)
    positions = dict(zip(sorted(rng.sample(range(meetmatch), overlap)), shared, strict=True))
    stamp = MEETMATCH_EPOCH
    for index in range(meetmatch):
        # Every 25th contact shares its second with the one before: created_at ties happen.
        if index % 25 != 1:
            stamp = MEETMATCH_EPOCH + timedelta(minutes=17 * index)
        twin = positions.get(index)
        if twin is not None:
            full_name = _decorated_name(twin["firstName"], twin["lastName"], index)
            email = _variant_email(twin["email"], index)
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            full_name = _decorated_name(first, last, index)
            email = f"{_ascii(first)}.{_ascii(last)}.{index}@prospects.example.net"
        industry = rng.choice(("SaaS", "Retail", "Health", None))
        sandbox.meetmatch.add_contact(
            full_name,
            email,
            company=rng.choice((*COMPANIES, None)),
            phone=_phone(rng) if rng.random() < 0.5 else None,
            lead_source=rng.choice(LEAD_SOURCES),
            created_at=stamp,
            custom_fields={"industry": industry} if industry else None,
            notify=False,
        )
    counts = _seed_activity(sandbox, rng, meetmatch, stamp)
    return {"meetergo": meetergo, "meetmatch": meetmatch, "overlap": overlap, **counts}


def _seed_activity(
    sandbox: Sandbox, rng: random.Random, contacts: int, after: datetime
) -> dict[str, int]:
    """Appointments, deals, outcomes and form submissions about old and new contacts alike.

    Half the prospects are contacts older than the newest 100, so they can only be found
    through these records.
    """
    mm = sandbox.meetmatch
    everyone = mm.all_contacts()
    if not everyone:
        return {"appointments": 0, "deals": 0, "outcomes": 0, "form_submissions": 0}
    hidden, visible = everyone[: max(0, len(everyone) - 100)], everyone[-100:]
    counts = {
        "appointments": max(1, contacts // 4),
        "deals": contacts // 8,
        "outcomes": contacts // 10,
        "form_submissions": contacts // 5,
    }
    moment = after
    for kind, number in counts.items():
        for index in range(number):
            moment += timedelta(minutes=23)
            pool = hidden if hidden and index % 2 == 0 else visible
            prospect = rng.choice(pool)["id"]
            if kind == "appointments":
                status = rng.choice(("scheduled", "completed", "no_show", "cancelled"))
                mm.add_appointment(
                    prospect_id=prospect, status=status, created_at=moment, notify=False
                )
            elif kind == "deals":
                mm.add_deal(
                    prospect_id=prospect,
                    deal_value=rng.choice((0, 1500, 4999, 12000)),
                    status=rng.choice(("open", "won", "lost")),
                    created_at=moment,
                    notify=False,
                )
            elif kind == "outcomes":
                mm.add_outcome(
                    prospect_id=prospect, rating=rng.randint(1, 5), created_at=moment, notify=False
                )
            else:
                answers = {
                    "What is your budget?": rng.choice(("<$5k", "$5k-$10k", ">$10k")),
                    "What is your timeline?": rng.choice(("This quarter", "Next year")),
                }
                mm.add_form_submission(
                    prospect_id=prospect, answers=answers, created_at=moment, notify=False
                )
    return counts


def seed_bulk(
    sandbox: Sandbox,
    *,
    meetergo: int = 1000,
    meetmatch: int = 200,
    overlap: int = 50,
    seed: int = 7,
    one_import: bool = False,
) -> dict[str, int]:
    """Plain data fast (valid, unique emails; the first `overlap` people exist on both sides).

    `one_import`: every meetergo contact shares one createdAt, as after a CSV import (tied
    rows page in no stable order); otherwise each has its own second.
    """
    rng = random.Random(seed)
    _seed_ids(sandbox, seed)
    overlap = min(overlap, meetergo, meetmatch)
    for index in range(meetergo):
        sandbox.meetergo.create_contact(
            {
                "firstName": rng.choice(FIRST_NAMES),
                "lastName": rng.choice(LAST_NAMES),
                "email": f"person{index:06d}@bulk.example.com",
            },
            created_at=MEETERGO_EPOCH + timedelta(seconds=0 if one_import else index),
        )
    for index in range(meetmatch):
        email = (
            f"person{index:06d}@bulk.example.com"
            if index < overlap
            else f"prospect{index:06d}@bulk.example.net"
        )
        sandbox.meetmatch.add_contact(
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            email,
            created_at=MEETMATCH_EPOCH + timedelta(seconds=index),
            notify=False,
        )
    return {"meetergo": meetergo, "meetmatch": meetmatch, "overlap": overlap}
