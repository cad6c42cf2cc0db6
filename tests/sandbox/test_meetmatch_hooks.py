"""MeetMatch REST hooks: subscribe rules, signed deliveries, retries, 410 unsubscribes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest

from connector.sandbox import MeetMatchState, Sandbox

from .conftest import MM, Receiver

TARGET = "http://127.0.0.1:8080/hooks/meetmatch"


async def subscribe(client: httpx.AsyncClient, event: str, target: str = TARGET) -> str:
    response = await client.post(
        "/meetmatch/hooks", headers=MM, json={"target_url": target, "event": event}
    )
    assert response.status_code == 201
    hook_id: str = response.json()["id"]
    return hook_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_url": "http://example.com/x", "event": "contact.created"}, "target_url"),
        ({"target_url": "ftp://127.0.0.1/x", "event": "contact.created"}, "target_url"),
        ({"target_url": "https://example.com/x", "event": "contact.updated"}, "event"),
        ({"event": "contact.created"}, "target_url"),
    ],
)
async def test_subscribe_validation(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post("/meetmatch/hooks", headers=MM, json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "target",
    ["https://hooks.example.com/x", "http://localhost:9/x", "http://127.0.0.2/x", "http://[::1]/x"],
)
async def test_https_or_loopback_http_accepted(client: httpx.AsyncClient, target: str) -> None:
    await subscribe(client, "contact.created", target)


async def test_unsubscribe_is_idempotent(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    first = await subscribe(client, "contact.created")
    second = await subscribe(client, "contact.created")
    assert len(sandbox.meetmatch.hook_list()) == 2
    for hook_id in (first, first, "unknown"):
        response = await client.delete(f"/meetmatch/hooks/{hook_id}", headers=MM)
        assert response.status_code == 200
        assert response.json() == {"id": hook_id, "deleted": True}
    listed = (await client.get("/_sandbox/meetmatch/hooks")).json()
    assert [h["id"] for h in listed] == [second]
    assert (await client.get("/meetmatch/hooks", headers=MM)).status_code == 405


async def test_api_create_fires_signed_delivery(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await subscribe(client, "contact.created")
    await subscribe(client, "deal.created")
    created = await client.post(
        "/meetmatch/contacts", headers=MM, json={"full_name": "A B", "email": "ab@example.com"}
    )
    await client.post(  # an existing contact returned: no event
        "/meetmatch/contacts", headers=MM, json={"full_name": "A B", "email": "AB@example.com"}
    )
    await sandbox.drain_deliveries()
    assert len(receiver.calls) == 1
    path, headers, body = receiver.calls[0]
    assert path == "/hooks/meetmatch"
    assert headers["content-type"] == "application/json"
    assert headers["x-meetmatch-event"] == "contact.created"
    expected = hmac.new(b"whsec_sandbox", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-meetmatch-signature"], f"sha256={expected}")
    assert json.loads(body) == {"event": "contact.created", "data": created.json()}
    assert [(d.event, d.status) for d in sandbox.meetmatch.deliveries] == [("contact.created", 200)]


async def test_user_actions_fire_matching_events(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    for event in ("contact.created", "contact.created", "appointment.created", "form.submitted"):
        await subscribe(client, event)
    response = await client.post(
        "/_sandbox/meetmatch/appointments",
        json={"prospect_email": "new@example.com", "prospect_name": "New Person"},
    )
    assert response.status_code == 201
    await client.post("/_sandbox/meetmatch/deals", json={"prospect_email": "new@example.com"})
    await sandbox.drain_deliveries()
    events = sorted(headers["x-meetmatch-event"] for _, headers, _ in receiver.calls)
    # two subscriptions to contact.created each get the new prospect's contact
    assert events == ["appointment.created", "contact.created", "contact.created"]


async def test_failed_delivery_is_retried_three_times(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.statuses = [500, 502, 503, 500]
    sandbox.meetmatch.subscribe(TARGET, "contact.created")
    sandbox.meetmatch.add_contact("A", "a@example.com")
    await sandbox.drain_deliveries()
    assert [d.status for d in sandbox.meetmatch.deliveries] == [500, 502, 503, 500]
    assert [d.attempt for d in sandbox.meetmatch.deliveries] == [1, 2, 3, 4]


async def test_retry_succeeds_and_unreachable_target_is_recorded(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.statuses = [503, 200]
    sandbox.meetmatch.subscribe(TARGET, "contact.created")
    sandbox.meetmatch.add_contact("A", "a@example.com")
    await sandbox.drain_deliveries()
    assert [d.status for d in sandbox.meetmatch.deliveries] == [503, 200]

    sandbox.meetmatch.deliverer.transport = None  # a real connection to a closed port
    sandbox.meetmatch.deliverer.backoff = 0.0
    sandbox.meetmatch.hooks.clear()
    sandbox.meetmatch.subscribe("http://127.0.0.1:9/nothing", "contact.created")
    sandbox.meetmatch.add_contact("B", "b@example.com")
    await sandbox.drain_deliveries()
    failed = sandbox.meetmatch.deliveries[2:]
    assert len(failed) == 4
    assert all(d.status is None and d.error for d in failed)


async def test_gone_receiver_drops_the_subscription(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.statuses = [410]
    hook_id = sandbox.meetmatch.subscribe(TARGET, "contact.created")
    sandbox.meetmatch.add_contact("A", "a@example.com")
    await sandbox.drain_deliveries()
    assert [d.status for d in sandbox.meetmatch.deliveries] == [410]
    assert hook_id not in sandbox.meetmatch.hooks
    sandbox.meetmatch.add_contact("B", "b@example.com")
    await sandbox.drain_deliveries()
    assert len(receiver.calls) == 1


async def test_custom_secret_signs_deliveries(sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.meetmatch.webhook_secret = "rotated"
    sandbox.meetmatch.subscribe(TARGET, "contact.created")
    sandbox.meetmatch.add_contact("A", "a@example.com")
    await sandbox.drain_deliveries()
    _, headers, body = receiver.calls[0]
    digest = hmac.new(b"rotated", body, hashlib.sha256).hexdigest()
    assert headers["x-meetmatch-signature"] == f"sha256={digest}"


def test_events_raised_without_a_running_loop_wait_for_one(receiver: Receiver) -> None:
    sandbox = Sandbox(meetmatch=MeetMatchState(delivery_transport=receiver.transport))
    sandbox.meetmatch.subscribe(TARGET, "contact.created")
    sandbox.meetmatch.add_contact("A", "a@example.com")  # no event loop here
    assert sandbox.meetmatch.deliverer.pending == 1
    asyncio.run(sandbox.drain_deliveries())
    assert [d.status for d in sandbox.meetmatch.deliveries] == [200]
