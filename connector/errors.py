"""The one error tree of meetbridge, named by what the caller should do next.

    MeetbridgeError                  root: everything meetbridge raises on purpose
    ├── ConfigError                  fix the configuration (exit 2); names every bad key
    ├── AuthError                    a vendor refused the key (exit 3); names the key and the fix
    ├── RetryableError               try again later: 429, 5xx, timeouts, dropped connections
    │   ├── RateLimitedError         429, carries Retry-After when the vendor sent one
    │   └── UncertainWriteError      a write whose answer was lost: it may have been applied,
    │                                so look before writing again (never blindly repeat a create)
    ├── RecordError                  this record cannot be written as it is (400/404/409/422):
    │                                skip it, dead-letter it, move on; names the record
    ├── FatalError                   something meetbridge cannot work around (unexpected answer)
    └── StoreError                   the state database failed; nothing was half-written
        └── StoreConflictError       a write would break a uniqueness rule (an id linked twice):
                                     a problem of this record, not of the database

Library exceptions (httpx, SQLAlchemy, pydantic) are translated at the boundary with
`raise ... from exc`, so nothing above the clients and the store ever catches a library type.
"""

from __future__ import annotations


class MeetbridgeError(Exception):
    """Root of every error meetbridge raises on purpose."""


class ConfigError(MeetbridgeError):
    """The configuration cannot be loaded or is invalid; the message names each bad key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class AuthError(MeetbridgeError):
    """A vendor refused the configured key (401/403, or meetergo's missing user-id header)."""

    def __init__(self, vendor: str, key_name: str, detail: str, fix: str) -> None:
        self.vendor = vendor
        self.key_name = key_name
        super().__init__(f"{vendor} refused {key_name}: {detail}. Fix: {fix}")


class VendorError(MeetbridgeError):
    """An error answer from a vendor API; `status` is None when no answer arrived."""

    def __init__(self, vendor: str, message: str, status: int | None = None) -> None:
        self.vendor = vendor
        self.status = status
        super().__init__(f"{vendor}: {message}")


class RetryableError(VendorError):
    """Transient: the same request may succeed later (429, 5xx, timeouts, connection errors)."""


class RateLimitedError(RetryableError):
    """429: the vendor asks us to slow down, for `retry_after` seconds when it said so."""

    def __init__(self, vendor: str, message: str, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(vendor, message, 429)


class UncertainWriteError(RetryableError):
    """A write whose answer never arrived: it may or may not have been applied.

    A create must not simply be repeated after this (meetergo does not dedupe): the caller looks
    for the record first.
    """


class RecordError(VendorError):
    """The vendor rejected this one record (400/404/409/422); skip or dead-letter it."""


class FatalError(VendorError):
    """An answer meetbridge cannot interpret or work around."""


class StoreError(MeetbridgeError):
    """The state database is unreachable or refused a statement (transaction rolled back)."""


class StoreConflictError(StoreError):
    """A state write would break a uniqueness rule; the transaction was rolled back."""


def error_for_status(
    vendor: str, status: int, message: str, retry_after: float | None = None
) -> VendorError:
    """Turn a vendor's HTTP error status into the error that says what to do next.

    401/403 are not handled here: only the client knows which key and which fix to name.
    """
    if status == 429:
        return RateLimitedError(vendor, message or "too many requests", retry_after)
    if status >= 500 or status == 408:
        return RetryableError(vendor, f"HTTP {status}: {message}", status)
    if status in (400, 404, 405, 409, 410, 413, 422):
        return RecordError(vendor, f"HTTP {status}: {message}", status)
    return FatalError(vendor, f"unexpected HTTP {status}: {message}", status)
