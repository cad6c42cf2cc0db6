"""What "empty" means for vendor text.

Both vendors hand back `None`, `""` and stray whitespace for a field nobody filled in. Every rule
that asks "is this field set?" (fill-empty merges, prospect merging, first-class fields) must give
the same answer, so the answer lives here once.
"""

from __future__ import annotations


def is_blank(value: object) -> bool:
    """True for `None` and whitespace-only strings: the values vendors use for "unset"."""
    return value is None or (isinstance(value, str) and not value.strip())


def clean_text(value: str | None) -> str | None:
    """The trimmed text, or `None` when nothing is left, so that `""` and `None` never differ."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def collapse_whitespace(value: str) -> str:
    """Runs of whitespace as one space, ends trimmed: how a person would retype the text."""
    return " ".join(value.split())
