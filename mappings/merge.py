"""The PATCH a conflict policy allows when a person already exists in meetergo.

Two properties matter more than any single rule. A PATCH must carry whole values: meetergo replaces
`tags` (and, we assume, `additionalData`) instead of merging, so a fragment would delete the rest.
And applying a patch and asking again must give `None`: that is what lets a second sync, an echo or
a reconcile scan write nothing once both sides agree.

- `fill_empty` (the default) only fills what meetergo lacks and never overwrites what a person
  there typed.
- `source_wins` lets the incoming side overwrite, but still never removes a tag or a key, and
  never writes a value that differs only in spelling (whitespace, phone formatting).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from mappings.canonical import additional_data_for
from mappings.model import CanonicalContact, MappingOptions
from mappings.names import join_name
from mappings.phones import normalize_phone
from mappings.records import MeetergoContact, MeetergoDraft
from mappings.tags import merge_tags
from mappings.text import clean_text, collapse_whitespace, is_blank

ConflictPolicy = Literal["fill_empty", "source_wins"]


def meetergo_patch(
    current: MeetergoContact,
    incoming: CanonicalContact,
    policy: ConflictPolicy,
    options: MappingOptions,
) -> MeetergoDraft | None:
    """The `PATCH /crm/{id}` body that brings `current` in line with `incoming`, or `None`.

    The email is never part of it: the email is how the two records were matched, and changing it
    is not a merge decision.
    """
    if policy not in ("fill_empty", "source_wins"):
        raise ValueError(f"unknown conflict policy {policy!r}")
    source_wins = policy == "source_wins"
    body: dict[str, Any] = {}

    first, last = _names(current, incoming, source_wins)
    if first != clean_text(current.first_name):
        body["firstName"] = first
    if last != clean_text(current.last_name):
        body["lastName"] = last

    # Both sides normalized, so that "030 1234567" and "+49301234567" are not a difference.
    current_phone = normalize_phone(current.phone_number, options.default_region)
    incoming_phone = normalize_phone(incoming.phone, options.default_region)
    overwritable = source_wins or current_phone is None
    if incoming_phone is not None and incoming_phone != current_phone and overwritable:
        body["phoneNumber"] = incoming_phone

    # Tags are only ever added: meetergo's current list stays as it is, new ones go after it.
    held_tags = {tag.casefold() for tag in current.tags}
    added = [tag for tag in merge_tags(incoming.tags) if tag.casefold() not in held_tags]
    if added:
        body["tags"] = [*current.tags, *added]

    wanted = additional_data_for(incoming, options)
    if source_wins:
        additional = _overwrite(current.additional_data, wanted)
    else:
        additional = _fill(current.additional_data, wanted)
    if additional != current.additional_data:
        body["additionalData"] = additional

    return MeetergoDraft.model_validate(body) if body else None


def _names(
    current: MeetergoContact, incoming: CanonicalContact, source_wins: bool
) -> tuple[str | None, str | None]:
    """The name parts meetergo should hold after the merge.

    Parts meetergo already holds are never re-split: a name that reads the same joined ("Jan van
    der" + "Berg" against "Jan" + "van der Berg") is the same name, and splitting it again is how
    other connectors turned "Ritin Sahni" into "Ritin Sahni Sahni".
    """
    held = (clean_text(current.first_name), clean_text(current.last_name))
    wanted = (clean_text(incoming.first_name), clean_text(incoming.last_name))
    if incoming.full_name is None:
        return held
    if held == (None, None):
        return wanted
    if not source_wins:
        return held
    same = collapse_whitespace(join_name(*held) or "") == collapse_whitespace(incoming.full_name)
    return held if same else wanted


def _fill(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with what it lacks taken from `wanted`, nested objects filled the same way."""
    merged = copy.deepcopy(dict(current))
    for key, value in wanted.items():
        if key not in merged or (is_blank(merged[key]) and not is_blank(value)):
            merged[key] = copy.deepcopy(value)
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _fill(merged[key], value)
    return merged


def _overwrite(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with every non-empty value of `wanted` put in; keys only `current` has are kept.

    A nested object is replaced whole: it is one field's value, and the source's value wins.
    """
    merged = copy.deepcopy(dict(current))
    for key, value in wanted.items():
        if not is_blank(value):
            merged[key] = copy.deepcopy(value)
    return merged
