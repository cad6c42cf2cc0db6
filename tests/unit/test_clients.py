"""The API clients against exact vendor answers (respx): retries, budgets, error mapping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from connector.clients.budget import RateBudget
from connector.clients.meetergo import MeetergoClient
from connector.clients.meetmatch import MeetMatchClient
from connector.clients.retry import RetryPolicy
from connector.errors import (
    AuthError,
    RateLimitedError,
    RecordError,
    RetryableError,
    UncertainWriteError,
)
from connector.settings import MeetergoSettings, MeetMatchSettings
from mappings.records import MeetergoDraft, NewMeetMatchContact

MM = "https://mm.test/api"
MG = "https://mg.test"
CONTACT = {"id": "c1", "full_name": "Jordan Avery", "email": "jordan@acme.com"}
MG_CONTACT = {"id": "g1", "firstName": "Anna", "email": "anna@example.com", "tags": []}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def meetmatch(http: httpx.AsyncClient) -> MeetMatchClient:
    settings = MeetMatchSettings(base_url=MM, api_key="mm_live_k", requests_per_minute=60000)
    return MeetMatchClient(http, settings, RetryPolicy.no_wait(attempts=3))


def meetergo(http: httpx.AsyncClient, **extra: object) -> MeetergoClient:
    settings = MeetergoSettings(
        base_url=MG, api_key="mg_k", requests_per_minute=60000, bulk_per_minute=6000, **extra
    )
    return MeetergoClient(http, settings, RetryPolicy.no_wait(attempts=3))


@respx.mock
@pytest.mark.parametrize("shape", ["bare", "data", "results", "items"])
async def test_meetmatch_lists_accept_bare_and_wrapped_arrays(
    http: httpx.AsyncClient, shape: str
) -> None:
    body = [CONTACT] if shape == "bare" else {shape: [CONTACT]}
    route = respx.get(f"{MM}/contacts").respond(200, json=body)
    [contact] = await meetmatch(http).list_contacts()
    assert contact.full_name == "Jordan Avery"
    assert route.calls.last.request.url.params["limit"] == "100"
    assert route.calls.last.request.headers["authorization"] == "Bearer mm_live_k"


@respx.mock
async def test_meetmatch_create_tells_new_from_existing(http: httpx.AsyncClient) -> None:
    respx.post(f"{MM}/contacts").mock(
        side_effect=[httpx.Response(201, json=CONTACT), httpx.Response(200, json=CONTACT)]
    )
    client = meetmatch(http)
    new = NewMeetMatchContact(full_name="Jordan Avery", email="jordan@acme.com")
    assert (await client.create_contact(new))[1] is True
    assert (await client.create_contact(new))[1] is False


@respx.mock
async def test_server_errors_are_retried_then_succeed(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{MM}/contacts").mock(
        side_effect=[httpx.Response(500), httpx.Response(503), httpx.Response(200, json=[])]
    )
    assert await meetmatch(http).list_contacts() == []
    assert route.call_count == 3


@respx.mock
async def test_retries_are_bounded(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{MM}/contacts").respond(500)
    with pytest.raises(RetryableError):
        await meetmatch(http).list_contacts()
    assert route.call_count == 3


@respx.mock
async def test_client_errors_are_not_retried_and_name_the_request(
    http: httpx.AsyncClient,
) -> None:
    route = respx.post(f"{MM}/contacts").respond(400, json={"message": "email is invalid"})
    with pytest.raises(RecordError, match="email is invalid"):
        await meetmatch(http).create_contact(NewMeetMatchContact(full_name="X", email="x@y.io"))
    assert route.call_count == 1


@respx.mock
async def test_refused_keys_name_the_key_and_the_fix(http: httpx.AsyncClient) -> None:
    respx.get(f"{MM}/auth").respond(401, json={"error": "invalid_api_key"})
    with pytest.raises(AuthError) as caught:
        await meetmatch(http).auth()
    assert "meetmatch.api_key" in str(caught.value)
    assert "mm_live_k" not in str(caught.value)
    respx.get(f"{MG}/crm").respond(
        400,
        json={
            "statusCode": 400,
            "message": "Missing required header 'x-meetergo-api-user-id' for platform API keys",
            "error": "Bad Request",
        },
    )
    with pytest.raises(AuthError, match=r"meetergo\.api_user_id"):
        await meetergo(http).list_page()


@respx.mock
async def test_429_honours_retry_after(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{MG}/crm").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"Retry-After": "1"},
                json={"statusCode": 429, "message": "Too Many Requests"},
            ),
            httpx.Response(200, json={"result": [], "page": 1, "limit": 100, "total": 0}),
        ]
    )
    started = time.monotonic()
    await meetergo(http).list_page()
    assert route.call_count == 2
    assert time.monotonic() - started >= 0.9


@respx.mock
async def test_lost_create_answer_is_not_resent(http: httpx.AsyncClient) -> None:
    """meetergo does not dedupe: a create whose answer was lost must not simply be repeated."""
    route = respx.post(f"{MG}/crm").mock(side_effect=httpx.ReadError("connection reset"))
    with pytest.raises(UncertainWriteError):
        await meetergo(http).create(MeetergoDraft(email="a@example.com"))
    assert route.call_count == 1
    five_hundred = respx.post(f"{MG}/crm/bulk").respond(500)
    with pytest.raises(UncertainWriteError):
        await meetergo(http).bulk_create([MeetergoDraft(email="a@example.com")])
    assert five_hundred.call_count == 1


@respx.mock
async def test_lost_read_answer_is_retried(http: httpx.AsyncClient) -> None:
    page = {"result": [{"item": MG_CONTACT}], "page": 1, "limit": 100, "total": 1, "totalPages": 1}
    route = respx.get(f"{MG}/crm").mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(200, json=page)]
    )
    result = await meetergo(http).list_page()
    assert [c.email for c in result.contacts] == ["anna@example.com"]
    assert route.call_count == 2


@respx.mock
async def test_meetergo_rows_are_unwrapped_and_filters_repeat_their_key(
    http: httpx.AsyncClient,
) -> None:
    page = {
        "result": [{"item": MG_CONTACT, "appointments": []}],
        "page": 1,
        "limit": 100,
        "total": 1,
        "totalPages": 1,
    }
    route = respx.get(f"{MG}/crm").respond(200, json=page)
    result = await meetergo(http).list_page(tags=["Lead", "VIP"], search_term="anna")
    assert result.contacts[0].first_name == "Anna"
    assert route.calls.last.request.url.params.get_list("tags") == ["Lead", "VIP"]


@respx.mock
async def test_platform_keys_send_the_user_header_personal_tokens_do_not(
    http: httpx.AsyncClient,
) -> None:
    page = {"result": [], "page": 1, "limit": 1, "total": 0, "totalPages": 0}
    route = respx.get(f"{MG}/crm").respond(200, json=page)
    await meetergo(http, api_user_id="user-1").list_page(1, 1)
    assert route.calls.last.request.headers["x-meetergo-api-user-id"] == "user-1"
    await meetergo(http).list_page(1, 1)
    assert "x-meetergo-api-user-id" not in route.calls.last.request.headers


@respx.mock
async def test_bulk_spends_its_own_budget_and_the_general_one(http: httpx.AsyncClient) -> None:
    respx.post(f"{MG}/crm/bulk").respond(201, json={"success": True, "count": 1})
    client = meetergo(http)
    await client.bulk_create([MeetergoDraft(email="a@example.com")])
    assert client.bulk_budget.acquired == 1
    assert client.http.budget.acquired == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_a_burst_then_paces_evenly() -> None:
    clock = FakeClock()
    budget = RateBudget(requests_per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        assert budget.wait_time() == 0
        budget._tokens -= 1
    assert budget.wait_time() == pytest.approx(1.0)
    clock.now = 0.5
    assert budget.wait_time() == pytest.approx(0.5)
    clock.now = 10.0
    assert budget.wait_time() == 0
    budget.pause(5)
    assert budget.wait_time() == pytest.approx(5.0)


async def test_budget_never_exceeds_its_rate() -> None:
    budget = RateBudget(requests_per_minute=6000, burst=5)  # 100/s
    started = time.monotonic()
    for _ in range(25):
        await budget.acquire()
    # 5 at once, then 20 more at 100/s: at least 0.2 s.
    assert time.monotonic() - started >= 0.19


async def test_live_requests_go_before_waiting_background_ones() -> None:
    """A reconcile scan saturating the budget delays a webhook by at most one token."""
    from connector.clients.budget import background_work

    budget = RateBudget(requests_per_minute=1200, burst=1)  # one token every 50 ms
    order: list[str] = []

    async def scan() -> None:
        with background_work():
            for _ in range(10):
                await budget.acquire()
                order.append("scan")

    async def webhook() -> None:
        await asyncio.sleep(0.12)  # arrives while the scan is queued behind the bucket
        started = time.monotonic()
        await budget.acquire()
        order.append("live")
        assert time.monotonic() - started <= 0.05 + 0.02

    await asyncio.gather(scan(), webhook())
    assert "live" in order[:5], order


async def test_background_work_leaves_the_last_token_to_live_work() -> None:
    """A saturating scan keeps one token back: the next webhook request goes out at once."""
    from connector.clients.budget import background_work

    budget = RateBudget(requests_per_minute=600, burst=4)  # one token every 100 ms
    taken = 0

    async def scan() -> None:
        nonlocal taken
        with background_work():
            while True:
                await budget.acquire()
                taken += 1

    scanning = asyncio.create_task(scan())
    await asyncio.sleep(0.25)  # the scan has taken all it may: the burst less one, and refills
    assert taken >= 3
    started = time.monotonic()
    await budget.acquire()  # live
    assert time.monotonic() - started < 0.02
    scanning.cancel()
    with pytest.raises(asyncio.CancelledError):
        await scanning


async def test_background_steps_wait_while_live_work_is_applied() -> None:
    from connector.clients.budget import background_work, live_work, yield_to_live

    steps: list[str] = []

    async def reconcile() -> None:
        with background_work():
            for _ in range(3):
                await yield_to_live()
                steps.append("scan")

    async def webhook() -> None:
        with live_work():
            for _ in range(3):
                await asyncio.sleep(0.01)  # awaits inside live work: the scan must not step
                steps.append("live")

    await asyncio.gather(webhook(), reconcile())
    assert steps == ["live", "live", "live", "scan", "scan", "scan"]


@respx.mock
async def test_read_timeouts_are_retried_for_reads(http: httpx.AsyncClient) -> None:
    page = {"result": [{"item": MG_CONTACT}], "page": 1, "limit": 100, "total": 1, "totalPages": 1}
    route = respx.get(f"{MG}/crm").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.ConnectTimeout("slower"),
            httpx.Response(200, json=page),
        ]
    )
    result = await meetergo(http).list_page()
    assert [c.email for c in result.contacts] == ["anna@example.com"]
    assert route.call_count == 3


@respx.mock
async def test_a_create_that_timed_out_is_not_resent(http: httpx.AsyncClient) -> None:
    """The request may have been applied before the answer timed out: the caller looks first."""
    route = respx.post(f"{MG}/crm").mock(side_effect=httpx.ReadTimeout("no answer in time"))
    with pytest.raises(UncertainWriteError, match="ReadTimeout"):
        await meetergo(http).create(MeetergoDraft(email="a@example.com"))
    assert route.call_count == 1


@respx.mock
async def test_a_create_that_could_not_connect_is_sent_again(http: httpx.AsyncClient) -> None:
    """Nothing reached the server, so resending a create cannot make it twice."""
    route = respx.post(f"{MG}/crm").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"item": MG_CONTACT}),
        ]
    )
    created = await meetergo(http).create(MeetergoDraft(email="anna@example.com"))
    assert created.id == "g1"
    assert route.call_count == 3


@respx.mock
async def test_connection_errors_are_bounded_by_attempts(http: httpx.AsyncClient) -> None:
    route = respx.get(f"{MM}/contacts").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(RetryableError, match="cannot connect"):
        await meetmatch(http).list_contacts()
    assert route.call_count == 3


@respx.mock
async def test_retries_stop_at_the_total_time_bound(http: httpx.AsyncClient) -> None:
    """Plenty of attempts left, but the request has used its time: it gives up, and soon."""
    route = respx.get(f"{MM}/contacts").respond(503)
    settings = MeetMatchSettings(base_url=MM, api_key="mm_live_k", requests_per_minute=60000)
    policy = RetryPolicy(attempts=1000, max_seconds=0.3, initial_wait=0.05, max_wait=0.05)
    client = MeetMatchClient(http, settings, policy)
    started = time.monotonic()
    with pytest.raises(RetryableError):
        await client.list_contacts()
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.0, elapsed
    assert 2 <= route.call_count < 20


async def test_a_long_retry_after_is_capped_by_the_total_time_bound() -> None:
    """The policy waits what a 429 asks, but never past its own bound (at least 1 s)."""
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise RateLimitedError("meetmatch", "GET /contacts: too many requests", 3600.0)

    policy = RetryPolicy(attempts=5, max_seconds=0.2, initial_wait=0, max_wait=0)
    started = time.monotonic()
    with pytest.raises(RateLimitedError):
        await policy.run(refused, idempotent=True)
    assert 0.9 <= time.monotonic() - started < 2.0
    assert calls == 2  # one wait of the capped second, then the time bound stops it


def _page(request: httpx.Request, pages: int) -> object:
    number = int(request.url.params["page"])
    rows = [{"item": {**MG_CONTACT, "id": f"g{number}"}}]
    return {"result": rows, "page": number, "limit": 100, "total": pages, "totalPages": pages}


@respx.mock
async def test_meetergo_walk_reads_ahead_and_yields_pages_in_order(
    http: httpx.AsyncClient,
) -> None:
    in_flight, peak = [0], [0]

    async def answer(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.01)  # a round trip: pages asked for meanwhile overlap it
        in_flight[0] -= 1
        return httpx.Response(200, json=_page(request, 9))

    route = respx.get(f"{MG}/crm").mock(side_effect=answer)
    pages = [p async for p in meetergo(http).iter_pages(ahead=3)]
    assert [p.contacts[0].id for p in pages] == [f"g{n}" for n in range(1, 10)]
    assert route.call_count == 9  # each page once, none past the last
    assert peak[0] == 3


@respx.mock
async def test_meetergo_walk_stops_its_read_ahead_when_a_page_fails(
    http: httpx.AsyncClient,
) -> None:
    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "3":
            return httpx.Response(403, json={"statusCode": 403, "message": "Forbidden"})
        await asyncio.sleep(0.01)
        return httpx.Response(200, json=_page(request, 50))

    route = respx.get(f"{MG}/crm").mock(side_effect=answer)
    seen = []
    with pytest.raises(AuthError):
        async for page in meetergo(http).iter_pages(ahead=4):
            seen.append(page.page)
    assert seen == [1, 2]
    await asyncio.sleep(0.05)  # anything still running would ask for more pages now
    assert route.call_count <= 6  # page 1, then pages 2-5 read ahead, then at most one more
