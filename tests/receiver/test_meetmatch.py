"""POST /hooks/meetmatch: verified before parsed, stored once, refused without a trace."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from connector.metrics import Metrics
from connector.receiver import MEETMATCH_EVENTS
from connector.store.inbox import Inbox
from tests.receiver.conftest import (
    OLD_SECRET,
    SECRET,
    Readiness,
    assert_nothing_stored,
    build_app,
    client_for,
    contact,
    encode,
    sign,
)


async def deliver(
    client: httpx.AsyncClient, raw: bytes, signature: str | None, **headers: str
) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if signature is not None:
        sent["X-MeetMatch-Signature"] = signature
    return await client.post("/hooks/meetmatch", content=raw, headers=sent)


async def test_signed_contact_is_stored_once_over_three_deliveries(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    body = {"event": "contact.created", "data": contact()}
    raw = encode(body)

    answers = [
        await deliver(client, raw, sign(raw), **{"X-MeetMatch-Event": "contact.created"})
        for _ in range(3)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json() for a in answers] == [
        {"status": "stored"},
        {"status": "duplicate"},
        {"status": "duplicate"},
    ]
    assert await inbox.depth() == 1
    assert await inbox.counts() == {"pending": 1}
    [delivery] = await inbox.pending()
    assert (delivery.vendor, delivery.event, delivery.payload) == (
        "meetmatch",
        "contact.created",
        body,
    )


async def test_delivery_signed_with_the_second_rotation_secret_is_accepted(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    raw = encode({"event": "contact.created", "data": contact()})

    answer = await deliver(client, raw, sign(raw, OLD_SECRET))

    assert (answer.status_code, answer.json()) == (200, {"status": "stored"})
    assert await inbox.depth() == 1


async def test_uppercase_hex_signature_is_accepted(client: httpx.AsyncClient, inbox: Inbox) -> None:
    raw = encode({"event": "contact.created", "data": contact()})
    prefix, digest = sign(raw).split("=")

    answer = await deliver(client, raw, f"{prefix}={digest.upper()}")

    assert answer.json() == {"status": "stored"}


async def test_every_known_event_is_stored(client: httpx.AsyncClient, inbox: Inbox) -> None:
    assert len(MEETMATCH_EVENTS) == 12
    for event in sorted(MEETMATCH_EVENTS):
        raw = encode({"event": event, "data": {"id": event, "prospect_email": "p@example.com"}})
        answer = await deliver(client, raw, sign(raw))
        assert answer.json() == {"status": "stored"}, event
    stored = await inbox.pending(limit=100)
    assert sorted(d.event for d in stored) == sorted(MEETMATCH_EVENTS)


async def test_unknown_event_is_acknowledged_and_not_stored(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    raw = encode({"event": "contact.deleted", "data": contact()})

    answer = await deliver(client, raw, sign(raw))

    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    await assert_nothing_stored(inbox)


def _other_signature(raw: bytes) -> str:
    return sign(raw + b" ")


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda raw: None, id="unsigned"),
        pytest.param(_other_signature, id="wrong-signature"),
        pytest.param(lambda raw: sign(raw, "a-secret-nobody-configured"), id="unknown-secret"),
        pytest.param(lambda raw: sign(raw).removeprefix("sha256="), id="no-prefix"),
        pytest.param(lambda raw: sign(raw).replace("sha256=", "sha1="), id="other-algorithm"),
        pytest.param(lambda raw: sign(raw)[:-1], id="short-digest"),
        pytest.param(lambda raw: sign(raw)[:-1] + "z", id="not-hex"),
        pytest.param(lambda raw: sign(raw) + "," + sign(raw), id="two-signatures"),
        pytest.param(lambda raw: "", id="empty"),
    ],
)
async def test_badly_signed_delivery_gets_401_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, signature: Any
) -> None:
    raw = encode({"event": "contact.created", "data": contact()})

    answer = await deliver(client, raw, signature(raw))

    assert (answer.status_code, answer.json()) == (401, {"error": "invalid signature"})
    await assert_nothing_stored(inbox)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"event": "contact.created", "data": {', id="malformed-json"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-text"),
        pytest.param(encode({"event": "contact.created"}), id="missing-data"),
        pytest.param(encode({"event": "contact.created", "data": [1]}), id="data-not-object"),
        pytest.param(encode({"event": 7, "data": contact()}), id="event-not-string"),
        pytest.param(encode({"data": contact()}), id="missing-event"),
        pytest.param(encode([{"event": "contact.created", "data": {}}]), id="array-body"),
        pytest.param(b'{"event": "contact.created", "data": {"x": NaN}}', id="nan"),
        pytest.param(b'{"event": "contact.created", "data": {"x": 1e999}}', id="overflow"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    ],
)
async def test_malformed_signed_body_gets_400_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, raw: bytes
) -> None:
    answer = await deliver(client, raw, sign(raw))

    assert answer.status_code == 400
    assert "error" in answer.json()
    await assert_nothing_stored(inbox)


async def test_event_header_contradicting_the_body_gets_400(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    raw = encode({"event": "contact.created", "data": contact()})

    answer = await deliver(client, raw, sign(raw), **{"X-MeetMatch-Event": "deal.won"})

    assert answer.status_code == 400
    await assert_nothing_stored(inbox)


async def test_an_empty_secret_verifies_nothing(
    inbox: Inbox, metrics: Metrics, readiness: Readiness
) -> None:
    # An HMAC under an empty key is one anybody can compute: it must not open the endpoint.
    app = build_app(inbox, metrics, readiness, secrets=("",))
    raw = encode({"event": "contact.created", "data": contact()})
    async with client_for(app) as client:
        answer = await deliver(client, raw, sign(raw, ""))

    assert answer.status_code == 401
    await assert_nothing_stored(inbox)


def test_a_single_string_is_not_taken_for_a_list_of_secrets(
    inbox: Inbox, metrics: Metrics, readiness: Readiness
) -> None:
    with pytest.raises(TypeError):
        build_app(inbox, metrics, readiness, secrets=SECRET)  # type: ignore[arg-type]


async def test_refusal_is_logged_with_reason_and_address_but_no_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    raw = encode({"event": "contact.created", "data": contact("secret-body-marker@example.com")})
    bad = sign(raw, "attacker-key")

    with caplog.at_level(logging.WARNING, logger="connector.receiver"):
        await deliver(client, raw, bad)

    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    line = record.getMessage()
    assert "signature matches no configured secret" in line
    assert "127.0.0.1" in line
    for leak in (bad.removeprefix("sha256="), SECRET, OLD_SECRET, "secret-body-marker"):
        assert leak not in line
