"""/healthz, /readyz, /metrics, and what the receiver does with paths it does not serve."""

from __future__ import annotations

import httpx

from connector.metrics import Metrics
from connector.store.inbox import Inbox
from tests.receiver.conftest import TOKEN, Readiness, contact, encode, sign


async def test_healthz_says_the_process_is_up(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_readyz_follows_the_readiness_check(
    client: httpx.AsyncClient, readiness: Readiness
) -> None:
    ready = await client.get("/readyz")
    readiness.reason = "state database unavailable"
    not_ready = await client.get("/readyz")

    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (not_ready.status_code, not_ready.json()) == (
        503,
        {"status": "not ready", "reason": "state database unavailable"},
    )


async def test_metrics_count_the_answers_given(
    client: httpx.AsyncClient, inbox: Inbox, metrics: Metrics
) -> None:
    raw = encode({"event": "contact.created", "data": contact()})
    for _ in range(2):
        await client.post(
            "/hooks/meetmatch", content=raw, headers={"X-MeetMatch-Signature": sign(raw)}
        )
    await client.post("/hooks/meetmatch", content=raw)
    await client.post("/hooks/meetergo/wrong", content=b"{}")
    await client.post(f"/hooks/meetergo/{TOKEN}", content=b"{")

    answer = await client.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    for line in (
        'meetbridge_webhook_requests_total{status="200",vendor="meetmatch"} 2.0',
        'meetbridge_webhook_requests_total{status="401",vendor="meetmatch"} 1.0',
        'meetbridge_webhook_requests_total{status="404",vendor="meetergo"} 1.0',
        'meetbridge_webhook_requests_total{status="400",vendor="meetergo"} 1.0',
        'meetbridge_webhook_latency_seconds_count{vendor="meetmatch"} 3.0',
        'meetbridge_webhook_latency_seconds_count{vendor="meetergo"} 2.0',
        # Read from the inbox at scrape time: one stored, one duplicate.
        "meetbridge_inbox_depth 1.0",
    ):
        assert line in text.splitlines(), line


async def test_unserved_paths_and_methods_get_starlette_defaults(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/hooks/meetmatch")).status_code == 405
    assert (await client.get(f"/hooks/meetergo/{TOKEN}")).status_code == 405
    assert (await client.post("/healthz")).status_code == 405
    assert (await client.post("/hooks")).status_code == 404
    assert (await client.post("/hooks/meetergo")).status_code == 404
    assert (await client.get("/")).status_code == 404
