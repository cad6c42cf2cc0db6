"""`backfill --dry-run` writes nothing: not to either vendor, not to the state database.

Opening a runtime migrates its store, so the dry run plans against a private copy of a SQLite
state (an empty one when there is none yet) and a read-only session on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, func, select

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import Settings, load_settings
from connector.store import tables as t
from connector.store.database import (
    MIGRATIONS,
    SchemaBehindError,
    current_revision,
    head_revision,
    sync_url,
)
from connector.sync.backfill import BackfillReport
from connector.sync.plans import Action, Side
from tests.conftest import config_dict


def _settings(url: str) -> Settings:
    return load_settings(None, config_dict(url))


async def _dry_run(sandbox: Sandbox, url: str) -> BackfillReport:
    transport = httpx.ASGITransport(app=sandbox.app)
    return await commands.dry_run_backfill(
        _settings(url), transport=transport, retry=RetryPolicy.no_wait()
    )


async def _backfill(sandbox: Sandbox, url: str) -> None:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(_settings(url), transport=transport, retry=RetryPolicy.no_wait()) as rt:
        await commands.backfill(rt)


def _seed(sandbox: Sandbox, prefix: str) -> None:
    for n in range(4):
        sandbox.meetergo.user_create_contact(firstName=f"G{n}", email=f"{prefix}g{n}@example.com")
        sandbox.meetmatch.add_contact(f"M {n}", f"{prefix}m{n}@example.com", notify=False)


def _no_writes(sandbox: Sandbox) -> None:
    stats = sandbox.stats()
    assert stats["meetergo"]["writes"] == 0 and stats["meetmatch"]["writes"] == 0


def _files(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


def _creates(report: BackfillReport) -> set[tuple[Side, str | None]]:
    return {(p.side, p.email) for p in report.plans if p.action is Action.CREATE}


async def test_a_dry_run_on_a_fresh_path_creates_no_file(sandbox: Sandbox, tmp_path: Path) -> None:
    _seed(sandbox, "a")
    state = tmp_path / "not-yet" / "state.db"

    report = await _dry_run(sandbox, f"sqlite:///{state}")

    assert len(_creates(report)) == 8
    assert report.summary.get(Side.MEETERGO, "created") == 4  # what would be done
    assert not state.parent.exists()  # no database, no lock file, not even the folder
    _no_writes(sandbox)


async def test_a_dry_run_leaves_an_existing_state_byte_identical(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _seed(sandbox, "a")
    await _backfill(sandbox, url)
    _seed(sandbox, "b")  # people the state does not know yet
    before = _files(tmp_path)
    sandbox.reset_counters()

    report = await _dry_run(sandbox, url)

    # Planned against the real state: only the new people are to be created.
    assert {email for _, email in _creates(report)} == {
        *(f"bg{n}@example.com" for n in range(4)),
        *(f"bm{n}@example.com" for n in range(4)),
    }
    assert _files(tmp_path) == before  # same files (no -wal, no -shm), same bytes
    _no_writes(sandbox)


async def test_a_dry_run_plans_on_an_older_schema_without_migrating_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    _migrate_to(url, "0001")
    assert current_revision(url) == "0001" != head_revision()
    before = _files(tmp_path)
    _seed(sandbox, "a")

    report = await _dry_run(sandbox, url)

    assert len(_creates(report)) == 8
    assert current_revision(url) == "0001"
    assert _files(tmp_path) == before
    _no_writes(sandbox)


async def test_a_dry_run_on_postgresql_reads_only(sandbox: Sandbox, postgres_url: str) -> None:
    # Never migrated: a dry run will not do it, and says what will.
    with pytest.raises(SchemaBehindError, match="meetbridge check"):
        await _dry_run(sandbox, postgres_url)
    assert current_revision(postgres_url) is None

    _seed(sandbox, "a")
    await _backfill(sandbox, postgres_url)
    _seed(sandbox, "b")
    counts = _row_counts(postgres_url)
    sandbox.reset_counters()

    report = await _dry_run(sandbox, postgres_url)

    assert len(_creates(report)) == 8
    assert _row_counts(postgres_url) == counts
    assert current_revision(postgres_url) == head_revision()
    _no_writes(sandbox)


def _migrate_to(url: str, revision: str) -> None:
    engine = create_engine(sync_url(url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(sync_url(url))
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.metadata.sorted_tables
        }
    engine.dispose()
    return counts
