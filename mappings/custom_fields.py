"""MeetMatch `custom_fields` ↔ meetergo `additionalData`.

Both are free-form JSON objects, so values travel unchanged (deep-copied: a caller mutating the
result must not reach into the record it came from). Only key names change, and the keys that
carry first-class fields are left out in both directions: the company and lead source live in
`additionalData` on meetergo's side and the tags in `custom_fields` on MeetMatch's, but canonical.py
maps those as fields of their own, and copying them here as well would let two copies disagree.

Renames are made a bijection so that nothing is ever lost on a round trip. With `{"job": "role"}`,
MeetMatch's `job` becomes meetergo's `role`; a MeetMatch field that happens to be called `role`
would then collide with it, so it goes to `job` instead (the rename is completed into a swap, and a
chain `a→b→c` into the cycle `a→b→c→a`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mappings.model import MappingOptions


def custom_to_additional(
    custom_fields: Mapping[str, Any], options: MappingOptions
) -> dict[str, Any]:
    """MeetMatch `custom_fields` as meetergo `additionalData`, less the first-class fields' keys."""
    to_meetergo, _ = _key_maps(options.field_renames)
    reserved = {options.company_key, options.lead_source_key}
    additional: dict[str, Any] = {}
    for key, value in custom_fields.items():
        target = to_meetergo.get(key, key)
        if key != options.tags_key and target not in reserved:
            additional[target] = copy.deepcopy(value)
    return additional


def additional_to_custom(additional: Mapping[str, Any], options: MappingOptions) -> dict[str, Any]:
    """meetergo `additionalData` as MeetMatch `custom_fields`, less the first-class fields' keys."""
    _, to_meetmatch = _key_maps(options.field_renames)
    reserved = {options.company_key, options.lead_source_key}
    custom: dict[str, Any] = {}
    for key, value in additional.items():
        target = to_meetmatch.get(key, key)
        if key not in reserved and target != options.tags_key:
            custom[target] = copy.deepcopy(value)
    return custom


def _key_maps(renames: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(MeetMatch → meetergo, meetergo → MeetMatch) key maps; keys not in them keep their name.

    `renames` is one-to-one (MappingOptions checks it), so it is a set of chains and cycles. Each
    chain's end, a name that is renamed *to* but not *from*, is sent back to the chain's start,
    which turns every chain into a cycle and the whole map into a permutation.
    """
    forward = dict(renames)
    backward = {target: source for source, target in renames.items()}
    for end in set(backward) - set(renames):
        start = end
        while start in backward:
            start = backward[start]
        forward[end] = start
    return forward, {target: source for source, target in forward.items()}
