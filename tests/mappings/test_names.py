from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import join_name, split_full_name
from tests.mappings.strategies import full_names


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Dr. Jan van der Berg Jr.", ("Dr. Jan", "van der Berg Jr.")),
        ("José  Núñez", ("José", "Núñez")),
        ("Zoë", ("Zoë", None)),
        ("Ritin Sahni", ("Ritin", "Sahni")),
        ("  Anna   Müller ", ("Anna", "Müller")),
        ("Berg, Jan", ("Jan", "Berg")),
        ("Mary-Jane O'Neil", ("Mary-Jane", "O'Neil")),
        # nameparser reads this family-first; the contract keeps the words in their order.
        ("李 小龍", ("李", "小龍")),
        ("Jan de la Cruz", ("Jan", "de la Cruz")),
        ("Ludwig von Beethoven", ("Ludwig", "von Beethoven")),
        ("Prof. Dr. Hans Müller", ("Prof. Dr. Hans", "Müller")),
        ("John Smith III", ("John", "Smith III")),
        ("van der Berg, Jan", ("Jan", "van der Berg")),
        ("Berg Jr., Jan", ("Jan", "Berg Jr.")),
        ("", (None, None)),
        ("   ", (None, None)),
        (None, (None, None)),
        (",", (None, None)),
    ],
)
def test_split_full_name(full: str | None, expected: tuple[str | None, str | None]) -> None:
    assert split_full_name(full) == expected


def test_words_parser_would_drop_are_kept() -> None:
    # nameparser takes quoted nicknames and emoji out of the name; the split must not lose them.
    assert join_name(*split_full_name('John "Jack" Smith')) == 'John "Jack" Smith'
    assert join_name(*split_full_name("John Smith 😀")) == "John Smith 😀"


def test_fallback_keeps_particles_with_the_family_name() -> None:
    assert split_full_name("Maria 😀 van der Berg") == ("Maria 😀", "van der Berg")


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Jan", "Berg", "Jan Berg"),
        (" Jan ", " Berg", "Jan Berg"),
        ("Jan", None, "Jan"),
        (None, "Berg", "Berg"),
        ("", "  ", None),
        (None, None, None),
    ],
)
def test_join_name(first: str | None, last: str | None, expected: str | None) -> None:
    assert join_name(first, last) == expected


@given(full_names())
def test_split_then_join_keeps_every_word_in_order(full: str) -> None:
    assert (join_name(*split_full_name(full)) or "") == " ".join(full.split())


@given(full_names() | st.text())
def test_split_is_idempotent(full: str) -> None:
    parts = split_full_name(full)
    assert split_full_name(join_name(*parts)) == parts


@given(full_names())
def test_split_ignores_whitespace(full: str) -> None:
    assert split_full_name(full) == split_full_name(" ".join(full.split()))
