from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 555 123 4567", None, "+15551234567"),
        ("0301234567", "DE", "+49301234567"),
        ("030 123 4567", "de", "+49301234567"),
        ("+44 20 7946 0958", "DE", "+442079460958"),  # "+" beats the default region
        ("0301234567", None, "0301234567"),  # no country known: kept as typed
        ("ext. 12", None, "ext. 12"),
        ("ext. 12", "DE", "ext. 12"),  # a local-only number would get the wrong area
        ("5551234", "US", "5551234"),
        ("+49 30 1234567 ext. 12", None, "+49 30 1234567 ext. 12"),  # E.164 has no extension
        ("  call me  ", None, "call me"),
        ("", None, None),
        ("   ", "DE", None),
        (None, "DE", None),
    ],
)
def test_normalize_phone(raw: str | None, region: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected


@given(
    st.text(alphabet="0123456789 +-()x.", max_size=20) | st.text(max_size=20),
    st.sampled_from([None, "DE", "US", "GB", "IT"]),
)
def test_normalize_phone_is_idempotent(raw: str, region: str | None) -> None:
    once = normalize_phone(raw, region)
    assert normalize_phone(once, region) == once
