from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import MappingOptions, additional_to_custom, custom_to_additional
from tests.mappings.strategies import field_keys, json_objects

RENAMED = MappingOptions(field_renames={"job": "role", "size": "companySize"})


def test_values_are_copied_and_keys_renamed() -> None:
    custom = {"job": "CTO", "size": 50, "nested": {"a": [1, {"b": None}]}}
    assert custom_to_additional(custom, RENAMED) == {
        "role": "CTO",
        "companySize": 50,
        "nested": {"a": [1, {"b": None}]},
    }


def test_renames_are_reversed_on_the_way_back() -> None:
    assert additional_to_custom({"role": "CTO", "companySize": 50, "x": 1}, RENAMED) == {
        "job": "CTO",
        "size": 50,
        "x": 1,
    }


def test_nested_values_are_deep_copies() -> None:
    custom: dict[str, Any] = {"nested": {"list": [1]}}
    additional = custom_to_additional(custom, MappingOptions())
    additional["nested"]["list"].append(2)
    assert custom == {"nested": {"list": [1]}}


def test_first_class_keys_are_left_out() -> None:
    options = MappingOptions()
    assert custom_to_additional({"tags": ["VIP"], "x": 1}, options) == {"x": 1}
    assert additional_to_custom({"company": "ACME", "leadSource": "web", "x": 1}, options) == {
        "x": 1
    }


def test_a_rename_onto_a_first_class_key_is_left_out() -> None:
    options = MappingOptions(field_renames={"firma": "company"})
    assert custom_to_additional({"firma": "ACME", "x": 1}, options) == {"x": 1}


def test_a_field_named_like_a_rename_target_is_swapped_not_lost() -> None:
    # MeetMatch's own "role" would collide with the renamed "job": it goes to meetergo's "job".
    custom = {"job": "CTO", "role": "admin"}
    additional = custom_to_additional(custom, RENAMED)
    assert additional == {"role": "CTO", "job": "admin"}
    assert additional_to_custom(additional, RENAMED) == custom


def test_rename_chains_become_cycles() -> None:
    options = MappingOptions(field_renames={"a": "b", "b": "c"})
    assert custom_to_additional({"a": 1, "b": 2, "c": 3}, options) == {"b": 1, "c": 2, "a": 3}


def test_renames_must_be_one_to_one() -> None:
    with pytest.raises(ValueError, match="one-to-one"):
        MappingOptions(field_renames={"a": "x", "b": "x"})


renames = st.lists(
    st.tuples(field_keys, field_keys), unique_by=(lambda p: p[0], lambda p: p[1]), max_size=4
).map(dict)


def _kept(data: dict[str, Any], convert: Any, options: MappingOptions) -> dict[str, Any]:
    """`data` without the keys `convert` leaves out on their own (the reserved ones)."""
    return {key: value for key, value in data.items() if convert({key: value}, options)}


@given(json_objects, renames)
def test_custom_fields_round_trip(custom: dict[str, Any], field_renames: dict[str, str]) -> None:
    options = MappingOptions(field_renames=field_renames)
    custom = _kept(custom, custom_to_additional, options)
    assert additional_to_custom(custom_to_additional(custom, options), options) == custom


@given(json_objects, renames)
def test_additional_data_round_trip(
    additional: dict[str, Any], field_renames: dict[str, str]
) -> None:
    options = MappingOptions(field_renames=field_renames)
    additional = _kept(additional, additional_to_custom, options)
    assert custom_to_additional(additional_to_custom(additional, options), options) == additional


@given(json_objects)
def test_only_reserved_keys_are_left_out(custom: dict[str, Any]) -> None:
    additional = custom_to_additional(custom, MappingOptions())
    reserved = {"tags", "company", "leadSource"}
    assert additional == {key: value for key, value in custom.items() if key not in reserved}
