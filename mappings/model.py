"""The canonical contact both vendors are translated into, and the options that shape translation.

Comparing, hashing and merging all happen on this one shape, so each vendor quirk is translated
once (in canonical.py) instead of in every rule that looks at a contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mappings.names import join_name
from mappings.tags import merge_tags


@dataclass(frozen=True)
class MappingOptions:
    """The user's choices that translation depends on (from the `[sync]` config section).

    `field_renames` maps MeetMatch `custom_fields` keys to meetergo `additionalData` keys. It must
    be one-to-one, or two fields would land on one key and one of them would be lost; that is
    checked here so a bad config fails at start-up rather than in the middle of a sync.
    """

    meetergo_tags: tuple[str, ...] = ("MeetMatch",)
    lead_source: str = "meetergo"
    field_renames: Mapping[str, str] = field(default_factory=dict)
    company_key: str = "company"
    lead_source_key: str = "leadSource"
    tags_key: str = "tags"
    default_region: str | None = None

    def __post_init__(self) -> None:
        renames = dict(self.field_renames)
        targets = list(renames.values())
        if len(set(targets)) != len(targets):
            doubled = sorted({t for t in targets if targets.count(t) > 1})
            raise ValueError(f"field_renames maps several fields onto {doubled}: need one-to-one")
        if self.company_key == self.lead_source_key:
            raise ValueError("company_key and lead_source_key must be two different keys")
        # Frozen in fact, not only in name: the caller's dict could otherwise change under us.
        object.__setattr__(self, "field_renames", MappingProxyType(renames))
        object.__setattr__(self, "meetergo_tags", tuple(self.meetergo_tags))


@dataclass(frozen=True)
class CanonicalContact:
    """One person as meetbridge compares them, whichever vendor they were read from.

    `email` and `phone` are normalized, `tags` are kept deduplicated (case-insensitively, first
    spelling and order kept) whatever the constructor is given, and `custom` uses MeetMatch's key
    names without the keys that hold first-class fields.
    """

    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    company: str | None
    lead_source: str | None
    tags: tuple[str, ...]
    custom: Mapping[str, Any]
    # The address as the source wrote it (trimmed, letter case kept): what is written to the
    # other side. Case-folding is for matching only; "Straße" and "strasse" are not one mailbox.
    address: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", merge_tags(self.tags))

    @property
    def email_to_write(self) -> str:
        return self.address or self.email

    @property
    def full_name(self) -> str | None:
        """The name as MeetMatch holds it (one string)."""
        return join_name(self.first_name, self.last_name)
