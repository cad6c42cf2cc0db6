"""Hostile input through the pure mappings: any Unicode in every field, key and option.

`tests/mappings/` checks the rules on values people type (name-like words, real emails, a few
phones). This file feeds the same functions text nobody types: every Unicode category including
control characters, NUL, bidi marks, combining marks without a base, emoji sequences, private
use, unassigned code points and lone surrogates (which vendor JSON can carry as `\\ud800`
escapes), very long strings, and the same in custom-field keys, nested values and the mapping
options. Every function must answer with its documented outcome (an `EmailProblem` is returned,
never raised), produce JSON, keep the content hash deterministic, and never lose a character of
a name other than whitespace (and the comma of a "Last, First" name).

Examples are derandomized, so CI sees the same ones every run.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector.receiver import MAX_JSON_DEPTH
from mappings import (
    CanonicalContact,
    ConflictPolicy,
    EmailProblem,
    MappingOptions,
    additional_to_custom,
    content_hash,
    custom_to_additional,
    from_meetergo,
    from_meetmatch,
    join_name,
    meetergo_patch,
    merge_prospects,
    merge_tags,
    normalize_email,
    normalize_phone,
    prospect_from_appointment,
    prospect_from_contact,
    prospect_from_form,
    split_full_name,
    to_meetergo_create,
    to_meetmatch_create,
)
from mappings.records import (
    MeetergoContact,
    MeetMatchAppointment,
    MeetMatchContact,
    MeetMatchFormSubmission,
)
from tests.faults.hostile import json_of

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
POLICIES: list[ConflictPolicy] = ["fill_empty", "source_wins"]

# --- strategies ----------------------------------------------------------------------------

SPECIAL = [
    "\x00",
    "\x1c",  # a "file separator": str.split() counts it as whitespace
    "\x85",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u200b",  # zero-width space: not whitespace to Python
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\u0301",
    "\u0e33",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1e9\U0001f1ea",
    "\ue000",
    "\U000e0041",
    "\ud800",
    "\udfff",
    "\ufffd",
    "\uffff",
    ",",
    "@",
    ".",
    '"',
    "\\",
    "ß",
    "İ",
    "ﬃ",
    "Σ",
]
# Single code points of every category, surrogates (Cs) and unassigned ones (Cn) included.
any_char = st.characters(exclude_categories=[]) | st.sampled_from(
    [c for c in SPECIAL if len(c) == 1]
)
any_text = st.lists(any_char | st.sampled_from(SPECIAL), max_size=16).map(
    "".join
) | st.sampled_from(SPECIAL)
maybe_text = st.none() | any_text

# Keys that are reserved or renamed under some options below, and any text at all.
keys = st.sampled_from(["company", "leadSource", "tags", "email", "id", "", "__proto__"]) | any_text
json_values = json_of(keys, huge=4000, size=3, leaves=10)
json_objects = st.dictionaries(keys, json_values, max_size=4)


@st.composite
def emails(draw: st.DrawFn) -> str:
    """Addresses with hostile parts: valid ones with a character slipped in, or any text."""
    kind = draw(st.sampled_from(["valid", "spliced", "parts", "text"]))
    if kind == "text":
        return draw(any_text)
    if kind == "parts":
        domain = draw(any_text | st.sampled_from(["example.com", "xn--bcher-kva.de"]))
        return f"{draw(any_text)}@{domain}"
    address = draw(st.emails())
    if kind == "spliced":
        at = draw(st.integers(0, len(address)))
        address = address[:at] + draw(any_char) + address[at:]
    return draw(st.sampled_from(["{}", " {} ", "{}\n", "\t{}"])).format(
        draw(st.sampled_from([address, address.upper(), address.title()]))
    )


phones = maybe_text | st.sampled_from(
    ["+15551234567", "030 1234567", "+49 30 1234567 ext. 5", "+" + "9" * 300, "٠١٢٣٤٥٦٧٨٩"]
)
regions = st.none() | st.sampled_from(["DE", "us", " gb ", "", "ZZ", "XX1"]) | any_text


# The configuration is TOML or the environment: any text, but real Unicode (no lone surrogate).
config_text = any_text.filter(lambda text: not has_surrogate(text))
config_keys = keys.filter(lambda key: not has_surrogate(key))


@st.composite
def options(draw: st.DrawFn) -> MappingOptions:
    """Mapping options with hostile keys, tags and renames."""
    renames = draw(st.dictionaries(config_keys, config_keys, max_size=3))
    company, lead = draw(st.tuples(config_keys, config_keys).filter(lambda kl: kl[0] != kl[1]))
    if len(set(renames.values())) != len(renames):
        renames = {}
    return MappingOptions(
        meetergo_tags=tuple(draw(st.lists(config_text, max_size=3))),
        lead_source=draw(config_text),
        field_renames=renames,
        company_key=company,
        lead_source_key=lead,
        tags_key=draw(config_keys),
        default_region=draw(st.none() | config_text),
    )


@st.composite
def meetmatch_contacts(draw: st.DrawFn) -> MeetMatchContact:
    return MeetMatchContact.model_validate(
        {
            "id": draw(any_text),
            "full_name": draw(maybe_text),
            "email": draw(st.none() | emails()),
            "company": draw(maybe_text),
            "phone": draw(phones),
            "lead_source": draw(maybe_text),
            "custom_fields": draw(json_objects),
        }
    )


@st.composite
def meetergo_contacts(draw: st.DrawFn) -> MeetergoContact:
    return MeetergoContact.model_validate(
        {
            "id": draw(any_text),
            "firstName": draw(maybe_text),
            "lastName": draw(maybe_text),
            "email": draw(st.none() | emails()),
            "phoneNumber": draw(phones),
            "tags": draw(st.lists(any_text, max_size=4)),
            "additionalData": draw(json_objects),
        }
    )


# --- checks --------------------------------------------------------------------------------


def has_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def assert_json(value: Any, *, utf8: bool = True) -> None:
    """`value` is JSON data; with `utf8`, also as httpx sends it: UTF-8 (no lone surrogate)."""
    text = json.dumps(value, ensure_ascii=not utf8, allow_nan=False)
    assert json.loads(text) == value
    if utf8:
        text.encode("utf-8")


def reordered(value: Any) -> Any:
    """An equal value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def assert_hash_is_stable(contact: CanonicalContact) -> None:
    digest = content_hash(contact)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert content_hash(contact) == digest
    twin = CanonicalContact(
        email=contact.email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        phone=contact.phone,
        company=contact.company,
        lead_source=contact.lead_source,
        tags=tuple(reversed(contact.tags)),
        custom=reordered(copy.deepcopy(dict(contact.custom))),
    )
    assert content_hash(twin) == digest


def kept_characters(text: str) -> Counter[str]:
    return Counter(c for c in text if not c.isspace() and c != ",")


# --- emails, phones, names, tags -----------------------------------------------------------


@FUZZ
@given(emails() | any_text)
@example("ada@example.com\x00")
@example("\ud800@example.com")
@example("ada@exa\udfffmple.com")
@example("a" * 20_000 + "@example.com")
@example("Anna <anna@example.com>")
@example("\u202eada@example.com")
def test_normalize_email_returns_a_problem_never_raises(raw: str) -> None:
    result = normalize_email(raw)
    assert isinstance(result, str | EmailProblem)
    if isinstance(result, str):
        assert result == raw.strip().casefold()
        assert normalize_email(result) == result
        result.encode("utf-8")  # an accepted address is always real Unicode
    elif not raw.strip():
        assert result is EmailProblem.NO_EMAIL


@FUZZ
@given(any_text, regions)
@example("\ud800+15551234567", "DE")
@example("+1 555 123 4567", "\ud800")
@example("+" + "9" * 20_000, None)
def test_normalize_phone_never_raises(raw: str, region: str | None) -> None:
    result = normalize_phone(raw, region)
    assert result is None or isinstance(result, str)
    if result is not None:
        assert result == result.strip() and result
        assert normalize_phone(result, region) == result


@FUZZ
@given(any_text)
@example("\u202e Ada \u0301 Lovelace\u200f")
@example("Lovelace,\x00 Ada")
@example("\ud800 \udfff, \ud83d")
@example(", , ,")
@example("Ada\x1cLovelace")  # \x1c is whitespace to str.split()
@example("Dr. Ada \U0001f468\u200d\U0001f469\u200d\U0001f467 Lovelace Jr.")
def test_split_and_join_lose_nothing_but_whitespace_and_commas(full: str) -> None:
    first, last = split_full_name(full)
    for part in (first, last):
        assert part is None or (isinstance(part, str) and part.strip() == part and part)
    joined = join_name(first, last) or ""
    assert kept_characters(joined) == kept_characters(full)
    if "," not in full:
        assert joined.split() == full.split()  # every word, in order
    assert "," not in joined
    assert split_full_name(joined) == (first, last)  # splitting again changes nothing


@FUZZ
@given(st.lists(st.lists(any_text, max_size=5), max_size=3))
def test_merge_tags_keeps_the_first_spelling_of_each(lists: list[list[str]]) -> None:
    merged = merge_tags(*lists)
    folded = [tag.casefold() for tag in merged]
    assert len(folded) == len(set(folded))
    assert {tag.casefold() for tags in lists for tag in tags} == set(folded)


# --- records through every mapping ---------------------------------------------------------


def _through_meetergo_side(contact: CanonicalContact, opts: MappingOptions) -> MeetergoContact:
    """What meetergo would hold after `to_meetergo_create`, read back as a record."""
    body = to_meetergo_create(contact, opts).body()
    assert_json(body)
    assert "email" in body
    return MeetergoContact.model_validate({"id": "m-new", **body})


@FUZZ
@given(meetmatch_contacts(), options(), st.sampled_from(POLICIES), meetergo_contacts())
def test_a_meetmatch_contact_through_every_mapping(
    record: MeetMatchContact,
    opts: MappingOptions,
    policy: ConflictPolicy,
    current: MeetergoContact,
) -> None:
    canonical = from_meetmatch(record, opts)
    assert isinstance(canonical, CanonicalContact | EmailProblem)
    if isinstance(canonical, EmailProblem):
        assert normalize_email(record.email) is canonical
        return
    assert canonical.email == normalize_email(record.email)
    assert_hash_is_stable(canonical)
    held = _through_meetergo_side(canonical, opts)
    back = from_meetergo(held, opts)
    assert isinstance(back, CanonicalContact)  # the email written is the one that matched
    assert back.email == canonical.email
    assert_hash_is_stable(back)
    created = to_meetmatch_create(canonical, opts).model_dump(mode="json")
    assert_json(created)
    assert created["full_name"]
    draft = meetergo_patch(current, canonical, policy, opts)
    if draft is not None:
        assert_json(draft.body())
        assert "email" not in draft.body()


@FUZZ
@given(meetergo_contacts(), options())
def test_a_meetergo_contact_through_every_mapping(
    record: MeetergoContact, opts: MappingOptions
) -> None:
    canonical = from_meetergo(record, opts)
    assert isinstance(canonical, CanonicalContact | EmailProblem)
    if isinstance(canonical, EmailProblem):
        assert normalize_email(record.email) is canonical
        return
    assert_hash_is_stable(canonical)
    created = to_meetmatch_create(canonical, opts)
    assert_json(created.model_dump(mode="json"))
    again = from_meetmatch(MeetMatchContact.model_validate({"id": "x", **dict(created)}), opts)
    assert isinstance(again, CanonicalContact)
    assert again.email == canonical.email
    assert_hash_is_stable(again)
    assert_json(to_meetergo_create(canonical, opts).body())


@FUZZ
@given(json_objects, options())
def test_custom_field_keys_of_any_text_survive_the_round_trip(
    custom: dict[str, Any], opts: MappingOptions
) -> None:
    additional = custom_to_additional(custom, opts)
    assert_json(additional, utf8=not has_surrogate(custom))  # plain dicts: values kept as given
    back = additional_to_custom(additional, opts)
    reserved = {opts.tags_key}
    for key, value in custom.items():
        renamed = dict(opts.field_renames).get(key, key)
        if key in reserved or renamed in {opts.company_key, opts.lead_source_key}:
            continue
        assert back.get(key) == value


@FUZZ
@given(meetmatch_contacts(), st.lists(st.tuples(maybe_text, maybe_text), max_size=3))
def test_sightings_of_hostile_records_merge(
    contact: MeetMatchContact, others: list[tuple[str | None, str | None]]
) -> None:
    sightings = [prospect_from_contact(contact)]
    for n, (name, email) in enumerate(others):
        appointment = MeetMatchAppointment(
            id=f"a{n}", prospect_id=contact.id, prospect_name=name, prospect_email=email
        )
        form = MeetMatchFormSubmission(
            id=f"f{n}", prospect_id=contact.id, prospect_name=name, answers={name or "": email}
        )
        for found in (prospect_from_appointment(appointment), prospect_from_form(form)):
            if found is None:
                assert not contact.id.strip()  # only a blank prospect id names nobody
            else:
                sightings.append(found)
    merged = merge_prospects(sightings)
    assert merged == merge_prospects(list(reversed(sightings)))
    assert_json(merged.model_dump(mode="json", exclude={"created_at"}))


# --- depth ---------------------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


@pytest.mark.parametrize("policy", POLICIES)
def test_custom_fields_nested_as_deep_as_the_receiver_allows(policy: ConflictPolicy) -> None:
    """The receiver refuses JSON nested deeper than MAX_JSON_DEPTH; up to it, every mapping works
    (a deep copy, a hash and a pydantic dump each recurse once per level)."""
    opts = MappingOptions()
    deep = _nested(MAX_JSON_DEPTH - 3)  # envelope, data and custom_fields are levels too
    record = MeetMatchContact(id="c", email="deep@example.com", custom_fields={"deep": deep})
    canonical = from_meetmatch(record, opts)
    assert isinstance(canonical, CanonicalContact)
    assert_hash_is_stable(canonical)
    held = _through_meetergo_side(canonical, opts)
    assert held.additional_data["deep"] == deep
    current = MeetergoContact(id="m", email="deep@example.com", additionalData={"deep": [deep]})
    draft = meetergo_patch(current, canonical, policy, opts)
    if draft is not None:
        assert_json(draft.body())


# --- lone surrogates -----------------------------------------------------------------------


def test_a_lone_surrogate_anywhere_in_a_record_becomes_a_replacement_character() -> None:
    """Regression: vendor JSON's `\\ud800` escapes reached the records as lone surrogates, and
    `MeetergoDraft.body()`, `merge_prospects` and every dump of a record raised
    UnicodeEncodeError on one in a nested key (pydantic replaced top-level keys silently)."""
    opts = MappingOptions()
    record = MeetMatchContact.model_validate(
        {
            "id": "c\ud800",
            "full_name": "Ada \udfff",
            "email": "ada@example.com",
            "custom_fields": {"k": {"\ud800": ["\udc00", "\ud83d\ude00"]}},
        }
    )
    assert record.id == "c\ufffd" and record.full_name == "Ada \ufffd"
    assert record.custom_fields == {"k": {"\ufffd": ["\ufffd", "\U0001f600"]}}
    canonical = from_meetmatch(record, opts)
    assert isinstance(canonical, CanonicalContact)
    assert_json(to_meetergo_create(canonical, opts).body())
    assert_json(merge_prospects([prospect_from_contact(record)]).model_dump(mode="json"))
    held = MeetergoContact.model_validate(
        {
            "id": "m",
            "email": "ada@example.com",
            "tags": ["\ud800"],
            "additionalData": {"x": "\udfff"},
        }
    )
    assert held.tags == ["\ufffd"] and held.additional_data == {"x": "\ufffd"}
    draft = meetergo_patch(held, canonical, "source_wins", opts)
    assert draft is not None
    assert_json(draft.body())
