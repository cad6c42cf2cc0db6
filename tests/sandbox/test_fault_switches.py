"""The fault switches the fault suite leans on: slow requests, drops, stalls, 429s, keys."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from connector.sandbox import Sandbox
from connector.sandbox.faults import DROP_BEFORE_MESSAGE

from .conftest import MG, MM


async def test_a_dropped_request_does_nothing(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.meetergo.faults.update({"drop_rate": 1.0})
    with pytest.raises(ConnectionResetError, match=DROP_BEFORE_MESSAGE):
        await client.post("/meetergo/crm", headers=MG, json={"email": "a@example.com"})
    assert sandbox.meetergo.all_contacts() == []
    assert sandbox.meetergo.counters.writes == 0
    assert sandbox.meetergo.counters.count("POST", "/crm", 0) == 1


async def test_slow_requests_take_longer_now_and_then(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetmatch.faults.update({"slow_rate": 0.5, "slow_seconds": 0.1, "seed": 4})
    took = []
    for _ in range(12):
        started = time.monotonic()
        assert (await client.get("/meetmatch/contacts", headers=MM)).status_code == 200
        took.append(time.monotonic() - started)
    slow = [t for t in took if t >= 0.1]
    assert 0 < len(slow) < len(took)


async def test_a_stalled_write_is_applied_before_its_answer(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetergo.faults.update({"stall_after_write": 0.3})
    answer = asyncio.create_task(
        client.post("/meetergo/crm", headers=MG, json={"email": "stall@example.com"})
    )
    await asyncio.sleep(0.15)
    assert not answer.done()
    assert [c["email"] for c in sandbox.meetergo.all_contacts()] == ["stall@example.com"]
    assert sandbox.meetergo.counters.stalled == 1
    assert (await answer).status_code == 201


@pytest.mark.parametrize("vendor", ["meetmatch", "meetergo"])
async def test_injected_429s_with_and_without_retry_after(
    client: httpx.AsyncClient, sandbox: Sandbox, vendor: str
) -> None:
    state = sandbox.meetmatch if vendor == "meetmatch" else sandbox.meetergo
    path, headers = ("/meetmatch/contacts", MM) if vendor == "meetmatch" else ("/meetergo/crm", MG)
    state.faults.update({"fail_next": [429], "retry_after": True})
    assert "Retry-After" in (await client.get(path, headers=headers)).headers
    state.faults.update({"fail_next": [429], "retry_after": False})
    refused = await client.get(path, headers=headers)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers


async def test_keys_can_be_revoked_scoped_and_restored(client: httpx.AsyncClient) -> None:
    async def keys(body: dict[str, object]) -> httpx.Response:
        return await client.post("/_sandbox/keys", json=body)

    body = {"full_name": "A", "email": "a@example.com"}
    assert (
        await keys({"vendor": "meetmatch", "key": "mm_live_sandbox", "scopes": ["read"]})
    ).status_code == 200
    assert (await client.get("/meetmatch/contacts", headers=MM)).status_code == 200
    assert (await client.post("/meetmatch/contacts", headers=MM, json=body)).status_code == 403
    await keys({"vendor": "meetmatch", "key": "mm_live_sandbox", "scopes": None})
    assert (await client.get("/meetmatch/contacts", headers=MM)).status_code == 401
    await keys({"vendor": "meetmatch", "key": "mm_live_sandbox", "scopes": ["read", "write"]})
    assert (await client.post("/meetmatch/contacts", headers=MM, json=body)).status_code == 201

    await keys({"vendor": "meetergo", "key": "mg_sandbox", "scopes": None})
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 401
    await keys({"vendor": "meetergo", "key": "mg_sandbox", "scopes": []})
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 200
    assert (await keys({"vendor": "meetergo", "key": "", "scopes": []})).status_code == 400
    assert (await keys({"vendor": "meetmatch", "key": "k", "scopes": ["admin"]})).status_code == 400
