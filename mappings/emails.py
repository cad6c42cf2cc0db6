"""Email normalization: the key that makes the first match between the two vendors.

The normalized form is deliberately minimal (trimmed and case-folded, nothing removed): stripping
dots or `+tags` would merge addresses that a mail server treats as different people, and a wrong
merge is worse than a missed one. Syntax is checked offline only; mappings never touches DNS.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


class EmailProblem(Enum):
    """Why a record cannot be matched by email; the value is the skip reason `status` shows.

    A plain Enum, not a str one: callers tell a problem from an email with
    `isinstance(result, str)`, and a problem must never pass for an email (or equal another).
    """

    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"


# Pure and asked about the same address many times per sync step (the validator's parsing is
# the costliest part of a step's own work): a bounded cache.
@lru_cache(maxsize=8192)
def normalize_email(raw: str | None) -> str | EmailProblem:
    """The matching key for `raw`, or the reason it has none.

    The string that is checked is the string returned, so a normalized email is always one the
    syntax check accepted, and normalizing it again gives it back unchanged.
    """
    if raw is None or not raw.strip():
        return EmailProblem.NO_EMAIL
    candidate = raw.strip().casefold()
    try:
        # Every option is passed explicitly so that module-level defaults, which other code in the
        # process could change, cannot change what counts as valid here.
        checked = validate_email(
            candidate,
            allow_smtputf8=True,
            allow_empty_local=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            check_deliverability=False,
            test_environment=False,
            globally_deliverable=True,
        )
    except EmailNotValidError:
        return EmailProblem.INVALID_EMAIL
    # A display name ("Anna <a@x.io>") is not an address, even where the validator allows one.
    if getattr(checked, "display_name", None):
        return EmailProblem.INVALID_EMAIL
    return candidate
