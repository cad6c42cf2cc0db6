"""What both API clients share: budgeted, retried HTTP with errors translated at the boundary.

This module and the two clients are the only code that imports httpx. Each call spends a token of
every budget it names (a meetergo bulk call spends one of the bulk budget and one of the general
one), is retried per the policy, and returns parsed JSON or raises an error from `connector.errors`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from connector.clients.budget import RateBudget
from connector.clients.retry import RetryPolicy
from connector.errors import (
    MeetbridgeError,
    RateLimitedError,
    RecordError,
    RetryableError,
    UncertainWriteError,
    error_for_status,
)

log = logging.getLogger(__name__)

Json = Any
# Turns a 401/403/400 answer into an AuthError when it is about the key; None otherwise.
AuthCheck = Callable[[int, str], MeetbridgeError | None]


class RequestCounter:
    """Requests sent per vendor and outcome; read by `status`, metrics and tests."""

    def __init__(self) -> None:
        self.by_status: dict[tuple[str, int], int] = {}
        # Called with (vendor, status) for every answer (status 0: none arrived); the daemon
        # feeds its Prometheus metrics from here.
        self.listeners: list[Callable[[str, int], None]] = []
        # Keys a vendor refuses right now, by (vendor, "read" | "write"): the reason, and
        # whether it is the whole key (401) rather than one scope (403).
        self.refused: dict[tuple[str, str], tuple[str, bool]] = {}
        # Called with (vendor, access, accepted) when a key starts or stops being refused.
        self.key_listeners: list[Callable[[str, str, bool], None]] = []

    def record(self, vendor: str, status: int) -> None:
        key = (vendor, status)
        self.by_status[key] = self.by_status.get(key, 0) + 1
        for listener in self.listeners:
            listener(vendor, status)

    def key_answer(
        self, vendor: str, access: str, refusal: str | None, *, whole_key: bool = False
    ) -> None:
        """What the vendor made of the key for reads or writes: None accepted, or why not.

        `whole_key`: the refusal is of the key itself (401: revoked, expired), not of one
        scope (403), so it holds for reads and writes alike, and any accepted request ends it.
        Only changes are acted on: one loud line when a key starts being refused and one when
        it works again, not one per request.
        """
        if refusal is not None:
            for each in ("read", "write") if whole_key else (access,):
                self._set_refused(vendor, each, (refusal, whole_key))
            return
        for (held_vendor, held_access), (_, whole) in list(self.refused.items()):
            if held_vendor == vendor and (held_access == access or whole):
                self._set_refused(vendor, held_access, None)

    def _set_refused(self, vendor: str, access: str, refusal: tuple[str, bool] | None) -> None:
        key = (vendor, access)
        before = self.refused.get(key)
        if (before is None) == (refusal is None):
            return
        if refusal is None:
            del self.refused[key]
            log.warning("%s accepts the API key for %s again; syncing resumes", vendor, access)
        else:
            self.refused[key] = refusal
            log.error(
                "%s refuses the API key for %s: %s; meetbridge keeps the work (inbox, dead "
                "letters) and resumes once the key works",
                vendor,
                access,
                refusal[0],
            )
        for listener in self.key_listeners:
            listener(vendor, access, refusal is None)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date: rare; the exponential backoff covers it


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)
        return str(message)[:500]
    return str(body)[:200]


class VendorHttp:
    """One vendor's HTTP seam: an `httpx.AsyncClient` plus budget, retries and error mapping."""

    def __init__(
        self,
        vendor: str,
        client: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        budget: RateBudget,
        retry: RetryPolicy,
        auth_check: AuthCheck,
        counter: RequestCounter | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.vendor = vendor
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = headers
        self.budget = budget
        self._retry = retry
        self._auth_check = auth_check
        self.counter = counter or RequestCounter()
        self._timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | int]] | None = None,
        body: Json = None,
        idempotent: bool = True,
        extra_budgets: Sequence[RateBudget] = (),
    ) -> Json:
        """Send one logical request (retried as the policy allows) and return its JSON body."""
        _, answer = await self.request_with_status(
            method,
            path,
            params=params,
            body=body,
            idempotent=idempotent,
            extra_budgets=extra_budgets,
        )
        return answer

    async def request_with_status(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str | int]] | None = None,
        body: Json = None,
        idempotent: bool = True,
        extra_budgets: Sequence[RateBudget] = (),
    ) -> tuple[int, Json]:
        """Like `request`, also returning the success status (201 created vs 200 existing)."""

        async def attempt() -> tuple[int, Json]:
            for budget in (*extra_budgets, self.budget):
                await budget.acquire()
            return await self._send_once(method, path, params, body, idempotent, extra_budgets)

        return await self._retry.run(attempt, idempotent=idempotent)

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str | int]] | None,
        body: Json,
        idempotent: bool,
        extra_budgets: Sequence[RateBudget] = (),
    ) -> tuple[int, Json]:
        url = self._base + path
        try:
            response = await self._client.request(
                method,
                url,
                params=list(params) if params else None,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.InvalidURL as exc:
            # Nothing was sent: this record's values cannot make a request at all (an id of
            # 70,000 characters from a delivery, say). The record is refused, not the vendor.
            raise RecordError(self.vendor, f"{method} {path[:80]}: cannot be sent: {exc}") from exc
        except httpx.ConnectError as exc:
            # Nothing reached the server: safe to send again, even a create.
            self.counter.record(self.vendor, 0)
            raise RetryableError(self.vendor, f"{method} {path}: cannot connect: {exc}") from exc
        except (httpx.TransportError, OSError) as exc:
            self.counter.record(self.vendor, 0)
            message = f"{method} {path}: no answer ({type(exc).__name__}: {exc})"
            if idempotent:
                raise RetryableError(self.vendor, message) from exc
            raise UncertainWriteError(self.vendor, message) from exc
        self.counter.record(self.vendor, response.status_code)
        access = "read" if method == "GET" else "write"
        if response.status_code < 400:
            self.counter.key_answer(self.vendor, access, None)
            if not response.content:
                return response.status_code, None
            try:
                return response.status_code, response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                # A garbled success (a proxy's page, a cut-off body): the write may have
                # happened, so a create is looked for before it is sent again.
                kind = RetryableError if idempotent else UncertainWriteError
                raise kind(
                    self.vendor, f"{method} {path}: answer is not JSON", response.status_code
                ) from exc
        message = _error_message(response)
        status = response.status_code
        auth_error = self._auth_check(status, message)
        if auth_error is not None:
            self.counter.key_answer(self.vendor, access, str(auth_error), whole_key=status != 403)
            raise auth_error
        if status == 429:
            retry_after = _retry_after(response)
            # Every request with this key would be refused alike: the budget waits, for
            # Retry-After (within the retry's time bound), or, when the vendor did not say, for
            # as long as the budget's burst takes to refill. A bulk call's 429 pauses the bulk
            # budget only: the general one may well have room, and live work needs it.
            for budget in extra_budgets or (self.budget,):
                pause = retry_after or budget.refill_seconds()
                budget.pause(min(pause, max(self._retry.max_seconds, 1.0)))
            log.warning("%s rate limited us on %s %s", self.vendor, method, path)
            raise RateLimitedError(self.vendor, f"{method} {path}: too many requests", retry_after)
        error = error_for_status(self.vendor, status, f"{method} {path}: {message}")
        if status >= 500 and not idempotent:
            # A 5xx to a create may come after the record was stored: look before retrying.
            raise UncertainWriteError(self.vendor, str(error), status)
        raise error
