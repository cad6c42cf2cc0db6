from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from mappings import (
    merge_prospects,
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_deal,
    prospect_from_form,
)
from mappings.records import (
    MeetMatchAppointment,
    MeetMatchContact,
    MeetMatchDeal,
    MeetMatchFormSubmission,
    MeetMatchProspect,
)

EARLY = datetime(2024, 1, 1, tzinfo=UTC)
LATE = datetime(2024, 6, 1, tzinfo=UTC)


def test_prospect_from_contact() -> None:
    contact = MeetMatchContact(
        id="c1", full_name="Jan Berg", email="j@x.io", custom_fields={"a": 1}, created_at=EARLY
    )
    prospect = prospect_from_contact(contact)
    assert prospect.source == "contact"
    assert prospect.model_dump(exclude={"source"}) == contact.model_dump()


def test_prospect_from_appointment() -> None:
    appointment = MeetMatchAppointment(
        id="a1",
        prospect_id="c1",
        prospect_name="Jan Berg",
        prospect_email="j@x.io",
        prospect_company="ACME",
        created_at=LATE,
    )
    assert prospect_from_appointment(appointment) == MeetMatchProspect(
        id="c1",
        source="appointment",
        full_name="Jan Berg",
        email="j@x.io",
        company="ACME",
        created_at=LATE,
    )


def test_sightings_without_a_prospect_id_are_none() -> None:
    assert prospect_from_appointment(MeetMatchAppointment(id="a1", prospect_email="j@x.io")) is None
    assert prospect_from_deal(MeetMatchDeal(id="d1", prospect_id=" ")) is None
    assert prospect_from_form(MeetMatchFormSubmission(id="f1")) is None


def test_prospect_from_deal() -> None:
    deal = MeetMatchDeal(id="d1", prospect_id="c1", prospect_name="Jan", prospect_email="j@x.io")
    prospect = prospect_from_deal(deal)
    assert prospect is not None
    assert (prospect.id, prospect.source, prospect.full_name) == ("c1", "deal", "Jan")


def test_form_answers_stay_out_of_the_contact() -> None:
    submission = MeetMatchFormSubmission(
        id="f1",
        prospect_id="c1",
        prospect_name="Jan",
        prospect_email="j@x.io",
        prospect_company="ACME",
        prospect_phone="+49301234567",
        answers={"Budget?": "lots"},
    )
    prospect = prospect_from_form(submission)
    assert prospect is not None
    assert prospect.custom_fields == {}
    assert (prospect.company, prospect.phone, prospect.source) == (
        "ACME",
        "+49301234567",
        "form_submission",
    )


CONTACT = MeetMatchProspect(
    id="c1", source="contact", full_name="Jan Berg", email="j@x.io", created_at=EARLY
)
OLD_DEAL = MeetMatchProspect(
    id="c1", source="deal", full_name="J. Berg", company="Old Co", phone="111", created_at=EARLY
)
NEW_FORM = MeetMatchProspect(
    id="c1", source="form_submission", company="New Co", created_at=LATE, email="other@x.io"
)


def test_the_contact_wins_and_newer_sightings_fill_the_rest() -> None:
    merged = merge_prospects([OLD_DEAL, NEW_FORM, CONTACT])
    assert merged == MeetMatchProspect(
        id="c1",
        source="contact",
        full_name="Jan Berg",
        email="j@x.io",
        company="New Co",
        phone="111",
        created_at=EARLY,
    )


def test_without_a_contact_the_newest_sighting_leads() -> None:
    merged = merge_prospects([OLD_DEAL, NEW_FORM])
    assert (merged.source, merged.email, merged.company, merged.full_name) == (
        "form_submission",
        "other@x.io",
        "New Co",
        "J. Berg",
    )


def test_merge_does_not_depend_on_input_order() -> None:
    undated = MeetMatchProspect(id="c1", source="appointment", full_name="Undated", company="U")
    twin = NEW_FORM.model_copy(update={"company": "Twin Co"})
    sightings = [OLD_DEAL, NEW_FORM, undated, twin]
    results = {
        merge_prospects(order).model_dump_json() for order in itertools.permutations(sightings)
    }
    assert len(results) == 1


def test_naive_and_aware_times_compare() -> None:
    naive = MeetMatchProspect(
        id="c1", source="deal", company="Naive", created_at=datetime(2025, 1, 1)
    )
    assert merge_prospects([OLD_DEAL, naive]).company == "Naive"


def test_merge_needs_one_person() -> None:
    with pytest.raises(ValueError, match="at least one"):
        merge_prospects([])
    with pytest.raises(ValueError, match="different people"):
        merge_prospects([CONTACT, CONTACT.model_copy(update={"id": "c2"})])
