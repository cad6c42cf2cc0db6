"""Vendor records → canonical contact → vendor create bodies.

Every difference between the two data models is bridged here: MeetMatch has one `full_name` and no
tags, meetergo has name parts, tags, and no company or lead-source field. Those missing fields ride
in the other side's free-form object (`options.tags_key` in `custom_fields`, `options.company_key`
and `options.lead_source_key` in `additionalData`), so they survive a round trip.
"""

from __future__ import annotations

import copy
from typing import Any, TypeGuard

from mappings.custom_fields import additional_to_custom, custom_to_additional
from mappings.emails import EmailProblem, normalize_email
from mappings.model import CanonicalContact, MappingOptions
from mappings.names import split_full_name
from mappings.phones import normalize_phone
from mappings.prospects import (
    merge_prospects,
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_deal,
    prospect_from_form,
)
from mappings.records import (
    MeetergoContact,
    MeetergoDraft,
    MeetMatchContact,
    MeetMatchProspect,
    NewMeetMatchContact,
)
from mappings.tags import merge_tags
from mappings.text import clean_text

__all__ = [
    "additional_data_for",
    "from_meetergo",
    "from_meetmatch",
    "merge_prospects",
    "prospect_from_appointment",
    "prospect_from_contact",
    "prospect_from_deal",
    "prospect_from_form",
    "to_meetergo_create",
    "to_meetmatch_create",
]


def from_meetmatch(
    record: MeetMatchContact | MeetMatchProspect, options: MappingOptions
) -> CanonicalContact | EmailProblem:
    """The canonical contact of a MeetMatch contact or prospect, or why it cannot be matched.

    A `full_name` that is just the email address is read as no name: meetbridge itself writes it
    that way when it creates a nameless contact (MeetMatch requires a name), and splitting it
    would send the address to meetergo as a first name.
    """
    email = normalize_email(record.email)
    if isinstance(email, EmailProblem):
        return email
    full_name = record.full_name
    if full_name is not None and normalize_email(full_name) == email:
        full_name = None
    first, last = split_full_name(full_name)
    custom = copy.deepcopy(record.custom_fields)
    raw_tags = custom.pop(options.tags_key, None)
    tags = raw_tags if _is_string_list(raw_tags) else []
    return CanonicalContact(
        email=email,
        first_name=first,
        last_name=last,
        phone=normalize_phone(record.phone, options.default_region),
        company=clean_text(record.company),
        lead_source=clean_text(record.lead_source),
        tags=tuple(tags),
        custom=custom,
        address=(record.email or "").strip() or None,
    )


def from_meetergo(
    contact: MeetergoContact, options: MappingOptions
) -> CanonicalContact | EmailProblem:
    """The canonical contact of a meetergo contact, or why it cannot be matched.

    The name parts are taken as meetergo holds them, never re-derived from a joined name.
    """
    email = normalize_email(contact.email)
    if isinstance(email, EmailProblem):
        return email
    additional = contact.additional_data
    return CanonicalContact(
        email=email,
        first_name=clean_text(contact.first_name),
        last_name=clean_text(contact.last_name),
        phone=normalize_phone(contact.phone_number, options.default_region),
        company=_text_value(additional.get(options.company_key)),
        lead_source=_text_value(additional.get(options.lead_source_key)),
        tags=tuple(contact.tags),
        custom=additional_to_custom(additional, options),
        address=(contact.email or "").strip() or None,
    )


def to_meetmatch_create(contact: CanonicalContact, options: MappingOptions) -> NewMeetMatchContact:
    """The `POST /contacts` body for a person MeetMatch does not have yet.

    MeetMatch requires `full_name`; a person without a name gets the email address there.
    """
    custom = copy.deepcopy(dict(contact.custom))
    if contact.tags:
        custom[options.tags_key] = list(contact.tags)
    body: dict[str, Any] = {
        "full_name": contact.full_name or contact.email_to_write,
        "email": contact.email_to_write,
        "company": contact.company,
        "phone": contact.phone,
        "lead_source": contact.lead_source or options.lead_source,
        "custom_fields": custom,
    }
    return NewMeetMatchContact.model_validate(_without_none(body))


def to_meetergo_create(contact: CanonicalContact, options: MappingOptions) -> MeetergoDraft:
    """The `POST /crm` body for a person meetergo does not have yet, tagged `options.meetergo_tags`.

    Only fields with a value are set, so the body sends nothing meetergo would store as null.
    """
    body: dict[str, Any] = {
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email_to_write,
        "phoneNumber": contact.phone,
        "tags": list(merge_tags(contact.tags, options.meetergo_tags)) or None,
        "additionalData": additional_data_for(contact, options) or None,
    }
    return MeetergoDraft.model_validate(_without_none(body))


def additional_data_for(contact: CanonicalContact, options: MappingOptions) -> dict[str, Any]:
    """What meetergo's `additionalData` should hold for `contact`.

    Its custom fields plus the company and lead source, which meetergo has no fields for.
    """
    additional = custom_to_additional(contact.custom, options)
    if contact.company is not None:
        additional[options.company_key] = contact.company
    if contact.lead_source is not None:
        additional[options.lead_source_key] = contact.lead_source
    return additional


def _is_string_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _text_value(value: object) -> str | None:
    return clean_text(value) if isinstance(value, str) else None


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
