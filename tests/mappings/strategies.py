"""Hypothesis strategies shared by the mappings tests: names, JSON values, contacts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mappings import CanonicalContact, EmailProblem, normalize_email, split_full_name
from mappings.records import MeetergoContact

PARTICLES = ["van", "der", "de", "la", "von", "da", "di", "le", "bin", "Van", "De"]
TITLES = ["Dr.", "Prof.", "Mr", "Mrs.", "Ms", "Sir", "Dr"]
SUFFIXES = ["Jr.", "Sr.", "III", "II", "PhD", "MBA", "jr"]

# Letters of any script plus combining marks, and the punctuation names really contain.
_LETTERS = st.characters(categories=["L", "Mn"]) | st.sampled_from("-'.")
name_words = st.sampled_from(PARTICLES + TITLES + SUFFIXES) | st.text(
    _LETTERS, min_size=1, max_size=8
).filter(lambda word: word.split() == [word])
_SPACES = st.sampled_from([" ", "  ", "\t", "\u00a0", " \n "])


@st.composite
def full_names(draw: st.DrawFn) -> str:
    """A name of 0-6 words joined by messy whitespace, without commas."""
    words = draw(st.lists(name_words, max_size=6))
    text = draw(st.sampled_from(["", " ", "  "]))
    for word in words:
        text += word + draw(_SPACES)
    return text


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

# Keys that collide on purpose with renames and with the reserved keys of the default options.
field_keys = st.sampled_from(["a", "b", "c", "job", "role", "company", "leadSource", "tags"]) | (
    st.text(max_size=5)
)
json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    field_keys, json_values, max_size=5
)

emails = st.emails().map(normalize_email).filter(lambda email: not isinstance(email, EmailProblem))
phones = st.sampled_from([None, "+15551234567", "+49301234567", "+442079460958", "call me"])
tags = st.lists(st.sampled_from(["Lead", "lead", "VIP", "vip", "MeetMatch", "Kunde", "ß", "SS"]))
optional_text = st.none() | st.sampled_from(["", " ", "ACME", "acme", "Müller GmbH", "web"])


@st.composite
def canonical_contacts(draw: st.DrawFn) -> CanonicalContact:
    """A contact as canonical.py produces them: normalized email and phone, a split name."""
    first, last = split_full_name(draw(full_names()))
    company = draw(optional_text)
    lead_source = draw(optional_text)
    return CanonicalContact(
        email=draw(emails),
        first_name=first,
        last_name=last,
        phone=draw(phones),
        company=company.strip() or None if company else None,
        lead_source=lead_source.strip() or None if lead_source else None,
        tags=tuple(draw(tags)),
        custom=draw(json_objects),
    )


@st.composite
def meetergo_contacts(draw: st.DrawFn) -> MeetergoContact:
    """A meetergo contact as the API may hold it, blanks and odd spellings included."""
    return MeetergoContact(
        id="m1",
        firstName=draw(optional_text | st.sampled_from(["Jan", "Jan van der"])),
        lastName=draw(optional_text | st.sampled_from(["Berg", "van der Berg"])),
        email=draw(emails),
        phoneNumber=draw(phones | st.sampled_from(["", "030 1234567", "+1 555 123 4567"])),
        tags=draw(tags),
        additionalData=draw(json_objects),
    )
