"""Splitting MeetMatch's single `full_name` into meetergo's `firstName` / `lastName`, and back.

The split happens once, when a name first reaches meetergo (merge.py never re-splits a name whose
parts meetergo already holds). It must be deterministic and must never lose, add or reorder a word:
`join_name(*split_full_name(x))` gives back `x` with its whitespace collapsed, so a name that goes
to meetergo and comes back compares equal and causes no further write. nameparser picks where the
given names end and the family name begins; when its answer is not such a cut of the words (it
drops nicknames and emoji, and puts family-first names such as "李 小龍" family first), a simple
rule that always is takes over.
"""

from __future__ import annotations

from functools import lru_cache

from nameparser import HumanName
from nameparser.config import Constants

# A private configuration: nameparser's shared `CONSTANTS` can be changed by any code in the
# process, which would change how names split and so break the determinism this module promises.
_CONSTANTS = Constants()

# Words that start a family name when they stand before its last word ("van der Berg"); only used
# by the fallback split, nameparser has its own, longer list.
# fmt: off
_PARTICLES = frozenset({
    "al", "bin", "da", "das", "de", "degli", "dei", "del", "della", "den", "der", "di", "do",
    "dos", "du", "el", "ibn", "la", "le", "st.", "ten", "ter", "van", "von", "zu",
})
# fmt: on


def join_name(first: str | None, last: str | None) -> str | None:
    """The name as one string, as MeetMatch's `full_name` holds it; `None` when there is none."""
    parts = [part.strip() for part in (first, last) if part and part.strip()]
    return " ".join(parts) if parts else None


@lru_cache(maxsize=8192)  # pure, and the name parser is slow: a name seen again costs nothing
def split_full_name(full: str | None) -> tuple[str | None, str | None]:
    """(first, last) of a full name: titles and given names, then particles, family name, suffixes.

    A single word is a first name. "Last, First" forms are turned around; the result is then split
    like any other name, so splitting a joined result again never changes it.
    """
    if full is None:
        return None, None
    if "," in full:
        return _split_words(_reorder_comma_form(full))
    return _split_words(full.split())


def _split_words(words: list[str]) -> tuple[str | None, str | None]:
    """Cut `words` in two; the cut is all that is decided, the words themselves stay as given."""
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    cut = _parser_cut(words)
    if cut is None:
        cut = _fallback_cut(words)
    first = " ".join(words[:cut]) or None
    last = " ".join(words[cut:]) or None
    return first, last


def _parser_cut(words: list[str]) -> int | None:
    """Where nameparser ends the first name, if its parts are exactly `words` in order."""
    parts = _parser_parts(" ".join(words))
    if parts is None or parts[0] + parts[1] != words:
        return None
    return len(parts[0])


def _fallback_cut(words: list[str]) -> int:
    """The last word and the particles just before it are the family name; the rest is given."""
    cut = len(words) - 1
    while cut > 1 and words[cut - 1].casefold() in _PARTICLES:
        cut -= 1
    return cut


def _reorder_comma_form(full: str) -> list[str]:
    """The words of a "Last, First" name in "First Last" order (commas dropped)."""
    words = full.replace(",", " ").split()
    parts = _parser_parts(" ".join(full.split()))
    # Only trust nameparser's reading when it kept every word.
    if parts is not None and sorted(parts[0] + parts[1]) == sorted(words):
        return parts[0] + parts[1]
    before, _, after = full.partition(",")
    return after.replace(",", " ").split() + before.split()


def _parser_parts(text: str) -> tuple[list[str], list[str]] | None:
    """nameparser's (first-name words, last-name words) of `text`; `None` if it fails on it."""
    try:
        parsed = HumanName(text, constants=_CONSTANTS)
    # Any failure of the parser on odd input only means the fallback split is used.
    except Exception:
        return None
    first = " ".join((parsed.title, parsed.first, parsed.middle)).split()
    last = " ".join((parsed.last, parsed.suffix)).split()
    return first, last
