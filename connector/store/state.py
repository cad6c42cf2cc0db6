"""The state store: every query meetbridge makes, behind plain Python types.

This package is the only code that imports SQLAlchemy; callers get `Link`, `DeadLetter` and
dicts, and SQLAlchemy errors leave as `StoreError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connector.errors import StoreConflictError, StoreError
from connector.store import tables as t
from connector.store.database import migrate, open_engine, redact


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Link:
    email: str
    meetmatch_id: str | None = None
    meetergo_id: str | None = None
    meetmatch_hash: str | None = None
    meetergo_hash: str | None = None
    origin: str = "both"
    state: str = "active"
    id: int | None = None

    def but(self, **changes: Any) -> Link:
        return replace(self, **changes)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    target: str
    operation: str
    source_side: str
    source_id: str
    email: str | None
    payload: dict[str, Any]
    error: str
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Skip:
    side: str
    record_id: str
    email: str | None
    reason: str
    detail: str | None


_LINK_COLUMNS = (
    "email",
    "meetmatch_id",
    "meetergo_id",
    "meetmatch_hash",
    "meetergo_hash",
    "origin",
    "state",
)


@dataclass(frozen=True)
class Synced:
    """What a record now in sync settles: its skip (if any), the open dead letters of the
    pair's records, and (`settle`) the MeetMatch sighting it came from."""

    skip: tuple[str, str] | None
    records: Sequence[tuple[str, str]]
    settle: str | None = None


# The statements every write runs, built once with bound parameters: building a statement
# costs about as much as running one, and this runs after every single write.
_SETTLE = (
    update(t.sightings)
    .where(t.sightings.c.meetmatch_id == bindparam("b_meetmatch_id"))
    .values(settled=True)
)
_CLEAR_SKIP = delete(t.skipped).where(
    t.skipped.c.side == bindparam("side"), t.skipped.c.record_id == bindparam("record_id")
)
_RESOLVE = (
    update(t.dead_letters)
    .where(
        t.dead_letters.c.resolved_at.is_(None),
        t.dead_letters.c.source_side == bindparam("side"),
        t.dead_letters.c.source_id == bindparam("record_id"),
    )
    .values(resolved_at=bindparam("now"))
)
_UPDATE_LINK = (
    update(t.links)
    .where(t.links.c.id == bindparam("link_id"))
    .values({name: bindparam(name) for name in (*_LINK_COLUMNS, "updated_at")})
)


def _upsert_link(dialect: Any) -> Any:
    """INSERT a link, or UPDATE the one holding its email; answers the link's id."""
    new = dialect.insert(t.links).values(
        {name: bindparam(name) for name in (*_LINK_COLUMNS, "created_at", "updated_at")}
    )
    return new.on_conflict_do_update(
        index_elements=["email"],
        set_={name: new.excluded[name] for name in (*_LINK_COLUMNS, "updated_at")},
    ).returning(t.links.c.id)


_UPSERT_LINK = {"postgresql": _upsert_link(postgresql), "sqlite": _upsert_link(sqlite)}


async def _record_synced(conn: AsyncConnection, synced: Synced) -> None:
    if synced.settle is not None:
        await conn.execute(_SETTLE, {"b_meetmatch_id": synced.settle})
    if synced.skip is not None:
        side, record_id = synced.skip
        await conn.execute(_CLEAR_SKIP, {"side": side, "record_id": record_id})
    if synced.records:
        now = utcnow()
        await conn.execute(
            _RESOLVE, [{"side": s, "record_id": r, "now": now} for s, r in synced.records]
        )


# Keys per IN (…) list: well below any backend's limit on bound parameters.
_IN_CHUNK = 500


def _insert_new(conn: AsyncConnection) -> Any:
    """The dialect's INSERT that can skip rows already there (SQLite and PostgreSQL both)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _new_id(result: Any) -> int:
    """The primary key an INSERT just made."""
    return int(result.inserted_primary_key[0])


def _link(row: Any) -> Link:
    return Link(id=row.id, **{name: getattr(row, name) for name in _LINK_COLUMNS})


class Store:
    """Async access to the state database; `await Store.open(url)` migrates first."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Statements sent to the database (an executemany counts once): what a benchmark reads
        # to show the state costs the same few indexed statements per contact at any size.
        self.statements = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._counted)
        # Errors quote what the driver says, which may include the URL: never its password.
        self._url = engine.url.render_as_string(hide_password=False)

    @classmethod
    async def open(cls, url: str) -> Store:
        import asyncio

        try:
            # Alembic is synchronous; keep the event loop free while it runs.
            await asyncio.to_thread(migrate, url)
        except SQLAlchemyError as exc:
            raise StoreError(redact(f"cannot migrate the state database: {exc}", url)) from None
        return cls(open_engine(url))

    def _counted(self, *_args: Any) -> None:
        self.statements += 1

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; SQLAlchemy errors leave as StoreError after the rollback."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            message = redact(f"state database refused a duplicate: {exc.orig}", self._url)
            raise StoreConflictError(message) from exc
        except SQLAlchemyError as exc:
            message = redact(f"state database: {exc.__class__.__name__}: {exc}", self._url)
            raise StoreError(message) from exc

    async def ping(self) -> None:
        async with self.tx() as conn:
            await conn.execute(select(1))

    # --- links -----------------------------------------------------------------------------

    async def all_links(self) -> list[Link]:
        async with self.tx() as conn:
            rows = await conn.execute(select(t.links))
            return [_link(row) for row in rows]

    async def links_holding(
        self,
        *,
        meetmatch_ids: Sequence[str] = (),
        meetergo_ids: Sequence[str] = (),
        emails: Sequence[str] = (),
    ) -> list[Link]:
        """Every link holding any of these keys (the batch lookups of planning)."""
        found: dict[int, Link] = {}
        async with self.tx() as conn:
            for column, values in (
                (t.links.c.meetmatch_id, meetmatch_ids),
                (t.links.c.meetergo_id, meetergo_ids),
                (t.links.c.email, emails),
            ):
                for start in range(0, len(values), _IN_CHUNK):
                    chunk = list(values[start : start + _IN_CHUNK])
                    for row in await conn.execute(select(t.links).where(column.in_(chunk))):
                        found[row.id] = _link(row)
        return list(found.values())

    async def linked_meetergo_ids(self, chunk: int = 1000) -> AsyncIterator[list[str]]:
        """The meetergo ids of live links (not tombstones), `chunk` at a time, by link id:
        all of them without holding all of them."""
        after = 0
        while True:
            async with self.tx() as conn:
                rows = list(
                    await conn.execute(
                        select(t.links.c.id, t.links.c.meetergo_id)
                        .where(
                            t.links.c.id > after,
                            t.links.c.meetergo_id.is_not(None),
                            t.links.c.state != "meetergo_deleted",
                        )
                        .order_by(t.links.c.id)
                        .limit(chunk)
                    )
                )
            if not rows:
                return
            after = rows[-1].id
            yield [row.meetergo_id for row in rows]

    async def find_link(
        self,
        *,
        email: str | None = None,
        meetmatch_id: str | None = None,
        meetergo_id: str | None = None,
    ) -> Link | None:
        """The link holding any of the given keys (ids first: the link is the truth)."""
        async with self.tx() as conn:
            for column, value in (
                (t.links.c.meetmatch_id, meetmatch_id),
                (t.links.c.meetergo_id, meetergo_id),
                (t.links.c.email, email),
            ):
                if value is None:
                    continue
                row = (await conn.execute(select(t.links).where(column == value))).first()
                if row is not None:
                    return _link(row)
        return None

    async def save_link(self, link: Link, synced: Synced | None = None) -> Link:
        """Insert or update a link (by id, else by email) and return it with its id; with
        `synced`, what the write that made it settles, in the same transaction (this runs
        after every write, so it is one round of statements, not three transactions)."""
        values: dict[str, Any] = {name: getattr(link, name) for name in _LINK_COLUMNS}
        values["updated_at"] = utcnow()
        async with self.tx() as conn:
            if link.id is not None:
                link_id = link.id
                await conn.execute(_UPDATE_LINK, {**values, "link_id": link_id})
            else:
                upsert = _UPSERT_LINK[conn.dialect.name]
                found = await conn.execute(upsert, {**values, "created_at": values["updated_at"]})
                link_id = found.scalar_one()
            if synced is not None:
                await _record_synced(conn, synced)
        return link.but(id=link_id)

    async def link_counts(self) -> dict[str, int]:
        async with self.tx() as conn:
            total = (await conn.execute(select(func.count()).select_from(t.links))).scalar_one()
            both = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.links)
                    .where(t.links.c.meetmatch_id.is_not(None), t.links.c.meetergo_id.is_not(None))
                )
            ).scalar_one()
            only: dict[str, int] = {}
            for side, held, missing in (
                ("meetmatch_only", t.links.c.meetmatch_id, t.links.c.meetergo_id),
                ("meetergo_only", t.links.c.meetergo_id, t.links.c.meetmatch_id),
            ):
                query = select(func.count()).select_from(t.links)
                query = query.where(held.is_not(None), missing.is_(None))
                only[side] = int((await conn.execute(query)).scalar_one())
            rows = await conn.execute(
                select(t.links.c.state, func.count()).group_by(t.links.c.state)
            )
            by_state = {str(state): int(n) for state, n in rows}
        return {
            "total": int(total),
            "both_sides": int(both),
            **only,
            **{k: int(v) for k, v in by_state.items()},
        }

    async def known_meetergo_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these meetergo ids meetbridge has linked or recorded as skipped."""
        if not ids:
            return set()
        async with self.tx() as conn:
            linked = await conn.execute(
                select(t.links.c.meetergo_id).where(t.links.c.meetergo_id.in_(list(ids)))
            )
            skipped = await conn.execute(
                select(t.skipped.c.record_id).where(
                    t.skipped.c.side == "meetergo", t.skipped.c.record_id.in_(list(ids))
                )
            )
            return {str(i) for (i,) in linked} | {str(i) for (i,) in skipped}

    async def links_since(self, moment: datetime) -> int:
        """Links made since `moment` (the status page's "synced today")."""
        async with self.tx() as conn:
            count = await conn.execute(
                select(func.count()).select_from(t.links).where(t.links.c.created_at >= moment)
            )
            return int(count.scalar_one())

    # --- sightings (MeetMatch people seen at least once) -----------------------------------

    async def record_sightings(
        self, seen: Iterable[tuple[str, str | None, dict[str, Any]]]
    ) -> set[str]:
        """Remember each (meetmatch id, email, payload); a person seen once is never forgotten.

        Returns the ids worth syncing: new, changed since last seen, or not settled yet. A poll
        sees the same newest records over and over; for the rest it need do nothing at all.
        """
        now = utcnow()
        fresh = {meetmatch_id: (email, payload) for meetmatch_id, email, payload in seen}
        if not fresh:
            return set()
        wanted: set[str] = set()
        async with self.tx() as conn:
            known = {
                row.meetmatch_id: row
                for row in await conn.execute(
                    select(
                        t.sightings.c.meetmatch_id, t.sightings.c.payload, t.sightings.c.settled
                    ).where(t.sightings.c.meetmatch_id.in_(list(fresh)))
                )
            }
            for meetmatch_id, (email, payload) in fresh.items():
                row = known.get(meetmatch_id)
                if row is None:
                    # A poll, a delivery and a reconcile may see a new person at once: the
                    # second insert is a no-op, not an error that fails its whole step.
                    await conn.execute(
                        _insert_new(conn)(t.sightings)
                        .values(
                            meetmatch_id=meetmatch_id,
                            email=email,
                            payload=payload,
                            settled=False,
                            first_seen=now,
                            last_seen=now,
                        )
                        .on_conflict_do_nothing(index_elements=["meetmatch_id"])
                    )
                    wanted.add(meetmatch_id)
                    continue
                if dict(row.payload) != payload:
                    # Changed: unsettled again until it is synced, so that a sync cut short
                    # (a crash, a failed read) is not mistaken for one done by the next poll.
                    await conn.execute(
                        update(t.sightings)
                        .where(t.sightings.c.meetmatch_id == meetmatch_id)
                        .values(email=email, payload=payload, last_seen=now, settled=False)
                    )
                    wanted.add(meetmatch_id)
                elif not row.settled:
                    wanted.add(meetmatch_id)
        return wanted

    async def unsettled_sightings(self) -> list[dict[str, Any]]:
        async with self.tx() as conn:
            rows = await conn.execute(
                select(t.sightings.c.payload).where(t.sightings.c.settled.is_(False))
            )
            return [dict(row.payload) for row in rows]

    async def get_sighting(self, meetmatch_id: str) -> dict[str, Any] | None:
        async with self.tx() as conn:
            payload = (
                await conn.execute(
                    select(t.sightings.c.payload).where(t.sightings.c.meetmatch_id == meetmatch_id)
                )
            ).scalar()
            return dict(payload) if payload is not None else None

    async def settle_sightings(self, meetmatch_ids: Sequence[str]) -> None:
        if not meetmatch_ids:
            return
        async with self.tx() as conn:
            await conn.execute(
                update(t.sightings)
                .where(t.sightings.c.meetmatch_id.in_(list(meetmatch_ids)))
                .values(settled=True)
            )

    # --- skipped ---------------------------------------------------------------------------

    async def record_skip(self, skip: Skip) -> None:
        now = utcnow()
        async with self.tx() as conn:
            done = await conn.execute(
                update(t.skipped)
                .where(t.skipped.c.side == skip.side, t.skipped.c.record_id == skip.record_id)
                .values(email=skip.email, reason=skip.reason, detail=skip.detail, last_seen=now)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(t.skipped).values(
                        side=skip.side,
                        record_id=skip.record_id,
                        email=skip.email,
                        reason=skip.reason,
                        detail=skip.detail,
                        first_seen=now,
                        last_seen=now,
                    )
                )

    async def record_synced(self, synced: Synced) -> None:
        """`Synced`'s bookkeeping on its own (a write that changed no link)."""
        async with self.tx() as conn:
            await _record_synced(conn, synced)

    async def skipped(self) -> list[Skip]:
        async with self.tx() as conn:
            rows = await conn.execute(select(t.skipped).order_by(t.skipped.c.id))
            return [Skip(r.side, r.record_id, r.email, r.reason, r.detail) for r in rows]

    # --- dead letters ----------------------------------------------------------------------

    async def add_dead_letter(
        self,
        *,
        target: str,
        operation: str,
        source_side: str,
        source_id: str,
        email: str | None,
        payload: dict[str, Any],
        error: str,
    ) -> int:
        """Park a failed write; an open one for the same write is updated, not doubled."""
        now = utcnow()
        async with self.tx() as conn:
            existing = (
                await conn.execute(
                    select(t.dead_letters.c.id, t.dead_letters.c.attempts).where(
                        t.dead_letters.c.target == target,
                        t.dead_letters.c.operation == operation,
                        t.dead_letters.c.source_side == source_side,
                        t.dead_letters.c.source_id == source_id,
                        t.dead_letters.c.resolved_at.is_(None),
                    )
                )
            ).first()
            if existing is not None:
                await conn.execute(
                    update(t.dead_letters)
                    .where(t.dead_letters.c.id == existing.id)
                    .values(
                        payload=payload,
                        error=error,
                        attempts=existing.attempts + 1,
                        updated_at=now,
                    )
                )
                return int(existing.id)
            result = await conn.execute(
                insert(t.dead_letters).values(
                    target=target,
                    operation=operation,
                    source_side=source_side,
                    source_id=source_id,
                    email=email,
                    payload=payload,
                    error=error,
                    attempts=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            return _new_id(result)

    async def open_dead_letters(self, ids: Sequence[int] = ()) -> list[DeadLetter]:
        query = select(t.dead_letters).where(t.dead_letters.c.resolved_at.is_(None))
        if ids:
            query = query.where(t.dead_letters.c.id.in_(list(ids)))
        async with self.tx() as conn:
            rows = await conn.execute(query.order_by(t.dead_letters.c.id))
            return [
                DeadLetter(
                    r.id,
                    r.target,
                    r.operation,
                    r.source_side,
                    r.source_id,
                    r.email,
                    dict(r.payload),
                    r.error,
                    r.attempts,
                    r.created_at,
                    r.updated_at,
                )
                for r in rows
            ]

    async def count_open_dead_letters(self) -> int:
        async with self.tx() as conn:
            count = await conn.execute(
                select(func.count())
                .select_from(t.dead_letters)
                .where(t.dead_letters.c.resolved_at.is_(None))
            )
            return int(count.scalar_one())

    async def resolve_dead_letter(self, letter_id: int) -> None:
        async with self.tx() as conn:
            await conn.execute(
                update(t.dead_letters)
                .where(t.dead_letters.c.id == letter_id)
                .values(resolved_at=utcnow())
            )

    async def dead_letter_failed_again(self, letter_id: int, error: str) -> None:
        """A replay failed before it could write: count the try (it sets the next backoff)."""
        async with self.tx() as conn:
            await conn.execute(
                update(t.dead_letters)
                .where(t.dead_letters.c.id == letter_id)
                .values(attempts=t.dead_letters.c.attempts + 1, error=error, updated_at=utcnow())
            )

    async def start_run(self, kind: str) -> int:
        """Record a new run; runs still "running" from before are marked "interrupted".

        Only the holder of the writer lock starts runs, and it runs one at a time, so a run
        still open when the next one starts belongs to a process that died (a kill -9, a lost
        container): it never finishes, and `status` should say so rather than "running".
        """
        now = utcnow()
        async with self.tx() as conn:
            await conn.execute(
                update(t.sync_runs)
                .where(t.sync_runs.c.status == "running")
                .values(status="interrupted", finished_at=now)
            )
            result = await conn.execute(
                insert(t.sync_runs).values(kind=kind, started_at=now, status="running")
            )
            return _new_id(result)

    async def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        async with self.tx() as conn:
            await conn.execute(
                update(t.sync_runs)
                .where(t.sync_runs.c.id == run_id)
                .values(status=status, finished_at=utcnow(), summary=summary)
            )

    async def last_runs(self) -> dict[str, dict[str, Any]]:
        """The newest run of each kind: when it started and ended, and how it went."""
        async with self.tx() as conn:
            newest = (
                select(t.sync_runs.c.kind, func.max(t.sync_runs.c.id).label("id"))
                .group_by(t.sync_runs.c.kind)
                .subquery()
            )
            rows = await conn.execute(
                select(t.sync_runs).join(newest, newest.c.id == t.sync_runs.c.id)
            )
            return {
                r.kind: {
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "status": r.status,
                    "summary": r.summary,
                }
                for r in rows
            }

    async def get_cursor(self, name: str) -> str | None:
        async with self.tx() as conn:
            return (
                await conn.execute(select(t.cursors.c.value).where(t.cursors.c.name == name))
            ).scalar()

    async def set_cursor(self, name: str, value: str) -> None:
        async with self.tx() as conn:
            done = await conn.execute(
                update(t.cursors)
                .where(t.cursors.c.name == name)
                .values(value=value, updated_at=utcnow())
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(t.cursors).values(name=name, value=value, updated_at=utcnow())
                )
