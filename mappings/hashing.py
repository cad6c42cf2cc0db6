"""A fingerprint of everything meetbridge maps, for echo suppression.

The link table stores the hash of what was last written to and read from each side; an observation
with the same hash is a no-op. So the hash must ignore what is not a change (key order, tag order
and case: meetergo's tag lists compare case-insensitively everywhere else too) and must change with
anything that is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mappings.model import CanonicalContact


def content_hash(contact: CanonicalContact) -> str:
    """SHA-256 (hex) of the contact's canonical JSON."""
    payload = {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "company": contact.company,
        "lead_source": contact.lead_source,
        "tags": sorted({tag.casefold() for tag in contact.tags}),
        "custom": contact.custom,
    }
    text = json.dumps(
        payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )
    # "surrogatepass": vendor JSON may hold a lone surrogate escape, which must hash, not crash.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: object) -> Any:
    """Mappings that are not dicts (e.g. a read-only proxy) serialize like the dicts they wrap."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data and cannot be hashed")
