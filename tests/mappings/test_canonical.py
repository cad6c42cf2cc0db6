from __future__ import annotations

from mappings import (
    CanonicalContact,
    EmailProblem,
    MappingOptions,
    from_meetergo,
    from_meetmatch,
    to_meetergo_create,
    to_meetmatch_create,
)
from mappings.records import MeetergoContact, MeetMatchContact, MeetMatchProspect

OPTIONS = MappingOptions(default_region="DE")


def _contact(**fields: object) -> CanonicalContact:
    values: dict[str, object] = {
        "email": "anna@example.com",
        "first_name": None,
        "last_name": None,
        "phone": None,
        "company": None,
        "lead_source": None,
        "tags": (),
        "custom": {},
    }
    values.update(fields)
    return CanonicalContact(**values)  # type: ignore[arg-type]


def test_from_meetmatch() -> None:
    record = MeetMatchContact(
        id="c1",
        full_name="Dr. Jan van der Berg",
        email=" Jan@Example.com ",
        company=" ACME ",
        phone="030 1234567",
        lead_source="webinar",
        custom_fields={"tags": ["VIP", "vip", "Lead"], "job": "CTO"},
    )
    assert from_meetmatch(record, OPTIONS) == CanonicalContact(
        email="jan@example.com",
        first_name="Dr. Jan",
        last_name="van der Berg",
        phone="+49301234567",
        company="ACME",
        lead_source="webinar",
        tags=("VIP", "Lead"),
        custom={"job": "CTO"},
    )


def test_from_meetmatch_reads_a_prospect_too() -> None:
    record = MeetMatchProspect(id="c1", source="deal", full_name="Zoë", email="zoe@example.com")
    contact = from_meetmatch(record, OPTIONS)
    assert isinstance(contact, CanonicalContact)
    assert (contact.first_name, contact.last_name) == ("Zoë", None)


def test_from_meetmatch_ignores_tags_that_are_not_a_list_of_strings() -> None:
    record = MeetMatchContact(id="c1", email="a@example.com", custom_fields={"tags": "VIP", "x": 1})
    contact = from_meetmatch(record, OPTIONS)
    assert isinstance(contact, CanonicalContact)
    assert (contact.tags, contact.custom) == ((), {"x": 1})


def test_a_full_name_that_is_the_email_is_no_name() -> None:
    # meetbridge writes the email as full_name for nameless people; it must not come back a name.
    record = MeetMatchContact(id="c1", full_name="Anna@Example.com", email="anna@example.com")
    contact = from_meetmatch(record, OPTIONS)
    assert isinstance(contact, CanonicalContact)
    assert contact.full_name is None


def test_email_problems_are_returned() -> None:
    assert from_meetmatch(MeetMatchContact(id="c1"), OPTIONS) == EmailProblem.NO_EMAIL
    nameless = MeetergoContact(id="m1", email="nope")
    assert from_meetergo(nameless, OPTIONS) == EmailProblem.INVALID_EMAIL


def test_from_meetergo() -> None:
    record = MeetergoContact(
        id="m1",
        firstName="Jan van der",
        lastName="Berg",
        email="JAN@example.com",
        phoneNumber="+49 30 1234567",
        tags=["Lead", "lead", "MeetMatch"],
        additionalData={"company": "ACME", "leadSource": "web", "job": "CTO", "tags": "x"},
    )
    assert from_meetergo(record, OPTIONS) == CanonicalContact(
        email="jan@example.com",
        first_name="Jan van der",  # held as meetergo has it, never re-split
        last_name="Berg",
        phone="+49301234567",
        company="ACME",
        lead_source="web",
        tags=("Lead", "MeetMatch"),
        custom={"job": "CTO"},  # "tags" would be MeetMatch's tags key: not a custom field
    )


def test_from_meetergo_ignores_a_company_that_is_not_text() -> None:
    record = MeetergoContact(id="m1", email="a@example.com", additionalData={"company": {"id": 1}})
    contact = from_meetergo(record, OPTIONS)
    assert isinstance(contact, CanonicalContact)
    assert (contact.company, contact.custom) == (None, {})


def test_to_meetmatch_create() -> None:
    contact = _contact(
        first_name="Jan", last_name="Berg", company="ACME", tags=("VIP",), custom={"job": "CTO"}
    )
    assert to_meetmatch_create(contact, OPTIONS).model_dump(exclude_unset=True) == {
        "full_name": "Jan Berg",
        "email": "anna@example.com",
        "company": "ACME",
        "lead_source": "meetergo",
        "custom_fields": {"job": "CTO", "tags": ["VIP"]},
    }


def test_to_meetmatch_create_falls_back_to_the_email_for_the_name() -> None:
    created = to_meetmatch_create(_contact(lead_source="web"), OPTIONS)
    assert (created.full_name, created.lead_source) == ("anna@example.com", "web")
    assert created.custom_fields == {}


def test_to_meetergo_create_sends_only_set_fields() -> None:
    assert to_meetergo_create(_contact(), OPTIONS).body() == {
        "email": "anna@example.com",
        "tags": ["MeetMatch"],
    }


def test_to_meetergo_create() -> None:
    contact = _contact(
        first_name="Jan",
        last_name="Berg",
        phone="+49301234567",
        company="ACME",
        lead_source="web",
        tags=("meetmatch", "VIP"),
        custom={"job": "CTO"},
    )
    assert to_meetergo_create(contact, OPTIONS).body() == {
        "firstName": "Jan",
        "lastName": "Berg",
        "email": "anna@example.com",
        "phoneNumber": "+49301234567",
        "tags": ["meetmatch", "VIP"],
        "additionalData": {"job": "CTO", "company": "ACME", "leadSource": "web"},
    }


def test_a_contact_survives_the_trip_through_meetergo() -> None:
    options = MappingOptions(meetergo_tags=(), field_renames={"job": "role"})
    contact = _contact(
        first_name="Jan",
        last_name="van der Berg",
        phone="+49301234567",
        company="ACME",
        lead_source="web",
        tags=("VIP",),
        custom={"job": "CTO", "nested": {"a": [1]}},
    )
    draft = to_meetergo_create(contact, options)
    stored = MeetergoContact.model_validate({"id": "m1", **draft.body()})
    assert from_meetergo(stored, options) == contact


def test_a_contact_survives_the_trip_through_meetmatch() -> None:
    contact = _contact(
        first_name="Jan",
        last_name="van der Berg",
        phone="+49301234567",
        company="ACME",
        lead_source="web",
        tags=("VIP",),
        custom={"job": "CTO"},
    )
    created = to_meetmatch_create(contact, OPTIONS)
    stored = MeetMatchContact.model_validate({"id": "c1", **created.model_dump()})
    assert from_meetmatch(stored, OPTIONS) == contact


def test_canonical_tags_are_deduplicated() -> None:
    assert _contact(tags=("VIP", "Lead", "vip")).tags == ("VIP", "Lead")


def test_the_address_is_written_as_given_and_matched_case_folded() -> None:
    options = MappingOptions()
    contact = from_meetergo(
        MeetergoContact.model_validate(
            {"id": "g", "firstName": "Jürgen", "email": "  Jürgen.Straße@Example.de "}
        ),
        options,
    )
    assert isinstance(contact, CanonicalContact)
    assert contact.email == "jürgen.strasse@example.de"  # the matching key
    assert to_meetmatch_create(contact, options).email == "Jürgen.Straße@Example.de"
    assert to_meetergo_create(contact, options).email == "Jürgen.Straße@Example.de"
