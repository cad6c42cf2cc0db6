"""A view of the link table for planning: what was fetched for the records at hand.

Planning asks about links synchronously (the planner is plain code over values), so the links
it may ask about are fetched first, in one query per batch of records (`prefetch`), and kept
here; every change is saved to the store first and then mirrored here, so the view never claims
what the database does not hold.

The view holds only what was fetched, never the whole table: 100,000 links would cost the
process tens of megabytes. A backfill fetches each batch's links and `clear`s them after the
batch; live sync keeps a bounded number of recent ones. A question about a record whose links
were not fetched is a bug, and `find` raises instead of answering "no link".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from connector.store.state import Link, Store, Synced

_KINDS = ("meetmatch", "meetergo", "email")


class NotFetchedError(LookupError):
    """A link was asked about that was never fetched: planning would have guessed."""


class LinkIndex:
    def __init__(self, store: Store, *, dry_run: bool = False, keep: int | None = None) -> None:
        """`keep`: how many looked-up keys to remember at most (None: until `clear`)."""
        self._store = store
        self._dry_run = dry_run
        self._keep = keep
        # For each kind of key, every key looked up: the link holding it, or None (no link).
        self._known: dict[str, OrderedDict[str, Link | None]] = {k: OrderedDict() for k in _KINDS}

    # --- fetching --------------------------------------------------------------------------

    async def prefetch(
        self,
        *,
        meetmatch_ids: Iterable[str | None] = (),
        meetergo_ids: Iterable[str | None] = (),
        emails: Iterable[str | None] = (),
    ) -> None:
        """Fetch (again) the links holding any of these keys, in as few queries as it takes."""
        wanted = {
            "meetmatch": sorted({k for k in meetmatch_ids if k}),
            "meetergo": sorted({k for k in meetergo_ids if k}),
            "email": sorted({k for k in emails if k}),
        }
        if not any(wanted.values()):
            return
        found = await self._store.links_holding(
            meetmatch_ids=wanted["meetmatch"],
            meetergo_ids=wanted["meetergo"],
            emails=wanted["email"],
        )
        for kind, keys in wanted.items():
            for key in keys:
                self._note(kind, key, None)
        for link in found:
            self._remember(link)
        self._trim()

    async def refresh(
        self,
        *,
        meetmatch_id: str | None = None,
        meetergo_id: str | None = None,
        email: str | None = None,
    ) -> Link | None:
        """Re-read one person's link from the store (another writer may have changed it)."""
        await self.prefetch(
            meetmatch_ids=[meetmatch_id], meetergo_ids=[meetergo_id], emails=[email]
        )
        return self.find(meetmatch_id=meetmatch_id, meetergo_id=meetergo_id, email=email)

    def clear(self) -> None:
        """Forget everything fetched (the batch is done, or another writer took over)."""
        for known in self._known.values():
            known.clear()

    # --- asking ----------------------------------------------------------------------------

    def find(
        self,
        *,
        meetmatch_id: str | None = None,
        meetergo_id: str | None = None,
        email: str | None = None,
    ) -> Link | None:
        """The link holding any of these keys, ids first: once linked, the ids are the truth."""
        for kind, key in (("meetmatch", meetmatch_id), ("meetergo", meetergo_id), ("email", email)):
            if not key:
                continue
            known = self._known[kind]
            if key not in known:
                raise NotFetchedError(f"the link of {kind} {key!r} was not fetched before planning")
            if known[key] is not None:
                return known[key]
        return None

    def peek(self, *, email: str) -> Link | None:
        """The link fetched for this email, if it was (an optimization's question: no error)."""
        return self._known["email"].get(email)

    # --- changing --------------------------------------------------------------------------

    async def save(self, link: Link, synced: Synced | None = None) -> Link:
        """Save a link (and `synced`, what its write settles) and remember it."""
        if self._dry_run:
            return link
        saved = await self._store.save_link(link, synced)
        self._remember(saved)
        return saved

    # --- bookkeeping -----------------------------------------------------------------------

    def _remember(self, link: Link) -> None:
        old = self._known["email"].get(link.email)
        if old is not None:
            for kind, key in (("meetmatch", old.meetmatch_id), ("meetergo", old.meetergo_id)):
                if key and self._known[kind].get(key) == old:
                    self._known[kind][key] = None
        self._note("email", link.email, link)
        if link.meetmatch_id:
            self._note("meetmatch", link.meetmatch_id, link)
        if link.meetergo_id:
            self._note("meetergo", link.meetergo_id, link)

    def _note(self, kind: str, key: str, link: Link | None) -> None:
        known = self._known[kind]
        known[key] = link
        known.move_to_end(key)

    def _trim(self) -> None:
        if self._keep is None:
            return
        for known in self._known.values():
            while len(known) > self._keep:
                known.popitem(last=False)

    def __len__(self) -> int:
        """Links held right now (by email)."""
        return sum(1 for link in self._known["email"].values() if link is not None)
