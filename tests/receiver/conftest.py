"""Fixtures for the receiver: a real inbox on SQLite, the app, and a client that forbids 410."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.metrics import Metrics
from connector.receiver import receiver_app
from connector.store.inbox import Inbox
from connector.store.state import Store

SECRET = "whsec-current-0f3a9c"
OLD_SECRET = "whsec-previous-77b1de"
TOKEN = "mgtok-5d1c0e8a4b7f4f2a9e6b3c1d0a9f8e7d"
MIB = 1024 * 1024


class Readiness:
    """A `ready` callable whose answer a test can change."""

    def __init__(self) -> None:
        self.reason: str | None = None

    async def __call__(self) -> str | None:
        return self.reason


def sign(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def contact(email: str = "ada@example.com") -> dict[str, Any]:
    return {"id": "c_1", "full_name": "Ada Lovelace", "email": email, "lead_source": "web"}


def build_app(
    inbox: Inbox,
    metrics: Metrics,
    ready: Readiness,
    *,
    secrets: tuple[str, ...] = (SECRET, OLD_SECRET),
    token: str = TOKEN,
) -> Starlette:
    return receiver_app(
        inbox, meetmatch_secrets=secrets, meetergo_token=token, metrics=metrics, ready=ready
    )


async def _never_gone(response: httpx.Response) -> None:
    # Zapier-style senders drop the subscription on 410: no answer may ever be one.
    assert response.status_code != 410


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://r",
        event_hooks={"response": [_never_gone]},
    )


async def assert_nothing_stored(inbox: Inbox) -> None:
    assert await inbox.depth() == 0
    assert (await inbox.counts()) == {}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path}/s.db")
    yield opened
    await opened.close()


@pytest.fixture
def inbox(store: Store) -> Inbox:
    return Inbox(store)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def app(inbox: Inbox, metrics: Metrics, readiness: Readiness) -> Starlette:
    return build_app(inbox, metrics, readiness)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as opened:
        yield opened
