"""`meetbridge migrate-state`: copy the whole state to another database (SQLite → PostgreSQL).

The target is migrated to the newest schema first and must be empty, so a copy never merges two
histories. Rows keep their ids; PostgreSQL's id sequences are moved past them afterwards.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, text

from connector.errors import ConfigError
from connector.store import tables as t
from connector.store.state import Store

BATCH = 1000


async def copy_state(source: Store, target_url: str) -> dict[str, int]:
    """Copy every table of `source` into the (empty) database at `target_url`."""
    target = await Store.open(target_url)
    copied: dict[str, int] = {}
    try:
        tables = [table for table in t.metadata.sorted_tables]
        async with target.tx() as conn:
            for table in tables:
                held = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                if held:
                    raise ConfigError(
                        [
                            f"--to: the target already holds {held} row(s) in {table.name}; "
                            "copy into an empty database"
                        ]
                    )
        async with source.tx() as read, target.tx() as write:
            for table in tables:
                rows = [dict(row._mapping) for row in await read.execute(select(table))]
                for start in range(0, len(rows), BATCH):
                    await write.execute(insert(table), rows[start : start + BATCH])
                copied[table.name] = len(rows)
                if rows and "id" in table.c and write.dialect.name == "postgresql":
                    await write.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT MAX(id) FROM {table.name}))"
                        )
                    )
    finally:
        await target.close()
    return copied
