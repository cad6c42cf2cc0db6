"""Background webhook delivery, shared by both simulated vendors.

Vendors deliver webhooks asynchronously and retry failures, so a receiver sees deliveries late,
out of order, repeated, or not at all. Deliveries here run as asyncio tasks on the running loop;
tests call `drain()` to wait for them. The httpx client or transport is injectable, so a test can
deliver straight into an ASGI app in-process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

RETRIES = 3


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver one event; status is None when no answer arrived."""

    event: str
    target: str
    status: int | None
    attempt: int
    subscription_id: str
    error: str | None = None
    at: float = 0.0


@dataclass(frozen=True)
class _Job:
    event: str
    target: str
    body: bytes
    headers: dict[str, str]
    subscription_id: str
    on_gone: Callable[[], None] | None


class Deliverer:
    """Sends webhook bodies in the background and keeps a log of every attempt.

    A failed or non-2xx attempt is retried up to `retries` times, waiting `backoff * 2**n`
    seconds. When `on_gone` is given, a 410 answer calls it and stops retrying (Zapier's
    REST-hook convention for "unsubscribe me").
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retries: int = RETRIES,
        backoff: float = 0.05,
    ) -> None:
        self.client = client
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.attempts: list[DeliveryAttempt] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Jobs queued while no event loop was running (e.g. seeding before the server starts);
        # they are started by the next delivery or drain made on a loop.
        self._backlog: list[_Job] = []

    def send(
        self,
        *,
        event: str,
        target: str,
        body: bytes,
        headers: dict[str, str],
        subscription_id: str,
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        """Queue one delivery; it runs in the background on the current event loop."""
        self._backlog.append(_Job(event, target, body, headers, subscription_id, on_gone))
        self._start_backlog()

    def _start_backlog(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        jobs, self._backlog = self._backlog, []
        for job in jobs:
            task = loop.create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """Deliveries not finished yet (retries included)."""
        return sum(1 for task in self._tasks if not task.done()) + len(self._backlog)

    async def drain(self) -> None:
        """Wait until every queued delivery, retries included, has finished."""
        while True:
            self._start_backlog()
            running = [task for task in self._tasks if not task.done()]
            if not running:
                return
            await asyncio.gather(*running, return_exceptions=True)

    async def _run(self, job: _Job) -> None:
        for attempt in range(1, self.retries + 2):
            status, error = await self._post(job)
            self.attempts.append(
                DeliveryAttempt(
                    job.event, job.target, status, attempt, job.subscription_id, error, time.time()
                )
            )
            if status is not None and 200 <= status < 300:
                return
            if status == 410 and job.on_gone is not None:
                job.on_gone()
                return
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def _post(self, job: _Job) -> tuple[int | None, str | None]:
        try:
            if self.client is not None:
                response = await self.client.post(
                    job.target, content=job.body, headers=job.headers, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(
                    transport=self.transport, timeout=self.timeout
                ) as client:
                    response = await client.post(job.target, content=job.body, headers=job.headers)
        # A receiver may fail in any way (refused, reset, timeout, an in-process app raising);
        # every failure is one failed attempt to record and retry, never a crash of the sandbox.
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None
