"""Opening the state database: URLs, engines and migrations.

Users write `sqlite:///meetbridge.db` or `postgresql+psycopg://…`; meetbridge runs on the async
drivers (aiosqlite, psycopg 3) and migrates with a short-lived sync connection at start, so a new
version's schema is in place before anything reads it.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connector.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant: the advisory lock that serializes migrations on PostgreSQL.
MIGRATION_LOCK_KEY = 0x6D62_6D69


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError alike
        raise ConfigError([f"state.url: not a database URL ({exc})"]) from exc


def async_url(url: str) -> URL:
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ConfigError([f"state.url: unsupported database {backend!r} (use sqlite or postgresql)"])


def sync_url(url: str) -> URL:
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets `status` read while a backfill writes; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent), one process at a time.

    Several replicas may start together: on PostgreSQL a transaction-scoped advisory lock, on
    SQLite an exclusive lock on a file beside the database, makes the others wait and then find
    nothing left to do.
    """
    target = sync_url(url)
    sqlite_file = target.get_backend_name() == "sqlite" and target.database not in (
        None,
        "",
        ":memory:",
    )
    engine = create_engine(target)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with contextlib.ExitStack() as stack:
        if sqlite_file:
            path = Path(f"{target.database}.migrate.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(path.open("a"))
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
        try:
            with engine.begin() as connection:
                if target.get_backend_name() == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()


def open_engine(url: str) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(target, pool_pre_ping=True)


__all__ = ["SQLAlchemyError", "async_url", "migrate", "open_engine", "sync_url"]
