"""Hypothesis strategies shared by the hostile-input tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_of(
    text: st.SearchStrategy[str], *, huge: int = 300, size: int = 4, leaves: int = 12
) -> st.SearchStrategy[Any]:
    """Any JSON value whose strings and keys come from `text`, with integers of up to `huge`
    digits (JSON has no limit; Python's int() refuses more than 4300 digits by default)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=10**30, max_value=10**huge)
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=size) | st.dictionaries(text, inner, max_size=size),
        max_leaves=leaves,
    )
