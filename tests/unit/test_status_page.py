"""Who may see the status page, and that every value on it is escaped."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.settings import ReceiverSettings
from connector.status_page import StatusPage, age

FACTS: dict[str, Any] = {
    "links": {"total": 3, "both_sides": 2},
    "skipped_by_reason": [{"side": "meetergo", "reason": "no_email", "count": 4}],
    "dead_letters": [
        {
            "id": 7,
            "operation": "create",
            "target": "meetmatch",
            "source_side": "meetergo",
            "source_id": "g1",
            "email": "<script>alert(1)</script>@x.io",
            "error": "HTTP 500",
        }
    ],
    "inbox_depth": 0,
    "last_success": {"poll_meetmatch": None},
    "subscriptions": [],
    "synced_today": 1,
}


def _client(**receiver: Any) -> httpx.AsyncClient:
    async def facts() -> dict[str, Any]:
        return FACTS

    async def replay(_letter: int) -> str | None:
        return None

    page = StatusPage(ReceiverSettings(**receiver), facts, replay, lambda: [])
    app = Starlette(routes=page.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")


async def test_open_on_loopback_and_values_escaped() -> None:
    async with _client(host="127.0.0.1") as client:
        answer = await client.get("/")
    assert answer.status_code == 200
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
    assert 'data-kpi="linked pairs">2<' in answer.text


async def test_off_on_a_public_bind_without_credentials() -> None:
    async with _client(host="0.0.0.0") as client:
        assert (await client.get("/")).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Bearer s3cret-token"}, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}, 401),
        ({"Authorization": "Basic !!!"}, 401),
    ],
)
async def test_token_or_password_guard_a_public_bind(headers: dict[str, str], status: int) -> None:
    async with _client(host="0.0.0.0", status_token="s3cret-token", status_password="pw") as client:
        answer = await client.get("/", headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["www-authenticate"] == 'Basic realm="meetbridge"'


async def test_replay_needs_the_page_token() -> None:
    async with _client(host="127.0.0.1") as client:
        forged = await client.post("/status/replay/7", data={"token": "guess"})
    assert forged.status_code == 403


def test_ages_read_naturally() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert age(None, now) == "never"
    assert age("2026-01-01T11:59:30+00:00", now) == "30 s ago"
    assert age("2026-01-01T11:30:00", now) == "30 min ago"
    assert age("2026-01-01T06:00:00+00:00", now) == "6 h ago"
