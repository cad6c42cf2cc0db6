"""Per-person write gate shared by live sync and the reconcile scan.

The reconcile scan plans from a snapshot of all of meetergo while live sync keeps writing. Two
writers for one person could both create them, so every write for a person is made holding that
person's gate (keyed by normalized email), after checking that the plan still stands.

The gate is per person, not global, on purpose: a global lock would make a webhook wait for
whatever reconcile write happens to hold it (a search, a create, their retries), and a reconcile
of 100,000 contacts would delay live work by far more than the one request slot the rate budget
promises. Keyed this way, live work only waits for a reconcile write about the same person.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PersonGate:
    """Async locks keyed by normalized email, created on demand and dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._owners: dict[str, asyncio.Task[object] | None] = {}

    @contextlib.asynccontextmanager
    async def hold(self, *emails: str | None) -> AsyncIterator[None]:
        """Hold the gates of every given person (None: a record without email, no gate).

        Several keys are taken in sorted order, so two holders of overlapping sets cannot
        deadlock each other. A task already holding a person's gate passes it again at once
        (a resync holds it around planning, and its writes take it once more).
        """
        me = asyncio.current_task()
        keys = sorted(
            {e for e in emails if e and (e not in self._owners or self._owners[e] is not me)}
        )
        async with contextlib.AsyncExitStack() as stack:
            for key in keys:
                self._users[key] = self._users.get(key, 0) + 1
                lock = self._locks.setdefault(key, asyncio.Lock())
                stack.callback(self._release_key, key)
                await stack.enter_async_context(lock)
                self._owners[key] = me
                stack.callback(self._owners.pop, key, None)
            yield

    def held_here(self, email: str | None) -> bool:
        """Whether the running task holds this person's gate already."""
        return (
            bool(email) and email in self._owners and self._owners[email] is asyncio.current_task()
        )

    def _release_key(self, key: str) -> None:
        self._users[key] -= 1
        if self._users[key] == 0:
            del self._users[key]
            del self._locks[key]

    def __len__(self) -> int:
        """Persons whose gate is held or awaited right now."""
        return len(self._locks)
