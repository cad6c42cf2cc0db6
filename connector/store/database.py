"""Opening the state database: URLs, engines and migrations.

Users write `sqlite:///meetbridge.db` or `postgresql+psycopg://…`; meetbridge runs on the async
drivers (aiosqlite, psycopg 3) and migrates with a short-lived sync connection at start, so a new
version's schema is in place before anything reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connector.errors import ConfigError, MeetbridgeError, StoreError
from connector.settings import redact_secrets, url_secrets

MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant: the advisory lock that serializes migrations on PostgreSQL.
MIGRATION_LOCK_KEY = 0x6D62_6D69


class SchemaBehindError(MeetbridgeError):
    """A dry run found the state database's schema older than this version's (it never migrates)."""


def redact(message: str, url: str) -> str:
    """`message` without the database password `url` carries (errors may quote the URL)."""
    return redact_secrets(message, url_secrets(url))


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError alike
        reason = redact(str(exc), url)
        raise ConfigError([f"state.url: not a database URL ({reason})"]) from None


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
    config = _alembic_config()
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


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest schema revision this version of meetbridge knows."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None: never migrated); reads, writes nothing."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, read through a read-only connection.

    SQLite's backup API copies committed data (a writer's WAL included) page by page; the
    read-only connection never checkpoints or changes the source file. When no process has the
    database open (no -wal/-shm beside it), it is read as immutable, so that not even those
    files are created. No source, no copy: the caller then starts from an empty database.
    """
    if not source.exists():
        return
    in_use = any(Path(f"{source}{suffix}").exists() for suffix in ("-wal", "-shm"))
    flags = "mode=ro" if in_use else "mode=ro&immutable=1"
    reader = sqlite3.connect(f"file:{quote(str(source.resolve()))}?{flags}", uri=True)
    writer = sqlite3.connect(target)
    try:
        reader.execute("PRAGMA busy_timeout=10000")
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def _read_only(url: str) -> str:
    """A PostgreSQL URL whose sessions refuse every write (a dry run must not write at all)."""
    target = async_url(url)
    options = target.query.get("options")
    extra = "-c default_transaction_read_only=on"
    joined = f"{options} {extra}" if isinstance(options, str) and options else extra
    return target.update_query_dict({"options": joined}).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def dry_run_url(url: str) -> AsyncIterator[str]:
    """A state URL a dry run can open (and migrate) without writing to `url`'s database.

    - SQLite: a private copy in a temporary directory, deleted afterwards; an empty one when
      the file does not exist yet (the dry run then creates no file). An older schema is
      migrated in the copy only.
    - PostgreSQL: the database itself, in read-only sessions; a schema behind this version's
      is refused (migrating is a write), naming the command that migrates it.
    """
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database in ("", ":memory:"):
            yield url
            return
        with tempfile.TemporaryDirectory(prefix="meetbridge-dry-run-") as folder:
            copy = Path(folder) / "state.db"
            try:
                await asyncio.to_thread(_sqlite_snapshot, Path(database), copy)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the state database {database}: {exc}") from exc
            yield f"sqlite:///{copy}"
        return
    try:
        current, head = await asyncio.to_thread(current_revision, url), head_revision()
    except SQLAlchemyError as exc:
        raise StoreError(redact(f"cannot read the state database: {exc}", url)) from None
    if current != head:
        raise SchemaBehindError(
            f"the state database's schema is at revision {current or 'none'}, this meetbridge "
            f"needs {head}; a dry run writes nothing, so it does not migrate. Run any other "
            "command once (e.g. `meetbridge check --config …`) to migrate it, then dry-run again"
        )
    yield _read_only(url)


def open_engine(url: str) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(target, pool_pre_ping=True)


__all__ = [
    "SQLAlchemyError",
    "SchemaBehindError",
    "async_url",
    "current_revision",
    "dry_run_url",
    "head_revision",
    "migrate",
    "open_engine",
    "redact",
    "sync_url",
]
