"""The tables the code declares are the tables the migrations make, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from connector.store.database import migrate, sync_url
from connector.store.tables import metadata


def test_migrations_and_table_metadata_do_not_drift(any_state_url: str) -> None:
    """What `alembic revision --autogenerate` would write after the migrations: nothing.

    Columns, types, nullability, indexes and unique constraints all compared; a table or an
    index added to tables.py without a migration (or the other way round) shows up here.
    """
    migrate(any_state_url)
    engine = create_engine(sync_url(any_state_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
