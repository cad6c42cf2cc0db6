"""migrate-state: the whole state moves to another database and the sync carries on there."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.errors import ConfigError
from connector.runtime import open_runtime
from connector.sandbox.seed import seed_demo
from connector.settings import load_settings
from connector.store.copy_state import copy_state
from connector.store.state import Store
from tests.conftest import config_dict, make_sandbox


async def test_state_moves_and_the_next_backfill_writes_nothing(
    tmp_path: Path, any_state_url: str
) -> None:
    sandbox = make_sandbox()
    seed_demo(sandbox, meetergo=60, meetmatch=30, overlap=10)
    transport = httpx.ASGITransport(app=sandbox.app)
    source_settings = load_settings(None, config_dict(f"sqlite:///{tmp_path / 'old.db'}"))
    async with open_runtime(
        source_settings, transport=transport, retry=RetryPolicy.no_wait()
    ) as rt:
        await commands.backfill(rt)
        before = await commands.status(rt)
        copied = await copy_state(rt.store, any_state_url)
    assert copied["links"] == before["links"]["total"] > 0

    target_settings = load_settings(None, config_dict(any_state_url))
    async with open_runtime(
        target_settings, transport=transport, retry=RetryPolicy.no_wait()
    ) as rt:
        after = await commands.status(rt)
        assert after["links"] == before["links"]
        assert after["skipped_by_reason"] == before["skipped_by_reason"]
        assert after["last_runs"].keys() == before["last_runs"].keys()
        sandbox.reset_counters()
        await commands.backfill(rt)  # new rows get fresh ids past the copied ones
    assert sandbox.stats()["meetergo"]["writes"] + sandbox.stats()["meetmatch"]["writes"] == 0


async def test_a_target_with_data_is_refused(tmp_path: Path) -> None:
    source = await Store.open(f"sqlite:///{tmp_path / 'a.db'}")
    target_url = f"sqlite:///{tmp_path / 'b.db'}"
    busy = await Store.open(target_url)
    await busy.set_cursor("x", "1")
    await busy.close()
    with pytest.raises(ConfigError, match="already holds"):
        await copy_state(source, target_url)
    await source.close()
