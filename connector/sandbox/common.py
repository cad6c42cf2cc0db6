"""What both simulated vendors share: the request pipeline, errors, timestamps, validation.

Every vendor endpoint runs through `guarded_route`, in the order a real gateway would apply:
authentication, then rate limiting, then injected faults, then the handler. Doing it in one
place keeps the counters exact: a test can trust `counters.writes` to mean "writes that reached
the vendor", whatever else went wrong.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .deliveries import Deliverer, DeliveryAttempt
from .faults import DROP_BEFORE_MESSAGE, DROP_MESSAGE, WRITE_METHODS, Counters, Faults

Handler = Callable[[Request], Awaitable[Response]]
Json = dict[str, Any]

_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


class ApiError(Exception):
    """Raised by a handler to answer with the vendor's own error shape."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def is_valid_email(value: Any) -> bool:
    """Syntax only (something@domain.tld, no whitespace anywhere): what a form validator checks."""
    return isinstance(value, str) and _EMAIL.fullmatch(value) is not None


def normalize_email(value: str | None) -> str:
    """The comparison key vendors use to match people: trimmed and case-folded."""
    return (value or "").strip().casefold()


def hook_url_problem(url: Any) -> str | None:
    """Why a webhook target is refused, or None when it is acceptable.

    Both vendors require HTTPS targets. Plain http is allowed here only when the host is
    loopback (127.x, localhost, ::1), because the test daemon's receiver listens on loopback.
    """
    if not isinstance(url, str) or not url:
        return "must be a URL"
    parts = urlsplit(url)
    if not parts.hostname:
        return "must be an absolute URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return None
    return "must be an https URL (plain http is accepted only on loopback)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def iso_seconds(moment: datetime) -> str:
    """ISO 8601 UTC at second resolution, as MeetMatch shows timestamps (ties happen)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as a JavaScript backend (meetergo) serializes dates."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def utcnow() -> datetime:
    """The wall clock, in one place so the code reads the same everywhere."""
    return datetime.now(UTC)


async def read_json_object(request: Request) -> Json:
    """The request body as a JSON object, or a 400 the vendor's way."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, "request body must be valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def optional_str(body: Json, name: str) -> str | None:
    """A field that must be a string or null when present."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string", field=name)
    return value


def optional_object(body: Json, name: str) -> Json | None:
    """A field that must be a JSON object or null when present."""
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise ApiError(400, f"{name} must be an object", field=name)
    return value


def retry_after_seconds(wait: float) -> str:
    """Retry-After as whole seconds, rounded up so that obeying it is always enough."""
    if math.isinf(wait):
        return "60"
    return str(max(1, math.ceil(wait)))


class VendorState:
    """Base of both vendor states: counters, faults, deliveries and the hooks of the pipeline."""

    vendor = "vendor"

    def __init__(
        self,
        *,
        faults: Faults | None,
        clock: Callable[[], float],
        deliverer: Deliverer,
    ) -> None:
        self.faults = faults if faults is not None else Faults()
        self.counters = Counters()
        self.clock = clock
        self.deliverer = deliverer
        self._ids: random.Random | None = None

    def seed_ids(self, seed: int) -> None:
        """Make record ids repeatable from here on (seeding uses it: same seed, same ids)."""
        self._ids = random.Random(seed)

    def new_id(self) -> str:
        """A fresh uuid4 string, random unless `seed_ids` made the sequence repeatable."""
        if self._ids is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # Pipeline hooks, overridden by each vendor.
    def authenticate(self, request: Request, scope: str) -> tuple[str, Response | None]:
        """The API key of the request, or the response refusing it."""
        raise NotImplementedError

    def admit(self, key: str, *, bulk: bool) -> Response | None:
        """None when the rate budget allows this request, else the 429 response."""
        return None

    def error(self, status: int, message: str, field: str | None = None) -> Response:
        """An error answer in the vendor's shape."""
        raise NotImplementedError

    def throttled(self, wait: float) -> Response:
        """A 429 answer in the vendor's shape (`wait` = seconds until a token is back)."""
        raise NotImplementedError

    def fault_response(self, status: int) -> Response:
        """The answer for an injected failure: the vendor's own shape for that status."""
        if status == 429:
            response = self.throttled(1.0)
            if not self.faults.retry_after:
                del response.headers["retry-after"]
            return response
        return self.error(status, "injected failure")

    # Shared conveniences.
    def reset_counters(self) -> None:
        """Zero the counters (the control API's reset-stats)."""
        self.counters.reset()

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt so far, in order."""
        return self.deliverer.attempts

    async def drain_deliveries(self) -> None:
        """Wait for all pending webhook deliveries (retries included) to finish."""
        await self.deliverer.drain()


def guarded_route(
    state: VendorState,
    method: str,
    path: str,
    handler: Handler,
    *,
    scope: str = "read",
    bulk: bool = False,
) -> Route:
    """A route whose requests pass auth, rate limit and faults before `handler`, all counted.

    Injected failures come after auth and rate limiting, like a backend failing behind its
    gateway. A dropped write is applied first and then raises ConnectionResetError, which
    httpx's ASGITransport hands to the client and a real server turns into a broken answer.
    """

    def answer(response: Response) -> Response:
        state.counters.record(method, path, response.status_code)
        return response

    async def endpoint(request: Request) -> Response:
        key, refusal = state.authenticate(request, scope)
        if refusal is not None:
            return answer(refusal)
        throttled = state.admit(key, bulk=bulk)
        if throttled is not None:
            return answer(throttled)
        delay = state.faults.extra_latency()
        if delay > 0:
            await asyncio.sleep(delay)
        if state.faults.should_drop_before():
            state.counters.record(method, path, 0)
            raise ConnectionResetError(DROP_BEFORE_MESSAGE)
        is_write = method in WRITE_METHODS
        failure = state.faults.next_failure(write=is_write)
        if failure is not None:
            return answer(state.fault_response(failure))
        if is_write:
            state.counters.writes += 1
        try:
            response = await handler(request)
        except ApiError as exc:
            response = state.error(exc.status, exc.message, exc.field)
        if is_write and 200 <= response.status_code < 300:
            if state.faults.stall_after_write > 0:
                state.counters.stalled += 1
                await asyncio.sleep(state.faults.stall_after_write)
            if state.faults.should_drop():
                answer(response)
                state.counters.dropped += 1
                raise ConnectionResetError(DROP_MESSAGE)
        return answer(response)

    return Route(path, endpoint, methods=[method])


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (one helper so every vendor serializes the same way)."""
    return JSONResponse(body, status_code=status, headers=headers)
