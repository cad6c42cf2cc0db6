"""What the engine decides for one observation, and the tally of what a run did.

A plan is data: the backfill prints plans for `--dry-run`, groups meetergo creates into bulk
calls, and applies the rest one by one. Each plan names the side it concerns, the record that
caused it and, once applied, the link to remember.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connector.store.state import Link
from mappings.records import MeetergoContact, MeetergoDraft, NewMeetMatchContact


class Side(StrEnum):
    MEETMATCH = "meetmatch"
    MEETERGO = "meetergo"

    @property
    def other(self) -> Side:
        return Side.MEETERGO if self is Side.MEETMATCH else Side.MEETMATCH

    @property
    def label(self) -> str:
        return "MeetMatch" if self is Side.MEETMATCH else "meetergo"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    UNCHANGED = "unchanged"
    SKIP = "skip"


class SkipReason(StrEnum):
    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    AMBIGUOUS_MATCH = "ambiguous_match"
    DELETED_ON_OTHER_SIDE = "deleted_on_other_side"


@dataclass(frozen=True)
class Plan:
    """One decision. `side` is the side written (create/update) or whose record is concerned."""

    action: Action
    side: Side
    source_side: Side
    source_id: str
    email: str | None
    link: Link | None = None
    meetmatch_draft: NewMeetMatchContact | None = None
    meetergo_draft: MeetergoDraft | None = None
    meetergo_id: str | None = None
    reason: SkipReason | None = None
    detail: str | None = None
    # The record's own content hash, remembered on the link once the plan is applied.
    source_hash: str | None = None
    # The pair's other side, counted too: "linked" (or "unchanged") on both sides.
    also_link_side: Side | None = None
    # For meetergo creates from MeetMatch: settle this sighting once applied.
    settles: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        who = self.email or f"{self.source_side.label} {self.source_id}"
        if self.action is Action.SKIP:
            return f"skip {self.side.label} {self.source_id} ({who}): {self.reason}"
        if self.action is Action.CREATE:
            return f"create in {self.side.label}: {who} (from {self.source_side.label})"
        if self.action is Action.UPDATE:
            return f"update {self.side.label} {self.meetergo_id}: {who}"
        if self.action is Action.LINK:
            return f"link {who}"
        return f"unchanged {who}"


@dataclass
class Summary:
    """Counts per side and outcome, skips per side and reason, failures per side."""

    counts: Counter[tuple[Side, str]] = field(default_factory=Counter)
    skipped: Counter[tuple[Side, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # Called with (side, outcome) for every count; the daemon feeds its metrics from here.
    listeners: list[Callable[[str, str], None]] = field(default_factory=list)

    def _tell(self, side: Side, outcome: str, n: int = 1) -> None:
        for listener in self.listeners:
            for _ in range(n):
                listener(side.value, outcome)

    def add(self, side: Side, outcome: str, n: int = 1) -> None:
        self.counts[(side, outcome)] += n
        self._tell(side, outcome, n)

    def skip(self, side: Side, reason: str) -> None:
        self.skipped[(side, reason)] += 1
        self._tell(side, f"skipped_{reason}")

    def fail(self, side: Side, message: str) -> None:
        self.counts[(side, "failed")] += 1
        self.failures.append(message)
        self._tell(side, "failed")

    @property
    def failed(self) -> int:
        return sum(n for (_, outcome), n in self.counts.items() if outcome == "failed")

    def get(self, side: Side, outcome: str) -> int:
        return self.counts[(side, outcome)]

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for side in Side:
            row: dict[str, Any] = {
                outcome: self.counts[(side, outcome)]
                for outcome in ("created", "updated", "linked", "unchanged", "failed")
            }
            row["skipped"] = {
                reason: n for (s, reason), n in sorted(self.skipped.items()) if s is side
            }
            result[side.value] = row
        return result


def meetergo_row_key(contact: MeetergoContact) -> tuple[str, str]:
    """A deterministic order for meetergo contacts: oldest first, then by id."""
    created = contact.created_at.isoformat() if contact.created_at else ""
    return created, contact.id
