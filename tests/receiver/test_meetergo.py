"""POST /hooks/meetergo/{token}: the path token authenticates; both envelopes are accepted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector.metrics import Metrics
from connector.sandbox.meetergo_bookings import envelope
from connector.store.inbox import Inbox
from tests.receiver.conftest import (
    TOKEN,
    Readiness,
    assert_nothing_stored,
    build_app,
    client_for,
    encode,
)

HOOK = f"/hooks/meetergo/{TOKEN}"


def booking(email: str = "grace@example.com") -> dict[str, Any]:
    """A booking as meetergo's booking_created carries it (the sandbox's shape)."""
    return {
        "id": "b_1",
        "start": "2030-01-02T10:00:00.000Z",
        "end": "2030-01-02T10:30:00.000Z",
        "location": "https://meet.meetergo.com/b_1",
        "isCancelled": False,
        "rescheduledAt": None,
        "meetingTypeId": "mt_1",
        "companyId": "co_1",
        "createdAt": "2030-01-01T09:00:00.000Z",
        "attendees": [
            {
                "id": "at_1",
                "email": email,
                "firstname": "Grace",
                "lastname": "Hopper",
                "fullname": "Grace Hopper",
                "phone": None,
                "timezone": "Europe/Berlin",
                "language": "en",
            }
        ],
        "hosts": [],
    }


async def post(client: httpx.AsyncClient, raw: bytes, path: str = HOOK) -> httpx.Response:
    return await client.post(path, content=raw, headers={"Content-Type": "application/json"})


async def test_both_envelopes_of_booking_created_are_stored(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    flat = envelope("flat", "booking_created", booking("flat@example.com"))
    wrapped = envelope("event_data", "booking_created", booking("wrapped@example.com"))
    assert "webhookType" in flat and "data" in wrapped

    answers = [await post(client, encode(body)) for body in (flat, wrapped)]

    assert [a.json() for a in answers] == [{"status": "stored"}, {"status": "stored"}]
    stored = await inbox.pending()
    assert [(d.vendor, d.event) for d in stored] == [("meetergo", "booking_created")] * 2
    assert [d.payload for d in stored] == [flat, wrapped]


@pytest.mark.parametrize("event", ["booking_rescheduled", "form_submission"])
async def test_other_consumed_events_are_stored(
    client: httpx.AsyncClient, inbox: Inbox, event: str
) -> None:
    answer = await post(client, encode(envelope("flat", event, booking())))

    assert answer.json() == {"status": "stored"}
    [delivery] = await inbox.pending()
    assert delivery.event == event


async def test_repeated_delivery_is_stored_once(client: httpx.AsyncClient, inbox: Inbox) -> None:
    raw = encode(envelope("flat", "booking_created", booking()))

    first, second = await post(client, raw), await post(client, raw)

    assert (first.json(), second.json()) == ({"status": "stored"}, {"status": "duplicate"})
    assert await inbox.depth() == 1


@pytest.mark.parametrize("event", ["booking_cancelled", "new_employee", "meeting_exploded"])
@pytest.mark.parametrize("style", ["flat", "event_data"])
async def test_events_not_consumed_are_acknowledged_and_not_stored(
    client: httpx.AsyncClient, inbox: Inbox, event: str, style: str
) -> None:
    answer = await post(client, encode(envelope(style, event, booking())))

    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    await assert_nothing_stored(inbox)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/hooks/meetergo/not-the-token", id="wrong"),
        pytest.param(f"/hooks/meetergo/{TOKEN[:-1]}", id="prefix"),
        pytest.param(f"/hooks/meetergo/{TOKEN}x", id="longer"),
        pytest.param(f"/hooks/meetergo/{TOKEN.upper()}", id="case"),
    ],
)
async def test_wrong_token_gets_404_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, path: str
) -> None:
    answer = await post(client, encode(envelope("flat", "booking_created", booking())), path)
    unknown_path = await post(client, b"{}", "/no/such/path")

    assert answer.status_code == 404
    # Indistinguishable from a path that does not exist.
    assert (answer.text, answer.headers["content-type"]) == (
        unknown_path.text,
        unknown_path.headers["content-type"],
    )
    await assert_nothing_stored(inbox)


async def test_empty_configured_token_refuses_everything(
    inbox: Inbox, metrics: Metrics, readiness: Readiness
) -> None:
    app = build_app(inbox, metrics, readiness, token="")
    raw = encode(envelope("flat", "booking_created", booking()))
    async with client_for(app) as client:
        answers = [await post(client, raw, path) for path in ("/hooks/meetergo/x", HOOK)]

    assert [a.status_code for a in answers] == [404, 404]
    await assert_nothing_stored(inbox)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"webhookType": "booking_created", ', id="malformed-json"),
        pytest.param(encode({"webhookType": 3, "id": "b_1"}), id="type-not-string"),
        pytest.param(encode({"id": "b_1", "attendees": []}), id="no-envelope"),
        pytest.param(encode({"event": "booking_created"}), id="event-without-data"),
        pytest.param(encode({"event": "booking_created", "data": "x"}), id="data-not-object"),
        pytest.param(encode(["booking_created"]), id="array-body"),
    ],
)
async def test_malformed_body_gets_400_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, raw: bytes
) -> None:
    answer = await post(client, raw)

    assert answer.status_code == 400
    assert "error" in answer.json()
    await assert_nothing_stored(inbox)
