"""Fixtures for the sandbox tests: an in-process client, a hand-driven clock, a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.sandbox import MeetergoState, MeetMatchState, Sandbox

MM = {"Authorization": "Bearer mm_live_sandbox"}
MG = {"Authorization": "Bearer mg_sandbox"}


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Receiver:
    """An in-process webhook receiver that records deliveries and answers scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.calls: list[tuple[str, dict[str, str], bytes]] = []

        async def endpoint(request: Request) -> Response:
            self.calls.append((request.url.path, dict(request.headers), await request.body()))
            status = self.statuses.pop(0) if self.statuses else 200
            return Response("ok", status_code=status)

        self.app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
        self.transport = httpx.ASGITransport(app=self.app)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def sandbox(clock: FakeClock, receiver: Receiver) -> Sandbox:
    return Sandbox(
        meetmatch=MeetMatchState(clock=clock, delivery_transport=receiver.transport),
        meetergo=MeetergoState(clock=clock, delivery_transport=receiver.transport),
    )


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http
