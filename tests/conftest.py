"""Shared fixtures: an in-process sandbox, settings pointing at it, and an open runtime."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.sandbox.meetmatch import MeetMatchState
from connector.settings import Settings, load_settings

# The vendors' limits scaled up 600x: the budget logic runs for real, tests stay fast.
SCALE = 600
MEETERGO_RPM = 100 * SCALE
MEETMATCH_RPM = 120 * SCALE
BULK_PER_MINUTE = 3 * SCALE


def make_sandbox(**meetergo: Any) -> Sandbox:
    limits: dict[str, Any] = {
        "requests_per_minute": MEETERGO_RPM,
        "burst": 100,
        "bulk_per_minute": BULK_PER_MINUTE,
        "bulk_burst": 3,
    }
    limits.update(meetergo)
    return Sandbox(
        meetmatch=MeetMatchState(requests_per_minute=MEETMATCH_RPM, burst=20),
        meetergo=MeetergoState(**limits),
    )


def config_dict(state_url: str, base: str = "http://sandbox") -> dict[str, dict[str, Any]]:
    return {
        "meetmatch": {
            "base_url": f"{base}/meetmatch",
            "api_key": "mm_live_sandbox",
            "requests_per_minute": MEETMATCH_RPM,
        },
        "meetergo": {
            "base_url": f"{base}/meetergo",
            "api_key": "mg_sandbox",
            "requests_per_minute": MEETERGO_RPM,
            "bulk_per_minute": BULK_PER_MINUTE,
        },
        "state": {"url": state_url},
        "retry": {"attempts": 4, "initial_wait_seconds": 0, "max_wait_seconds": 0},
    }


@pytest.fixture
def sandbox() -> Sandbox:
    return make_sandbox()


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


POSTGRES_URL = os.environ.get("MEETBRIDGE_TEST_POSTGRES_URL", "")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("MEETBRIDGE_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)")
    server = make_url(POSTGRES_URL)
    name = f"meetbridge_test_{uuid.uuid4().hex[:12]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def any_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on every backend: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_settings(state_url: str) -> Callable[..., Settings]:
    def build(**sections: dict[str, Any]) -> Settings:
        data = config_dict(state_url)
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        return load_settings(None, data)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def runtime(sandbox: Sandbox, settings: Settings) -> AsyncIterator[Runtime]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        yield rt
