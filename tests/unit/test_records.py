"""Vendor records as the clients parse them: unknown fields ignored, nulls read as empty."""

from __future__ import annotations

from mappings.records import MeetergoContact, MeetMatchContact, MeetMatchFormSubmission


def test_null_objects_and_lists_read_as_empty() -> None:
    assert MeetMatchContact.model_validate({"id": "1", "custom_fields": None}).custom_fields == {}
    contact = MeetergoContact.model_validate({"id": "g", "additionalData": None, "tags": None})
    assert (contact.additional_data, contact.tags) == ({}, [])
    assert MeetMatchFormSubmission.model_validate({"id": "f", "answers": None}).answers == {}


def test_unknown_fields_are_ignored() -> None:
    contact = MeetergoContact.model_validate({"id": "g", "brandNewField": 1, "firstName": "Al"})
    assert contact.first_name == "Al"
