from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import CanonicalContact, ConflictPolicy, MappingOptions, meetergo_patch
from mappings.records import MeetergoContact, MeetergoDraft
from mappings.text import is_blank
from tests.mappings.strategies import canonical_contacts, meetergo_contacts

OPTIONS = MappingOptions(default_region="DE")
POLICIES: list[ConflictPolicy] = ["fill_empty", "source_wins"]


def _incoming(**fields: Any) -> CanonicalContact:
    values: dict[str, Any] = {
        "email": "ritin@example.com",
        "first_name": None,
        "last_name": None,
        "phone": None,
        "company": None,
        "lead_source": None,
        "tags": (),
        "custom": {},
    }
    values.update(fields)
    return CanonicalContact(**values)


def _current(**fields: Any) -> MeetergoContact:
    return MeetergoContact.model_validate({"id": "m1", "email": "ritin@example.com", **fields})


def _body(draft: MeetergoDraft | None) -> dict[str, Any] | None:
    return None if draft is None else draft.body()


def _apply(current: MeetergoContact, draft: MeetergoDraft) -> MeetergoContact:
    """What meetergo holds after the PATCH: every sent field replaced whole."""
    return current.model_copy(update=draft.model_dump(exclude_unset=True))


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_names_meetergo_holds_are_never_re_split(policy: ConflictPolicy) -> None:
    # The "Ritin Sahni Sahni" bug: meetergo holds the whole name in firstName.
    current = _current(firstName="Ritin Sahni")
    incoming = _incoming(first_name="Ritin", last_name="Sahni")
    assert meetergo_patch(current, incoming, policy, OPTIONS) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_a_name_split_differently_is_the_same_name(policy: ConflictPolicy) -> None:
    current = _current(firstName="Jan van der", lastName="Berg")
    incoming = _incoming(first_name="Jan", last_name="van der  Berg")
    assert meetergo_patch(current, incoming, policy, OPTIONS) is None


def test_fill_empty_keeps_any_held_name_part() -> None:
    current = _current(lastName="Sahni")
    incoming = _incoming(first_name="Ritin", last_name="Sahni-Kapoor")
    assert meetergo_patch(current, incoming, "fill_empty", OPTIONS) is None


@pytest.mark.parametrize("policy", POLICIES)
def test_missing_names_are_set_from_the_split(policy: ConflictPolicy) -> None:
    current = _current(firstName="", lastName=None)
    incoming = _incoming(first_name="Ritin", last_name="Sahni")
    draft = meetergo_patch(current, incoming, policy, OPTIONS)
    assert _body(draft) == {"firstName": "Ritin", "lastName": "Sahni"}


def test_source_wins_replaces_a_different_name_whole() -> None:
    current = _current(firstName="Ritin", lastName="Sahni")
    incoming = _incoming(first_name="Zoë", last_name=None)
    draft = meetergo_patch(current, incoming, "source_wins", OPTIONS)
    assert _body(draft) == {"firstName": "Zoë", "lastName": None}


def test_source_wins_compares_names_case_sensitively() -> None:
    current = _current(firstName="ritin", lastName="sahni")
    incoming = _incoming(first_name="Ritin", last_name="Sahni")
    draft = meetergo_patch(current, incoming, "source_wins", OPTIONS)
    assert _body(draft) == {"firstName": "Ritin", "lastName": "Sahni"}


def test_source_wins_without_an_incoming_name_keeps_the_held_one() -> None:
    current = _current(firstName="Ritin", lastName="Sahni")
    assert meetergo_patch(current, _incoming(), "source_wins", OPTIONS) is None


# --- phone and email ------------------------------------------------------------------------


def test_fill_empty_fills_only_an_empty_phone() -> None:
    incoming = _incoming(phone="+15551234567")
    draft = meetergo_patch(_current(phoneNumber=""), incoming, "fill_empty", OPTIONS)
    assert _body(draft) == {"phoneNumber": "+15551234567"}
    held = _current(phoneNumber="+49 30 1234567")
    assert meetergo_patch(held, incoming, "fill_empty", OPTIONS) is None


def test_source_wins_overwrites_a_different_phone_only() -> None:
    held = _current(phoneNumber="030 1234567")
    same = _incoming(phone="+49301234567")
    assert meetergo_patch(held, same, "source_wins", OPTIONS) is None
    other = _incoming(phone="+15551234567")
    assert _body(meetergo_patch(held, other, "source_wins", OPTIONS)) == {
        "phoneNumber": "+15551234567"
    }


@pytest.mark.parametrize("policy", POLICIES)
def test_email_is_never_patched(policy: ConflictPolicy) -> None:
    current = _current(email="Ritin@Example.com")
    assert meetergo_patch(current, _incoming(email="ritin@example.com"), policy, OPTIONS) is None
    assert meetergo_patch(_current(email=None), _incoming(), policy, OPTIONS) is None


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_tags_are_sent_as_the_whole_merged_list(policy: ConflictPolicy) -> None:
    # meetergo's PATCH replaces the list: sending only "VIP" would delete "Lead".
    current = _current(tags=["Lead", "lead", "MeetMatch"])
    incoming = _incoming(tags=("vip", "LEAD", "VIP", "Kunde"))
    draft = meetergo_patch(current, incoming, policy, OPTIONS)
    assert _body(draft) == {"tags": ["Lead", "lead", "MeetMatch", "vip", "Kunde"]}


@pytest.mark.parametrize("policy", POLICIES)
def test_tags_are_never_removed(policy: ConflictPolicy) -> None:
    current = _current(tags=["Lead", "VIP"])
    assert meetergo_patch(current, _incoming(tags=("vip",)), policy, OPTIONS) is None


# --- additionalData -------------------------------------------------------------------------


def test_fill_empty_adds_missing_keys_recursively() -> None:
    current = _current(
        additionalData={
            "company": "Held Co",
            "profile": {"size": 10, "address": {"city": "Berlin"}, "note": ""},
            "keep": 1,
        }
    )
    incoming = _incoming(
        company="New Co",
        lead_source="web",
        custom={
            "profile": {"size": 99, "address": {"city": "Hamburg", "zip": "20095"}, "note": "n"},
            "new": [1],
        },
    )
    draft = meetergo_patch(current, incoming, "fill_empty", OPTIONS)
    assert _body(draft) == {
        "additionalData": {
            "company": "Held Co",
            "leadSource": "web",
            "profile": {"size": 10, "address": {"city": "Berlin", "zip": "20095"}, "note": "n"},
            "keep": 1,
            "new": [1],
        }
    }


def test_source_wins_overwrites_incoming_keys_and_keeps_the_rest() -> None:
    current = _current(
        additionalData={"company": "Held Co", "profile": {"size": 10, "city": "Berlin"}, "keep": 1}
    )
    incoming = _incoming(company="New Co", custom={"profile": {"size": 99}, "empty": ""})
    draft = meetergo_patch(current, incoming, "source_wins", OPTIONS)
    assert _body(draft) == {
        "additionalData": {"company": "New Co", "profile": {"size": 99}, "keep": 1}
    }


def test_renamed_custom_fields_are_merged_under_meetergo_names() -> None:
    options = MappingOptions(field_renames={"job": "role"})
    current = _current(additionalData={"role": "CTO"})
    assert meetergo_patch(current, _incoming(custom={"job": "CEO"}), "fill_empty", options) is None


# --- no-ops ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_an_identical_contact_needs_no_patch(policy: ConflictPolicy) -> None:
    current = _current(
        firstName="Ritin",
        lastName="Sahni",
        phoneNumber="+49301234567",
        tags=["Lead"],
        additionalData={"company": "ACME", "x": {"y": 1}},
    )
    incoming = _incoming(
        first_name="Ritin",
        last_name="Sahni",
        phone="+49301234567",
        company="ACME",
        tags=("lead",),
        custom={"x": {"y": 1}},
    )
    assert meetergo_patch(current, incoming, policy, OPTIONS) is None


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        meetergo_patch(_current(), _incoming(), "newest_wins", OPTIONS)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------


@given(meetergo_contacts(), canonical_contacts(), st.sampled_from(POLICIES))
def test_a_patch_applied_needs_no_second_patch(
    current: MeetergoContact, incoming: CanonicalContact, policy: ConflictPolicy
) -> None:
    draft = meetergo_patch(current, incoming, policy, OPTIONS)
    if draft is not None:
        assert meetergo_patch(_apply(current, draft), incoming, policy, OPTIONS) is None


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    """Every non-object value in `data` by its key path (an empty object holds none)."""
    if isinstance(data, dict):
        leaves: dict[tuple[Any, ...], Any] = {}
        for key, value in data.items():
            leaves.update(_leaves(value, (*path, key)))
        return leaves
    return {path: data}


@given(meetergo_contacts(), canonical_contacts())
def test_fill_empty_never_clobbers(current: MeetergoContact, incoming: CanonicalContact) -> None:
    draft = meetergo_patch(current, incoming, "fill_empty", OPTIONS)
    if draft is None:
        return
    sent = draft.model_dump(exclude_unset=True)
    assert "email" not in sent
    for name in ("first_name", "last_name", "phone_number"):
        if name in sent:
            assert is_blank(getattr(current, name))
    if "first_name" in sent or "last_name" in sent:
        assert is_blank(current.first_name) and is_blank(current.last_name)
    if "tags" in sent:
        assert sent["tags"][: len(current.tags)] == current.tags
    if "additional_data" in sent:
        after = _leaves(sent["additional_data"])
        for path, value in _leaves(current.additional_data).items():
            if not is_blank(value):
                assert after[path] == value
