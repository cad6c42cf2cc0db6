"""Body size cap and database failure: 413 without reading on, 503 so the vendor retries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from connector.metrics import Metrics
from connector.store.database import open_engine
from connector.store.inbox import Inbox
from connector.store.state import Store
from tests.receiver.conftest import (
    MIB,
    TOKEN,
    Readiness,
    assert_nothing_stored,
    build_app,
    client_for,
    contact,
    encode,
    sign,
)

MEETERGO = f"/hooks/meetergo/{TOKEN}"
CHUNK = 64 * 1024


def padded(size: int) -> bytes:
    """A well-formed contact.created body of exactly `size` bytes (padded with spaces)."""
    raw = encode({"event": "contact.created", "data": contact()})
    return raw + b" " * (size - len(raw))


def flat_booking(size: int) -> bytes:
    raw = encode({"webhookType": "booking_created", "id": "b_1", "attendees": []})
    return raw + b" " * (size - len(raw))


class Chunks:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.raw), CHUNK):
            chunk = self.raw[start : start + CHUNK]
            self.pulled += len(chunk)
            yield chunk


def headers_for(path: str, raw: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if path == "/hooks/meetmatch":
        headers["X-MeetMatch-Signature"] = sign(raw)  # validly signed: only the size is wrong
    return headers


def body_for(path: str, size: int) -> bytes:
    return padded(size) if path == "/hooks/meetmatch" else flat_booking(size)


ENDPOINTS = [
    pytest.param("/hooks/meetmatch", id="meetmatch"),
    pytest.param(MEETERGO, id="meetergo"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("sending", ["content-length", "chunked", "content-length-lying-low"])
async def test_body_one_byte_over_1_mib_gets_413_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, path: str, sending: str
) -> None:
    raw = body_for(path, MIB + 1)
    headers = headers_for(path, raw)
    content: bytes | Chunks = raw
    if sending != "content-length":
        content = Chunks(raw)
    if sending == "content-length-lying-low":
        headers["Content-Length"] = "100"

    answer = await client.post(path, content=content, headers=headers)

    assert (answer.status_code, answer.json()) == (413, {"error": "body too large"})
    await assert_nothing_stored(inbox)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_declared_oversize_is_refused_before_reading(
    client: httpx.AsyncClient, inbox: Inbox, path: str
) -> None:
    raw = body_for(path, 2 * MIB)
    stream = Chunks(raw)
    headers = {**headers_for(path, raw), "Content-Length": str(len(raw))}

    answer = await client.post(path, content=stream, headers=headers)

    assert answer.status_code == 413
    assert stream.pulled == 0
    await assert_nothing_stored(inbox)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_body_of_exactly_1_mib_is_accepted(
    client: httpx.AsyncClient, inbox: Inbox, path: str
) -> None:
    raw = body_for(path, MIB)

    answer = await client.post(path, content=Chunks(raw), headers=headers_for(path, raw))

    assert answer.json() == {"status": "stored"}
    assert await inbox.depth() == 1


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_malformed_content_length_gets_400(
    client: httpx.AsyncClient, inbox: Inbox, path: str
) -> None:
    raw = body_for(path, 200)
    headers = {**headers_for(path, raw), "Content-Length": "12abc"}

    answer = await client.post(path, content=Chunks(raw), headers=headers)

    assert answer.status_code == 400
    await assert_nothing_stored(inbox)


@pytest.fixture
async def unreachable_inbox() -> AsyncIterator[Inbox]:
    store = Store(open_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    yield Inbox(store)
    await store.close()


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_database_failure_gets_503_so_the_vendor_retries(
    unreachable_inbox: Inbox,
    metrics: Metrics,
    readiness: Readiness,
    path: str,
) -> None:
    """The answer to a delivery that could not be stored. (That nothing is lost when the
    database comes back is shown on a real outage: tests/faults/test_live_faults.py.)"""
    app = build_app(unreachable_inbox, metrics, readiness)
    raw = body_for(path, 300)
    async with client_for(app) as client:
        answer = await client.post(path, content=raw, headers=headers_for(path, raw))
        scrape = await client.get("/metrics")

    assert (answer.status_code, answer.json()) == (503, {"error": "state database unavailable"})
    # /metrics still answers when the inbox depth cannot be read.
    assert scrape.status_code == 200
    assert b"meetbridge_webhook_requests_total" in scrape.content
