"""meetergo rate budgets (100/min, bulk 3/min), webhooks (max 6), booking_created deliveries."""

from __future__ import annotations

import json

import httpx
import pytest

from connector.sandbox import MeetergoState, Sandbox

from .conftest import MG, FakeClock, Receiver

TOO_MANY = {"statusCode": 429, "message": "Too Many Requests", "error": "Too Many Requests"}
ENDPOINT = "http://127.0.0.1:8080/hooks/meetergo/token"


async def test_101st_request_in_a_minute_is_429(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    for _ in range(100):
        assert (await client.get("/meetergo/crm?limit=1", headers=MG)).status_code == 200
    refused = await client.get("/meetergo/crm?limit=1", headers=MG)
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert refused.headers["Retry-After"] == "1"  # 100/min refills one token every 0.6 s
    again = await client.get("/meetergo/crm?limit=1", headers=MG)
    assert again.status_code == 429  # a 429 costs no token, and time has not moved
    clock.advance(0.6)
    assert (await client.get("/meetergo/crm?limit=1", headers=MG)).status_code == 200
    counters = sandbox.meetergo.counters
    assert counters.rate_limited == 2
    assert counters.count("GET", "/crm", 429) == 2
    assert counters.requests == 103


async def test_retry_after_can_be_withheld(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.meetergo.send_retry_after = False
    sandbox.meetergo.set_limits(requests_per_minute=1, burst=1)
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 200
    refused = await client.get("/meetergo/crm", headers=MG)
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers


async def test_rate_limit_is_per_key(clock: FakeClock) -> None:
    sandbox = Sandbox(meetergo=MeetergoState(api_keys={"k1", "k2"}, burst=1, clock=clock))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        for key, expected in (("k1", 200), ("k1", 429), ("k2", 200)):
            response = await client.get("/meetergo/crm", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == expected


async def test_bulk_has_its_own_three_per_minute_budget(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    body = {"contacts": [{"email": "a@example.com"}]}
    statuses = [
        (await client.post("/meetergo/crm/bulk", headers=MG, json=body)).status_code
        for _ in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    refused = await client.post("/meetergo/crm/bulk", headers=MG, json=body)
    assert refused.json() == TOO_MANY
    assert refused.headers["Retry-After"] == "20"
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 200  # general ok
    clock.advance(20)
    assert (await client.post("/meetergo/crm/bulk", headers=MG, json=body)).status_code == 201
    assert len(sandbox.meetergo.all_contacts()) == 4
    assert sandbox.meetergo.counters.count("POST", "/crm/bulk", 201) == 4
    assert sandbox.meetergo.counters.count("POST", "/crm/bulk", 429) == 2


async def test_bulk_also_spends_the_general_budget(
    client: httpx.AsyncClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.meetergo.set_limits(requests_per_minute=100, burst=2)
    body = {"contacts": [{"email": "a@example.com"}]}

    async def bulk() -> int:
        return (await client.post("/meetergo/crm/bulk", headers=MG, json=body)).status_code

    assert await bulk() == 201
    assert (await client.get("/meetergo/crm", headers=MG)).status_code == 200
    assert await bulk() == 429  # general bucket empty, bulk bucket still has 2
    clock.advance(1.2)  # two general tokens back; the refused call took no bulk token
    assert [await bulk(), await bulk()] == [201, 201]
    assert await bulk() == 429


async def test_webhooks_crud_and_max_six(client: httpx.AsyncClient) -> None:
    ids = []
    for i in range(6):
        response = await client.post(
            "/meetergo/webhooks",
            headers=MG,
            json={"endpoint": f"https://example.com/{i}", "eventTypes": ["booking_created"]},
        )
        assert response.status_code == 201
        hook = response.json()
        assert set(hook) == {"id", "endpoint", "description", "eventTypes", "createdAt"}
        ids.append(hook["id"])
    seventh = await client.post(
        "/meetergo/webhooks",
        headers=MG,
        json={"endpoint": "https://example.com/7", "eventTypes": ["booking_created"]},
    )
    assert seventh.status_code == 400
    assert seventh.json()["statusCode"] == 400
    listed = (await client.get("/meetergo/webhooks", headers=MG)).json()
    assert [h["id"] for h in listed] == ids
    patched = await client.patch(
        f"/meetergo/webhooks/{ids[0]}", headers=MG, json={"description": "sync"}
    )
    assert patched.status_code == 200 and patched.json()["description"] == "sync"
    assert (await client.delete(f"/meetergo/webhooks/{ids[0]}", headers=MG)).status_code == 200
    assert (await client.delete(f"/meetergo/webhooks/{ids[0]}", headers=MG)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"endpoint": "http://example.com/x", "eventTypes": ["booking_created"]},
        {"endpoint": "https://example.com/x", "eventTypes": ["contact_created"]},
        {"endpoint": "https://example.com/x", "eventTypes": []},
    ],
)
async def test_webhook_validation(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert (await client.post("/meetergo/webhooks", headers=MG, json=body)).status_code == 400


async def register(client: httpx.AsyncClient) -> None:
    body = {"endpoint": ENDPOINT, "eventTypes": ["booking_created"]}
    assert (await client.post("/meetergo/webhooks", headers=MG, json=body)).status_code == 201


async def test_booking_creates_contact_and_delivers_flat_payload(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await register(client)
    response = await client.post(
        "/_sandbox/meetergo/bookings",
        json={
            "email": "jordan@acme.com",
            "firstname": "Jordan",
            "lastname": "Avery",
            "phone": "+1 555",
        },
    )
    assert response.status_code == 201
    await sandbox.drain_deliveries()
    assert len(receiver.calls) == 1
    path, headers, raw = receiver.calls[0]
    assert path == "/hooks/meetergo/token"
    assert not any(name.startswith("x-") for name in headers)  # no signature
    payload = json.loads(raw)
    assert payload["webhookType"] == "booking_created"
    assert set(payload) >= {
        "id",
        "start",
        "end",
        "location",
        "isCancelled",
        "rescheduledAt",
        "meetingTypeId",
        "companyId",
        "createdAt",
        "attendees",
        "hosts",
    }
    attendee = payload["attendees"][0]
    assert attendee["fullname"] == "Jordan Avery" and attendee["email"] == "jordan@acme.com"
    details = await client.get(f"/meetergo/crm/details?attendeeId={attendee['id']}", headers=MG)
    assert details.status_code == 200
    assert details.json()["item"]["firstName"] == "Jordan"
    assert details.json()["appointments"][0]["id"] == payload["id"]


async def test_booking_enriches_existing_contact_in_event_data_envelope(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await register(client)
    sandbox.meetergo.webhook_envelope = "event_data"
    existing = sandbox.meetergo.user_create_contact(email="Anna@Example.com", firstName="Anna")
    sandbox.meetergo.book("anna@example.com", "Annabel", "Müller", "+49 151 1", answers={"Q": "A"})
    await sandbox.drain_deliveries()
    payload = json.loads(receiver.calls[0][2])
    assert payload["event"] == "booking_created"
    assert payload["data"]["attendees"][0]["firstname"] == "Annabel"
    [contact] = sandbox.meetergo.all_contacts()
    assert contact["id"] == existing["id"]
    assert contact["firstName"] == "Anna"  # filled only when empty
    assert contact["lastName"] == "Müller" and contact["phoneNumber"] == "+49 151 1"
    assert contact["additionalData"] == {"Q": "A"}
    sandbox.meetergo.book("anna@example.com")
    assert "Recurring" in sandbox.meetergo.all_contacts()[0]["tags"]


async def test_duplicate_deliveries(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await register(client)
    sandbox.meetergo.duplicate_deliveries = True
    sandbox.meetergo.book("twice@example.com", "Two", "Times")
    await sandbox.drain_deliveries()
    assert len(receiver.calls) == 2
    assert receiver.calls[0][2] == receiver.calls[1][2]
    assert len(sandbox.meetergo.all_contacts()) == 1


async def test_user_contact_changes_fire_nothing(
    client: httpx.AsyncClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await register(client)
    created = await client.post("/_sandbox/meetergo/contacts", json={"email": "u@example.com"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    patched = await client.patch(f"/_sandbox/meetergo/contacts/{contact_id}", json={"tags": ["X"]})
    assert patched.json()["tags"] == ["X"]
    assert (await client.delete(f"/_sandbox/meetergo/contacts/{contact_id}")).status_code == 200
    assert (await client.delete(f"/_sandbox/meetergo/contacts/{contact_id}")).status_code == 404
    await sandbox.drain_deliveries()
    assert receiver.calls == []
    assert sandbox.meetergo.counters.requests == 1  # only the webhook registration
