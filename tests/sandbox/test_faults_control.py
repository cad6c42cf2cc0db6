"""Faults (fail_next, error_rate, drop after write, latency), counters and the control API."""

from __future__ import annotations

import time

import httpx
import pytest

from connector.sandbox import Faults, Sandbox
from connector.sandbox.faults import DROP_MESSAGE

from .conftest import MG, MM


async def test_fail_next_answers_scripted_statuses_after_auth(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetergo.faults.fail_next = [500, 429, 503]
    unauthorized = await client.get("/meetergo/crm")
    assert unauthorized.status_code == 401  # auth comes first and does not use up a fault
    statuses = [(await client.get("/meetergo/crm", headers=MG)) for _ in range(4)]
    assert [r.status_code for r in statuses] == [500, 429, 503, 200]
    assert statuses[0].json()["statusCode"] == 500
    assert statuses[1].json()["message"] == "Too Many Requests"
    assert "Retry-After" in statuses[1].headers
    counters = sandbox.meetergo.counters
    assert counters.rate_limited == 1
    assert counters.count(path="/crm") == 5
    assert counters.count(status=500) == 1


async def test_injected_failures_apply_nothing(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.meetmatch.faults.fail_next = [500]
    body = {"full_name": "A", "email": "a@example.com"}
    failed = await client.post("/meetmatch/contacts", headers=MM, json=body)
    assert failed.status_code == 500
    assert failed.json()["error"] == "internal_error"
    assert sandbox.meetmatch.all_contacts() == []
    assert sandbox.meetmatch.counters.writes == 0  # it never reached the handler


async def test_write_error_rate_fails_writes_and_spares_reads(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetmatch.faults.write_error_rate = 1.0
    body = {"full_name": "A", "email": "a@example.com"}
    assert (await client.get("/meetmatch/contacts", headers=MM)).status_code == 200
    assert (await client.post("/meetmatch/contacts", headers=MM, json=body)).status_code == 500
    assert sandbox.meetmatch.all_contacts() == []


async def test_error_rate_is_repeatable_with_a_seed(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        sandbox = Sandbox()
        sandbox.meetmatch.faults = Faults(error_rate=0.5, seed=42)
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            return [(await http.get("/meetmatch/auth", headers=MM)).status_code for _ in range(20)]

    first, second = await run(), await run()
    assert first == second
    assert 500 in first and 200 in first


async def test_dropped_write_is_applied_but_the_answer_is_lost(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetergo.faults.drop_after_write_rate = 1.0
    with pytest.raises(ConnectionResetError, match=DROP_MESSAGE):
        await client.post("/meetergo/crm", headers=MG, json={"email": "a@example.com"})
    assert len(sandbox.meetergo.all_contacts()) == 1  # the write happened
    # reads are never dropped, failed writes neither
    assert (await client.get("/meetergo/crm", headers=MG)).json()["total"] == 1
    invalid = await client.post("/meetergo/crm", headers=MG, json={"firstName": "x"})
    assert invalid.status_code == 400
    counters = sandbox.meetergo.counters
    assert counters.dropped == 1
    assert counters.writes == 2  # the dropped one and the invalid one both reached the handler
    assert counters.count("POST", "/crm", 201) == 1


async def test_latency_delays_answers(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.meetmatch.faults.latency = 0.05
    started = time.perf_counter()
    assert (await client.get("/meetmatch/auth", headers=MM)).status_code == 200
    assert time.perf_counter() - started >= 0.05


async def test_counters_and_stats_endpoints(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    await client.get("/meetmatch/contacts", headers=MM)
    await client.post("/meetmatch/contacts", headers=MM, json={"full_name": "A"})  # 400
    await client.post("/meetergo/crm", headers=MG, json={"email": "a@example.com"})
    await client.get("/meetergo/crm", headers={"Authorization": "Bearer wrong"})
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["meetmatch"]["requests"] == 2 and stats["meetmatch"]["writes"] == 1
    assert stats["meetergo"]["requests"] == 2 and stats["meetergo"]["writes"] == 1
    assert {"method": "POST", "path": "/contacts", "status": 400, "count": 1} in stats["meetmatch"][
        "by_route"
    ]
    assert sandbox.meetergo.counters.count("GET", "/crm", 401) == 1
    reset = (await client.post("/_sandbox/reset-stats")).json()
    assert reset["meetmatch"]["requests"] == 0 and reset["meetergo"]["by_route"] == []
    assert sandbox.stats()["meetergo"]["requests"] == 0  # control calls are not counted


async def test_control_faults_and_limits(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.post(
        "/_sandbox/faults", json={"vendor": "meetergo", "fail_next": [503], "seed": 3}
    )
    assert response.status_code == 200
    assert response.json()["fail_next"] == [503]
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 503
    bad = await client.post("/_sandbox/faults", json={"vendor": "meetergo", "error_rate": 2})
    assert bad.status_code == 400
    assert (await client.post("/_sandbox/faults", json={"vendor": "x"})).status_code == 400

    limits = await client.post(
        "/_sandbox/limits", json={"vendor": "meetergo", "requests_per_minute": 10, "burst": 1}
    )
    assert limits.json()["burst"] == 1
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 200
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 429
    await client.post("/_sandbox/limits", json={"vendor": "meetmatch", "requests_per_minute": 1})
    assert (await client.get("/meetmatch/auth", headers=MM)).status_code == 200
    assert (await client.get("/meetmatch/auth", headers=MM)).status_code == 429
    await client.post("/_sandbox/limits", json={"vendor": "meetmatch", "requests_per_minute": None})
    assert (await client.get("/meetmatch/auth", headers=MM)).status_code == 200


async def test_control_options(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    ok = await client.post(
        "/_sandbox/options", json={"vendor": "meetmatch", "list_envelope": "data"}
    )
    assert ok.status_code == 200
    assert sandbox.meetmatch.list_envelope == "data"
    bad = await client.post("/_sandbox/options", json={"vendor": "meetmatch", "list_envelope": "x"})
    assert bad.status_code == 400
    bad = await client.post("/_sandbox/options", json={"vendor": "meetergo", "api_keys": []})
    assert bad.status_code == 400


async def test_control_listings_show_everything(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    for i in range(105):
        created = await client.post(
            "/_sandbox/meetmatch/contacts", json={"full_name": f"P{i}", "email": f"p{i}@x.io"}
        )
        assert created.status_code == 201
    await client.post("/_sandbox/meetergo/contacts", json={"firstName": "A", "email": "a@x.io"})
    assert len((await client.get("/_sandbox/meetmatch/contacts")).json()) == 105
    assert len((await client.get("/_sandbox/meetergo/contacts")).json()) == 1
    for kind in ("appointments", "deals", "outcomes", "form-submissions"):
        made = await client.post(f"/_sandbox/meetmatch/{kind}", json={"prospect_email": "p1@x.io"})
        assert made.status_code == 201, made.text
        listed = (await client.get(f"/_sandbox/meetmatch/{kind}")).json()
        assert listed[0]["prospect_email"] == "p1@x.io"
    missing = await client.post("/_sandbox/meetmatch/deals", json={"prospect_id": "nope"})
    assert missing.status_code == 404
    unknown = await client.post(
        "/_sandbox/meetmatch/appointments", json={"prospect_email": "new@x.io", "bogus": 1}
    )
    assert unknown.status_code == 400
    nobody = await client.post("/_sandbox/meetmatch/appointments", json={})
    assert nobody.status_code == 400
    assert len(sandbox.meetmatch.all_contacts()) == 105  # refused calls created no prospect
    assert (await client.get("/_sandbox/deliveries")).json() == {"meetmatch": [], "meetergo": []}
    assert sandbox.stats()["meetmatch"]["requests"] == 0
