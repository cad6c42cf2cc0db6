"""Phone normalization: one spelling per number, so that formatting alone never looks like a change.

A number is rewritten to E.164 only when that loses nothing. Anything phonenumbers cannot place
with certainty (no country, a local-only number, an extension E.164 cannot carry, free text) is
kept as the person typed it: a phone field that syncs unchanged is better than one "corrected" into
someone else's number.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from mappings.text import clean_text


def normalize_phone(raw: str | None, default_region: str | None = None) -> str | None:
    """E.164 for a complete number, else the trimmed input; `None` for nothing.

    `default_region` (e.g. "DE") places numbers written without "+". Idempotent: an E.164 result
    parses back to itself, and a kept input takes the same path again.
    """
    text = clean_text(raw)
    if text is None:
        return None
    region = default_region.strip().upper() if default_region else None
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return text
    # IS_POSSIBLE_LOCAL_ONLY is excluded on purpose: a number dialled without its area code would
    # get the country code glued to the local part, which is a different number.
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return text
    if number.extension:
        return text
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
