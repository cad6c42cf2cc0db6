"""One writer at a time per state database, released by the operating system on any death.

Two backfills (or a backfill beside the daemon) working from the same state would each plan
creates for the same new people and make them twice. The lock is tied to something the OS or
the database frees when the holder dies, so a kill -9 never leaves a stale lock behind:
- SQLite: an exclusive `flock` on a file beside the database.
- PostgreSQL: a session advisory lock on a connection held for as long as the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

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


@contextlib.asynccontextmanager
async def writer_lock(url: str, name: str = "writer") -> AsyncIterator[None]:
    """Hold the state database's writer lock, or raise AlreadyRunningError at once."""
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database in ("", ":memory:"):
            yield  # a private in-memory database has no other writer
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
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    key = zlib.crc32(f"meetbridge:{name}".encode())
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach the state database for its writer lock: {exc}") from exc
    try:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
        if not row or not row[0]:
            raise _busy("see pg_locks")
        yield
    finally:
        await conn.close()  # closing the session releases the advisory lock
