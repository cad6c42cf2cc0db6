from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mappings import CanonicalContact, content_hash
from tests.mappings.strategies import canonical_contacts

CONTACT = CanonicalContact(
    email="anna@example.com",
    first_name="Anna",
    last_name="Müller",
    phone="+49301234567",
    company="ACME",
    lead_source="web",
    tags=("Lead", "VIP"),
    custom={"b": 1, "a": {"y": [1, 2], "x": None}},
)


def _reversed(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: _reversed(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(item) for item in value]
    return value


def test_hash_is_sha256_hex() -> None:
    digest = content_hash(CONTACT)
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_hash_ignores_key_order_and_tag_order_and_case() -> None:
    same = dataclasses.replace(
        CONTACT, tags=("vip", "LEAD"), custom={"a": {"x": None, "y": [1, 2]}, "b": 1}
    )
    assert content_hash(same) == content_hash(CONTACT)


def test_hash_accepts_read_only_mappings() -> None:
    frozen = dataclasses.replace(CONTACT, custom=MappingProxyType(dict(CONTACT.custom)))
    assert content_hash(frozen) == content_hash(CONTACT)


def test_list_order_in_custom_fields_matters() -> None:
    other = dataclasses.replace(CONTACT, custom={"b": 1, "a": {"y": [2, 1], "x": None}})
    assert content_hash(other) != content_hash(CONTACT)


@given(canonical_contacts(), st.randoms(use_true_random=False))
def test_hash_is_stable_under_reordering(contact: CanonicalContact, rnd: Any) -> None:
    tags = list(contact.tags)
    rnd.shuffle(tags)
    reordered = dataclasses.replace(
        contact, tags=tuple(tags), custom=_reversed(dict(contact.custom))
    )
    assert content_hash(reordered) == content_hash(contact)


_CHANGES: dict[str, Any] = {
    "email": "someone.else@example.com",
    "first_name": "Changed",
    "last_name": "Changed",
    "phone": "+4930999999",
    "company": "Changed Co",
    "lead_source": "changed",
    "tags": ("a-new-tag",),
    "custom": {"a-new-key-longer-than-generated-ones": [1]},
}


@given(canonical_contacts(), st.sampled_from(sorted(_CHANGES)))
def test_hash_changes_with_any_mapped_field(contact: CanonicalContact, name: str) -> None:
    value = _CHANGES[name]
    # Tags and custom fields are extended, so the change is an addition to whatever was there.
    if name == "tags":
        value = (*contact.tags, *value)
    elif name == "custom":
        value = {**contact.custom, **value}
    changed = dataclasses.replace(contact, **{name: value})
    if getattr(changed, name) != getattr(contact, name):
        assert content_hash(changed) != content_hash(contact)
