"""One writer at a time per state database, released by the operating system on any death.

Two backfills (or a backfill beside the daemon) working from the same state would each plan
creates for the same new people and make them twice. The lock is tied to something the OS or
the database frees when the holder dies, so a kill -9 never leaves a stale lock behind:
- SQLite: an exclusive `flock` on a file beside the database.
- PostgreSQL: a session advisory lock on a connection held for as long as the lock. The holder
  checks the session every few seconds: if it died (and the lock with it), `LockHold.lost` is
  set, so the holder stops writing before a standby can have taken over for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg

from connector.errors import MeetbridgeError, StoreError
from connector.store.database import sync_url


class AlreadyRunningError(MeetbridgeError):
    """Another meetbridge process is writing through this state database."""


def _busy(holder: str) -> AlreadyRunningError:
    return AlreadyRunningError(
        f"another meetbridge process ({holder}) is syncing with this state database; "
        "wait for it to finish (a running `meetbridge run` keeps both sides in step on its own, "
        "stop it before a manual backfill)"
    )


# How often the holder of a PostgreSQL lock checks that its session (and so the lock) lives.
WATCH_SECONDS = 2.0


class LockHold:
    """A held writer lock. `lost` is set if the lock went away while held: the database
    session holding it died (server restart, a cut connection, an administrator's kill), so
    another process may hold it now and this one must stop writing at once."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()
        self.reason = ""


async def _watch(conn: psycopg.AsyncConnection[Any], hold: LockHold, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.wait_for(conn.execute("SELECT 1"), timeout=seconds)
        except (psycopg.Error, TimeoutError, OSError) as exc:
            hold.reason = f"the database session holding the writer lock failed: {exc}"
            hold.lost.set()
            return


@contextlib.asynccontextmanager
async def writer_lock(
    url: str, name: str = "writer", *, watch_seconds: float = WATCH_SECONDS
) -> AsyncIterator[LockHold]:
    """Hold the state database's writer lock, or raise AlreadyRunningError at once."""
    hold = LockHold()
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database in ("", ":memory:"):
            yield hold  # a private in-memory database has no other writer
            return
        path = Path(f"{database}.{name}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        # A local lock file opens at once; nothing here waits on the disk for long.
        with path.open("a+") as handle:  # noqa: ASYNC230
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise _busy(handle.read().strip() or "unknown") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            try:
                yield hold  # a flock lives as long as this process: it cannot be lost
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    key = zlib.crc32(f"meetbridge:{name}".encode())
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach the state database for its writer lock: {exc}") from exc
    watcher: asyncio.Task[None] | None = None
    try:
        try:
            found = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await found.fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"cannot take the writer lock: {exc}") from exc
        if not row or not row[0]:
            raise _busy("see pg_locks")
        watcher = asyncio.create_task(_watch(conn, hold, watch_seconds))
        yield hold
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        with contextlib.suppress(psycopg.Error, OSError):
            await conn.close()  # closing the session releases the advisory lock
