"""GET /crm's order and search haystack over the simulated meetergo contacts, kept up to date.

A real meetergo answers a page from database indexes; sorting 100,000 contacts for every page,
or after every write, would make the simulator the slowest part of any benchmark. The index keeps
each sort's ascending order (built on first use, then updated by every write) and each contact's
searched fields case-folded. Answers stay the vendor's: rows tied on the sort key come back in a
new random order at each request, exactly as when everything is shuffled and sorted again.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterable

from .common import Json

# What GET /crm's searchTerm looks in, and a character no term of a real search holds.
SEARCHED = ("firstName", "lastName", "email", "phoneNumber")
SEPARATOR = "\x00"

SortKey = tuple[bool, str, str]


def sort_key(sort_by: str) -> Callable[[Json], SortKey]:
    """GET /crm's order: nulls after values ascending (first descending), createdAt breaks ties."""

    def key(contact: Json) -> SortKey:
        value = contact.get(sort_by)
        text = value.casefold() if isinstance(value, str) else ""
        return (value is None, text, contact["createdAt"])

    return key


def _fields(contact: Json) -> list[str]:
    return [(contact.get(name) or "").casefold() for name in SEARCHED]


def _haystack(contact: Json) -> str:
    return SEPARATOR.join(_fields(contact))


class ContactIndex:
    """Orders and haystacks over `contacts()`; call `add`/`remove` around every write."""

    def __init__(self, contacts: Callable[[], Iterable[Json]]) -> None:
        self._contacts = contacts
        # Per sort field: the contacts in ascending order, and the key each was filed under.
        self._orders: dict[str, tuple[list[Json], dict[str, SortKey]]] = {}
        # Per contact id: its searched fields case-folded, joined (one `in` test per contact).
        self._haystacks: dict[str, str] | None = None
        self._by_id: dict[str, Json] = {}

    def add(self, contact: Json) -> None:
        for sort_by, (ordered, keys) in self._orders.items():
            key = sort_key(sort_by)
            keys[contact["id"]] = key(contact)
            bisect.insort_right(ordered, contact, key=key)
        if self._haystacks is not None:
            self._haystacks[contact["id"]] = _haystack(contact)
            self._by_id[contact["id"]] = contact

    def remove(self, contact: Json) -> None:
        for sort_by, (ordered, keys) in self._orders.items():
            filed = keys.pop(contact["id"], None)
            if filed is None:
                continue
            index = bisect.bisect_left(ordered, filed, key=sort_key(sort_by))
            while ordered[index] is not contact:  # ties: the run is short, walk it
                index += 1
            del ordered[index]
        if self._haystacks is not None:
            self._haystacks.pop(contact["id"], None)
            self._by_id.pop(contact["id"], None)

    def _ascending(self, sort_by: str) -> list[Json]:
        if sort_by not in self._orders:
            key = sort_key(sort_by)
            ordered = sorted(self._contacts(), key=key)
            self._orders[sort_by] = (ordered, {c["id"]: key(c) for c in ordered})
        return self._orders[sort_by][0]

    def page(
        self, sort_by: str, descending: bool, start: int, limit: int, tie_order: random.Random
    ) -> tuple[list[Json], int]:
        """Rows `start` to `start + limit` of the whole list in that order, and its length."""
        ordered = self._ascending(sort_by)
        total = len(ordered)
        # Descending is ascending read backwards (ties are shuffled either way).
        lo, hi = (total - start - limit, total - start) if descending else (start, start + limit)
        lo, hi = max(0, lo), min(total, hi)
        key = sort_key(sort_by)
        window: list[Json] = []
        position = lo
        while position < hi:
            tie = key(ordered[position])
            run_start = bisect.bisect_left(ordered, tie, key=key)
            run_end = bisect.bisect_right(ordered, tie, key=key)
            run = ordered[run_start:run_end]
            tie_order.shuffle(run)
            window.extend(run[position - run_start : hi - run_start])
            position = run_end
        if descending:
            window.reverse()
        return window, total

    def matching(self, term: str) -> list[Json]:
        """Contacts whose searched fields hold `term` (already case-folded), in any order."""
        if self._haystacks is None:
            self._by_id = {c["id"]: c for c in self._contacts()}
            self._haystacks = {i: _haystack(c) for i, c in self._by_id.items()}
        if SEPARATOR in term:  # it could match across two fields: look field by field
            return [c for c in self._by_id.values() if any(term in f for f in _fields(c))]
        return [self._by_id[i] for i, fields in self._haystacks.items() if term in fields]
