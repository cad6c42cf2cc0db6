"""`meetbridge run`: the receiver, the inbox worker and the scheduled jobs in one process.

- The receiver (uvicorn) only verifies and stores deliveries, then wakes the worker.
- The worker applies stored deliveries in order through the live sync; a delivery that fails
  for a passing reason goes back to the inbox with a backoff, so nothing answered 2xx is lost.
- APScheduler runs the polls (what webhooks miss), the dead-letter retry and the reconcile scan;
  each job at most once at a time.
- SIGTERM/SIGINT: stop accepting deliveries, let the step in flight finish, close, exit 0.
  Webhook subscriptions stay in place so that a restart misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connector import commands
from connector.clients.budget import background_work
from connector.errors import (
    AuthError,
    ConfigError,
    MeetbridgeError,
    RetryableError,
    StoreError,
)
from connector.hooks import ensure_subscriptions
from connector.metrics import Metrics
from connector.receiver import receiver_app
from connector.runtime import Runtime, open_runtime
from connector.settings import Settings
from connector.status_page import StatusPage
from connector.store.inbox import Delivery, Inbox
from connector.store.lock import AlreadyRunningError, writer_lock
from connector.sync.backfill import run_backfill
from connector.sync.live import LiveSync

log = logging.getLogger("meetbridge.daemon")

MIN_TOKEN_LENGTH = 32
STANDBY_RETRY_SECONDS = 5.0
MAX_DELIVERY_ATTEMPTS = 12
STOP_GRACE_SECONDS = 8.0


def check_daemon_settings(settings: Settings) -> None:
    """What `run` needs beyond a backfill; refused at start, every problem at once."""
    problems = []
    receiver = settings.receiver
    if not receiver.public_url:
        problems.append(
            "receiver.public_url: required by `run` (where both vendors can reach the receiver)"
        )
    token = receiver.meetergo_path_token.get_secret_value() if receiver.meetergo_path_token else ""
    if len(token) < MIN_TOKEN_LENGTH:
        problems.append(
            f"receiver.meetergo_path_token: needs at least {MIN_TOKEN_LENGTH} random characters "
            "(meetergo signs nothing; this token is all that keeps strangers out), e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if settings.meetmatch.webhook_secret is None:
        problems.append("meetmatch.webhook_secret: required by `run` to verify deliveries")
    if problems:
        raise ConfigError(problems)


class _NotifyingInbox(Inbox):
    """Wakes the worker as soon as the receiver has stored a delivery."""

    def __init__(self, rt: Runtime, wake: asyncio.Event) -> None:
        super().__init__(rt.store)
        self._wake = wake

    async def enqueue(self, vendor: str, event: str, raw_body: bytes, payload: Any) -> bool:
        stored = await super().enqueue(vendor, event, raw_body, payload)
        self._wake.set()
        return stored


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _dead_letter_backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(24 * 60, 2 ** max(0, attempts - 1)))


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** min(attempts, 8)))


class Daemon:
    def __init__(self, rt: Runtime, live: LiveSync, metrics: Metrics) -> None:
        self.rt = rt
        self.live = live
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.inbox = _NotifyingInbox(rt, self.wake)
        self.subscribed = False
        self.role = "starting"
        self.recent: deque[dict[str, Any]] = deque(maxlen=50)
        live.applier.on_action = self.recent.append

    async def page_facts(self) -> dict[str, Any]:
        facts = await commands.status(self.rt)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        facts["synced_today"] = await self.rt.store.links_since(midnight)
        return facts

    async def replay_one(self, letter_id: int) -> str | None:
        """Replay one dead letter now (the status page's button); the problem, or None."""
        if self.role != "leader":
            return "this replica is on standby; replay on the replica that syncs"
        async with self.live.lock:
            result = await commands.replay(self.rt, [letter_id])
        if letter_id in result.failed:
            return result.failed[letter_id]
        if letter_id not in result.replayed:
            return f"dead letter {letter_id} is not open"
        with contextlib.suppress(StoreError):
            self.metrics.set_dead_letters(len(await self.rt.store.open_dead_letters()))
        return None

    async def ready(self) -> str | None:
        try:
            await self.rt.store.ping()
        except StoreError:
            return "state database unreachable"
        if self.role == "standby":
            return None  # a standby stores deliveries for the active replica
        return None if self.subscribed else "webhook subscriptions not registered yet"

    # --- the inbox worker ------------------------------------------------------------------

    async def work_inbox(self) -> None:
        while not self.stop.is_set():
            try:
                batch = await self.inbox.pending()
            except StoreError as exc:
                log.error("inbox unreadable: %s", exc)
                batch = []
            for delivery in batch:
                if self.stop.is_set():
                    return
                await self._apply(delivery)
            if not batch:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=1.0)

    async def _apply(self, delivery: Delivery) -> None:
        try:
            await self.live.apply_delivery(delivery)
        except (RetryableError, AuthError, StoreError) as exc:
            give_up = delivery.attempts + 1 >= MAX_DELIVERY_ATTEMPTS
            log.warning("delivery %s (%s) deferred: %s", delivery.id, delivery.event, exc)
            await self.inbox.retry_later(
                delivery, str(exc), _backoff(delivery.attempts), give_up=give_up
            )
            return
        except MeetbridgeError as exc:
            log.error("delivery %s (%s) failed: %s", delivery.id, delivery.event, exc)
            await self.inbox.retry_later(delivery, str(exc), timedelta(0), give_up=True)
            return
        await self.inbox.done(delivery.id)

    # --- scheduled jobs --------------------------------------------------------------------

    async def poll(self) -> None:
        for name, job in (
            ("poll_meetmatch", self.live.poll_meetmatch),
            ("poll_meetergo", self.live.poll_meetergo),
        ):
            await self._job(name, job)

    async def retry_dead_letters(self) -> None:
        async def replay() -> int:
            # Each dead letter waits longer after every failed try (1, 2, 4 … minutes, at most
            # a day), so a record a vendor keeps refusing does not eat the budget.
            now = datetime.now(UTC)
            due = [
                letter.id
                for letter in await self.rt.store.open_dead_letters()
                if _as_utc(letter.updated_at) + _dead_letter_backoff(letter.attempts) <= now
            ]
            if not due:
                return 0
            async with self.live.lock:
                result = await commands.replay(self.rt, due)
            return len(result.replayed)

        await self._job("dead_letters", replay)
        with contextlib.suppress(StoreError):
            self.metrics.set_dead_letters(len(await self.rt.store.open_dead_letters()))

    async def reconcile(self) -> None:
        async def scan() -> int:
            # The reconcile walks every meetergo contact through the backfill's planning. Its
            # requests yield to live ones, and each of its writes holds the live lock only for
            # that write, after checking live sync has not done it meanwhile.
            with background_work():
                report = await run_backfill(
                    self.rt.store,
                    self.rt.meetmatch,
                    self.rt.meetergo,
                    self.rt.planner,
                    concurrency=self.rt.settings.sync.concurrency,
                    bulk_threshold=self.rt.settings.sync.bulk_threshold,
                    gate=self.live.lock,
                )
            return report.meetergo_seen

        await self._job("reconcile", scan)

    async def _job(self, name: str, job: Callable[[], Awaitable[int]]) -> None:
        try:
            count = await job()
        except MeetbridgeError as exc:
            log.error("%s failed: %s", name, exc)
            return
        now = datetime.now(UTC)
        self.metrics.mark_success(name, now.timestamp())
        with contextlib.suppress(StoreError):
            await self.rt.store.set_cursor(f"last_{name}", now.isoformat())
        log.info("%s done (%d)", name, count)

    async def lead(self, settings: Settings) -> None:
        """Become the replica that syncs (or wait as a standby), then sync until stopped.

        Every replica receives and stores deliveries; only the one holding the state database's
        writer lock applies them, polls, reconciles and retries. When it dies, its lock goes
        with it and a standby takes over within one retry interval.
        """
        async with contextlib.AsyncExitStack() as stack:
            while not self.stop.is_set():
                try:
                    await stack.enter_async_context(writer_lock(settings.state.url))
                    break
                except AlreadyRunningError:
                    if self.role != "standby":
                        log.info("another replica is syncing; standing by (still receiving)")
                    self.role = "standby"
                except StoreError as exc:
                    log.error("cannot take the writer lock: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=STANDBY_RETRY_SECONDS)
            if self.stop.is_set():
                return
            self.role = "leader"
            log.info("this replica syncs")
            await self.links_reload()
            await self.register_hooks()
            worker = asyncio.create_task(self.work_inbox())
            scheduler = self._schedule(settings)
            scheduler.start()
            await self.stop.wait()
            scheduler.shutdown(wait=False)
            # The step in flight finishes (a delivery, a poll's current write) before the lock
            # is released; the caller bounds the wait.
            await worker
            async with self.live.lock:
                pass

    async def links_reload(self) -> None:
        # A standby's view of the links is stale by the time it takes over.
        await self.live.reload_links()

    def _schedule(self, settings: Settings) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        sync = settings.sync
        jobs: list[tuple[Callable[[], Awaitable[None]], float, datetime | None]] = [
            (self.poll, sync.poll_interval_seconds, datetime.now(UTC)),
            (self.retry_dead_letters, max(60.0, 5 * sync.poll_interval_seconds), None),
            (self.reconcile, sync.reconcile_interval_seconds, None),
        ]
        for job, seconds, first in jobs:
            scheduler.add_job(
                job,
                "interval",
                seconds=seconds,
                next_run_time=first,
                max_instances=1,  # a poll never runs twice at once
                coalesce=True,
                id=job.__name__,
            )
        return scheduler

    async def register_hooks(self) -> None:
        while not self.stop.is_set() and not self.subscribed:
            try:
                await ensure_subscriptions(self.rt)
                self.subscribed = True
            except AuthError:
                raise
            except MeetbridgeError as exc:
                log.error("webhook registration failed, retrying in 30 s: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=30)


async def serve(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    check_daemon_settings(settings)
    async with open_runtime(settings, transport=transport) as rt:
        metrics = Metrics()
        live = await LiveSync.create(rt)
        daemon = Daemon(rt, live, metrics)

        def vendor_answer(vendor: str, status: int) -> None:
            metrics.count_vendor_request(vendor, status or "no_answer")
            if status == 429:
                metrics.count_rate_limited(vendor)

        rt.counter.listeners.append(vendor_answer)
        live.summary.listeners.append(lambda side, action: metrics.count_sync_action(side, action))
        with contextlib.suppress(StoreError):
            metrics.set_dead_letters(len(await rt.store.open_dead_letters()))
        meetmatch = settings.meetmatch
        secrets = [
            secret.get_secret_value()
            for secret in (meetmatch.webhook_secret, *meetmatch.previous_webhook_secrets)
            if secret is not None
        ]
        token = settings.receiver.meetergo_path_token
        page = StatusPage(
            settings.receiver, daemon.page_facts, daemon.replay_one, lambda: list(daemon.recent)
        )
        app = receiver_app(
            daemon.inbox,
            meetmatch_secrets=secrets,
            meetergo_token=token.get_secret_value() if token else "",
            metrics=metrics,
            ready=daemon.ready,
        )
        app.router.routes.extend(page.routes())
        server = _Server(
            uvicorn.Config(
                app,
                host=settings.receiver.host,
                port=settings.receiver.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stop.set)

        serving = asyncio.create_task(server.serve())
        # uvicorn offers no event for "listening"; poll its flag briefly.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if serving.done():
            await serving
            raise MeetbridgeError(f"the receiver could not listen on port {settings.receiver.port}")
        if on_listening:
            port = server.servers[0].sockets[0].getsockname()[1] if server.servers else 0
            on_listening(int(port))

        leading = asyncio.create_task(daemon.lead(settings))
        log.info("meetbridge receiving on %s:%s", settings.receiver.host, settings.receiver.port)

        await daemon.stop.wait()
        log.info("stopping")
        server.should_exit = True
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.gather(leading, serving), timeout=STOP_GRACE_SECONDS)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0
