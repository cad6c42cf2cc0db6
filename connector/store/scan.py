"""A walk of all of meetergo, kept on disk instead of in memory.

A backfill (and the daemon's reconcile) must see every meetergo contact before it decides
anything: who shares an email with whom, which linked contacts are gone, whether the walk saw
everyone. Held in memory that costs a few kilobytes per contact, 100,000 contacts some hundreds
of megabytes. So the walk goes, page by page, into a scratch SQLite file with the indexes the
planning needs (by id, by normalized email, in row order), and the planning reads it back in
batches. The file is private to one run and removed with it; it lives beside no state
database, so a dry run (which must not write to the state) uses it as well.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Index, MetaData, String, Table, func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_metadata = MetaData()
_rows = Table(
    "scan",
    _metadata,
    Column("id", String, primary_key=True),
    Column("email", String),  # normalized; NULL without a usable one
    Column("row_key", String, nullable=False),  # oldest first, then by id
    Column("payload", JSON, nullable=False),
    Index("ix_scan_email", "email"),
    Index("ix_scan_row_key", "row_key"),
)

# SQLite's limit on bound parameters is far above this on any current build.
_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class ScanStore:
    """The contacts one walk of meetergo showed, each once (by id)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    @asynccontextmanager
    async def scratch(cls) -> AsyncIterator[ScanStore]:
        """A new, empty scan in a temporary file, removed on exit."""
        folder = Path(tempfile.mkdtemp(prefix="meetbridge-scan-"))
        engine = create_async_engine(f"sqlite+aiosqlite:///{folder / 'scan.db'}")
        try:
            async with engine.begin() as conn:
                # A scratch file: losing it in a crash costs nothing, the next run walks again.
                await conn.exec_driver_sql("PRAGMA journal_mode=OFF")
                await conn.exec_driver_sql("PRAGMA synchronous=OFF")
                await conn.run_sync(_metadata.create_all)
            yield cls(engine)
        finally:
            await engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)

    async def add(self, rows: Sequence[tuple[str, str | None, str, dict[str, Any]]]) -> None:
        """Add (id, normalized email, row key, payload) rows; ids already held are kept."""
        if not rows:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(_rows)
                .values(
                    [
                        {"id": i, "email": email, "row_key": key, "payload": payload}
                        for i, email, key, payload in rows
                    ]
                )
                .on_conflict_do_nothing(index_elements=["id"])
            )

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_rows))).scalar_one())

    async def by_email(self, emails: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Payloads by normalized email, in row order."""
        found: dict[str, list[dict[str, Any]]] = {}
        async with self._engine.connect() as conn:
            for chunk in _chunks(sorted(set(emails))):
                rows = await conn.execute(
                    select(_rows.c.email, _rows.c.payload)
                    .where(_rows.c.email.in_(list(chunk)))
                    .order_by(_rows.c.row_key)
                )
                for email, payload in rows:
                    found.setdefault(email, []).append(dict(payload))
        return found

    async def by_id(self, contact_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            payload = (
                await conn.execute(select(_rows.c.payload).where(_rows.c.id == contact_id))
            ).scalar()
            return dict(payload) if payload is not None else None

    async def present(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids the walk showed."""
        seen: set[str] = set()
        async with self._engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                rows = await conn.execute(select(_rows.c.id).where(_rows.c.id.in_(list(chunk))))
                seen.update(row.id for row in rows)
        return seen

    async def shared_emails(self) -> set[str]:
        """Emails held by more than one contact (an ambiguous match; usually very few)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(_rows.c.email)
                .where(_rows.c.email.is_not(None))
                .group_by(_rows.c.email)
                .having(func.count() > 1)
            )
            return {row.email for row in rows}

    async def batches(self, size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Every payload in row order, `size` at a time (keyset paging: no offset rescans)."""
        after = ""
        while True:
            async with self._engine.connect() as conn:
                rows = list(
                    await conn.execute(
                        select(_rows.c.row_key, _rows.c.payload)
                        .where(_rows.c.row_key > after)
                        .order_by(_rows.c.row_key)
                        .limit(size)
                    )
                )
            if not rows:
                return
            after = rows[-1].row_key
            yield [dict(row.payload) for row in rows]
