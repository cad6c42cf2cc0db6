"""Pure translation between MeetMatch and meetergo contacts.

No network, no database, no clock: everything here takes plain values and returns plain values,
so every rule can be tested (and property-tested) without either vendor.
"""

from mappings.canonical import (
    additional_data_for,
    from_meetergo,
    from_meetmatch,
    to_meetergo_create,
    to_meetmatch_create,
)
from mappings.custom_fields import additional_to_custom, custom_to_additional
from mappings.emails import EmailProblem, normalize_email
from mappings.hashing import content_hash
from mappings.merge import ConflictPolicy, meetergo_patch
from mappings.model import CanonicalContact, MappingOptions
from mappings.names import join_name, split_full_name
from mappings.phones import normalize_phone
from mappings.prospects import (
    merge_prospects,
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_deal,
    prospect_from_form,
)
from mappings.tags import merge_tags

__all__ = [
    "CanonicalContact",
    "ConflictPolicy",
    "EmailProblem",
    "MappingOptions",
    "additional_data_for",
    "additional_to_custom",
    "content_hash",
    "custom_to_additional",
    "from_meetergo",
    "from_meetmatch",
    "join_name",
    "meetergo_patch",
    "merge_prospects",
    "merge_tags",
    "normalize_email",
    "normalize_phone",
    "prospect_from_appointment",
    "prospect_from_contact",
    "prospect_from_deal",
    "prospect_from_form",
    "split_full_name",
    "to_meetergo_create",
    "to_meetmatch_create",
]
