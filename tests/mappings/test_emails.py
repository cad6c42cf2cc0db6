from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import EmailProblem, normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Anna.Mueller@Example.COM ", "anna.mueller@example.com"),
        ("a+tag@x.io", "a+tag@x.io"),  # +tags and dots are part of the address
        ("first.last@gmail.com", "first.last@gmail.com"),
        ("STRASSE@Straße.de", "strasse@strasse.de"),  # case-folded, not only lower-cased
        ("", EmailProblem.NO_EMAIL),
        ("  \t", EmailProblem.NO_EMAIL),
        (None, EmailProblem.NO_EMAIL),
        ("not-an-email", EmailProblem.INVALID_EMAIL),
        ("a@b", EmailProblem.INVALID_EMAIL),
        ("anna@example.com, bob@example.com", EmailProblem.INVALID_EMAIL),
        ("Anna <anna@example.com>", EmailProblem.INVALID_EMAIL),
    ],
)
def test_normalize_email(raw: str | None, expected: str | EmailProblem) -> None:
    assert normalize_email(raw) == expected


def test_problems_are_the_skip_reasons() -> None:
    assert EmailProblem.NO_EMAIL.value == "no_email"
    assert EmailProblem.INVALID_EMAIL.value == "invalid_email"


@given(st.emails() | st.text())
def test_normalize_email_is_idempotent(raw: str) -> None:
    normalized = normalize_email(raw)
    # EmailProblem is a StrEnum: "is a str" does not mean "is an address".
    if not isinstance(normalized, EmailProblem):
        assert normalize_email(normalized) == normalized


@given(st.emails(), st.sampled_from(["", " ", "\t", "\n "]), st.sampled_from(["", " ", "\r\n"]))
def test_normalize_email_ignores_case_and_surrounding_space(
    email: str, before: str, after: str
) -> None:
    assert normalize_email(before + email.upper() + after) == normalize_email(email.swapcase())
