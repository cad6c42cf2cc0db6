"""The webhook inbox and the subscription registry, on the same database as the links.

The receiver only calls `enqueue` and answers; the worker claims pending deliveries, applies them
and marks them done, or pushes them back with a backoff. A delivery is keyed by a hash of its
vendor and raw body, so the same delivery twice (a vendor retry, a replayed capture) is stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from connector.errors import StoreConflictError
from connector.store import tables as t
from connector.store.state import Store, utcnow


@dataclass(frozen=True)
class Delivery:
    id: int
    vendor: str
    event: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Subscription:
    vendor: str
    event: str
    remote_id: str
    target_url: str


def delivery_key(vendor: str, raw_body: bytes) -> str:
    return hashlib.sha256(vendor.encode() + b"\0" + raw_body).hexdigest()


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def enqueue(self, vendor: str, event: str, raw_body: bytes, payload: Any) -> bool:
        """Store a delivery durably; False when the same delivery was stored before."""
        now = utcnow()
        try:
            async with self.store.tx() as conn:
                await conn.execute(
                    insert(t.inbox).values(
                        vendor=vendor,
                        event=event,
                        delivery_key=delivery_key(vendor, raw_body),
                        payload=payload,
                        state="pending",
                        attempts=0,
                        received_at=now,
                        available_at=now,
                    )
                )
        except StoreConflictError:
            return False
        return True

    async def pending(self, limit: int = 50) -> list[Delivery]:
        """Deliveries due now, oldest first."""
        async with self.store.tx() as conn:
            rows = await conn.execute(
                select(t.inbox)
                .where(and_(t.inbox.c.state == "pending", t.inbox.c.available_at <= utcnow()))
                .order_by(t.inbox.c.id)
                .limit(limit)
            )
            return [Delivery(r.id, r.vendor, r.event, dict(r.payload), r.attempts) for r in rows]

    async def done(self, delivery_id: int) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                update(t.inbox)
                .where(t.inbox.c.id == delivery_id)
                .values(state="done", processed_at=utcnow(), error=None)
            )

    async def retry_later(
        self,
        delivery: Delivery,
        error: str,
        delay: timedelta,
        *,
        give_up: bool = False,
        count: bool = True,
    ) -> None:
        """Push a delivery back (or park it as failed once it has been tried enough).

        `count=False`: the try was not the delivery's fault (a refused key) and does not bring
        it closer to being given up.
        """
        async with self.store.tx() as conn:
            await conn.execute(
                update(t.inbox)
                .where(t.inbox.c.id == delivery.id)
                .values(
                    state="failed" if give_up else "pending",
                    attempts=delivery.attempts + (1 if count else 0),
                    error=error,
                    available_at=utcnow() + delay,
                )
            )

    async def depth(self) -> int:
        async with self.store.tx() as conn:
            count = await conn.execute(
                select(func.count()).select_from(t.inbox).where(t.inbox.c.state == "pending")
            )
            return int(count.scalar_one())

    async def counts(self) -> dict[str, int]:
        async with self.store.tx() as conn:
            rows = await conn.execute(
                select(t.inbox.c.state, func.count()).group_by(t.inbox.c.state)
            )
            return {str(state): int(n) for state, n in rows}

    async def oldest_pending(self) -> datetime | None:
        async with self.store.tx() as conn:
            oldest: datetime | None = (
                await conn.execute(
                    select(func.min(t.inbox.c.received_at)).where(t.inbox.c.state == "pending")
                )
            ).scalar()
            return oldest


class Subscriptions:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[Subscription]:
        async with self.store.tx() as conn:
            rows = await conn.execute(select(t.subscriptions).order_by(t.subscriptions.c.id))
            return [Subscription(r.vendor, r.event, r.remote_id, r.target_url) for r in rows]

    async def add(self, subscription: Subscription) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                insert(t.subscriptions).values(
                    vendor=subscription.vendor,
                    event=subscription.event,
                    remote_id=subscription.remote_id,
                    target_url=subscription.target_url,
                    created_at=utcnow(),
                )
            )

    async def remove(self, vendor: str, remote_id: str) -> None:
        async with self.store.tx() as conn:
            await conn.execute(
                delete(t.subscriptions).where(
                    t.subscriptions.c.vendor == vendor, t.subscriptions.c.remote_id == remote_id
                )
            )
