"""An in-memory view of the link table for one run, written through to the store.

A backfill looks up thousands of links; one query loads them all, and every change is saved to
the store first and then mirrored here, so the view never claims what the database does not hold.
"""

from __future__ import annotations

from connector.store.state import Link, Store


class LinkIndex:
    def __init__(self, store: Store, links: list[Link], *, dry_run: bool = False) -> None:
        self._store = store
        self._dry_run = dry_run
        self._by_email: dict[str, Link] = {}
        self._by_meetmatch: dict[str, Link] = {}
        self._by_meetergo: dict[str, Link] = {}
        for link in links:
            self._remember(link)

    @classmethod
    async def load(cls, store: Store, *, dry_run: bool = False) -> LinkIndex:
        return cls(store, await store.all_links(), dry_run=dry_run)

    async def reload(self) -> None:
        """Forget everything and read every link again (after another writer, e.g. a scan)."""
        self._by_email.clear()
        self._by_meetmatch.clear()
        self._by_meetergo.clear()
        for link in await self._store.all_links():
            self._remember(link)

    def _remember(self, link: Link) -> None:
        old = self._by_email.get(link.email)
        if old is not None:
            self._forget(old)
        self._by_email[link.email] = link
        if link.meetmatch_id:
            self._by_meetmatch[link.meetmatch_id] = link
        if link.meetergo_id:
            self._by_meetergo[link.meetergo_id] = link

    def _forget(self, link: Link) -> None:
        if link.meetmatch_id and self._by_meetmatch.get(link.meetmatch_id) == link:
            del self._by_meetmatch[link.meetmatch_id]
        if link.meetergo_id and self._by_meetergo.get(link.meetergo_id) == link:
            del self._by_meetergo[link.meetergo_id]

    def find(
        self,
        *,
        meetmatch_id: str | None = None,
        meetergo_id: str | None = None,
        email: str | None = None,
    ) -> Link | None:
        """The link holding any of these keys, ids first: once linked, the ids are the truth."""
        if meetmatch_id and meetmatch_id in self._by_meetmatch:
            return self._by_meetmatch[meetmatch_id]
        if meetergo_id and meetergo_id in self._by_meetergo:
            return self._by_meetergo[meetergo_id]
        if email:
            return self._by_email.get(email)
        return None

    async def refresh(
        self,
        *,
        meetmatch_id: str | None = None,
        meetergo_id: str | None = None,
        email: str | None = None,
    ) -> Link | None:
        """Re-read one person's link from the store (another process may have written it)."""
        link = await self._store.find_link(
            email=email, meetmatch_id=meetmatch_id, meetergo_id=meetergo_id
        )
        if link is not None:
            self._remember(link)
        return link

    def meetergo_ids(self) -> set[str]:
        """meetergo ids of live links (a tombstoned contact is not looked for again)."""
        return {i for i, link in self._by_meetergo.items() if link.state != "meetergo_deleted"}

    async def save(self, link: Link) -> Link:
        if self._dry_run:
            return link
        saved = await self._store.save_link(link)
        self._remember(saved)
        return saved

    def __len__(self) -> int:
        return len(self._by_email)
