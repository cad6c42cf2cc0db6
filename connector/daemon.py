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
import json
import logging
import re
import signal
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connector import commands
from connector.clients.budget import background_work, live_work
from connector.errors import (
    AuthError,
    ConfigError,
    MeetbridgeError,
    RetryableError,
    StoreError,
)
from connector.hooks import ensure_subscriptions
from connector.listen import tcp_listener
from connector.metrics import Metrics
from connector.receiver import receiver_app
from connector.runtime import Runtime, open_runtime
from connector.settings import Settings
from connector.status_page import StatusPage
from connector.store.inbox import Delivery, Inbox
from connector.store.lock import AlreadyRunningError, LockHold, writer_lock
from connector.sync.backfill import run_backfill
from connector.sync.live import LiveSync

log = logging.getLogger("meetbridge.daemon")

MIN_TOKEN_LENGTH = 32
STANDBY_RETRY_SECONDS = 5.0
MAX_DELIVERY_ATTEMPTS = 12
STOP_GRACE_SECONDS = 8.0
# Within that: how long the work in flight may take to finish after SIGTERM before it is
# cancelled (the lock is released only after it has ended).
WORK_GRACE_SECONDS = 6.0
# The reconcile creates one by one (see `Daemon.reconcile`).
NO_BULK = 10**9
AUTH_RETRY_SECONDS = 30.0
# Inbox rows meetbridge writes itself: a standby's replay request for the syncing replica.
REPLAY_VENDOR = "meetbridge"
REPLAY_EVENT = "replay"


# What may stand in one URL path segment unescaped: a token with "/" or "%" could never match
# the route meetergo delivers to.
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9._~-]+")
MIN_TOKEN_DISTINCT = 12


def _token_weakness(token: str) -> str | None:
    """Why a meetergo path token will not do, or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"needs at least {MIN_TOKEN_LENGTH} random characters"
    if not _TOKEN_ALPHABET.fullmatch(token):
        return "may hold only letters, digits and . _ ~ - (it is a URL path segment)"
    if len(set(token)) < MIN_TOKEN_DISTINCT:
        return "is not random (too few different characters)"
    return None


def check_daemon_settings(settings: Settings) -> None:
    """What `run` needs beyond a backfill; refused at start, every problem at once."""
    problems = []
    receiver = settings.receiver
    if not receiver.public_url:
        problems.append(
            "receiver.public_url: required by `run` (where both vendors can reach the receiver)"
        )
    token = receiver.meetergo_path_token.get_secret_value() if receiver.meetergo_path_token else ""
    weak = _token_weakness(token)
    if weak:
        problems.append(
            f"receiver.meetergo_path_token: {weak} (meetergo signs nothing; this token is all "
            "that keeps strangers out); make one with "
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


def _being_cancelled() -> bool:
    """Whether the running task itself is being cancelled (not only something it awaits)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _finish(tasks: set[asyncio.Task[Any]], grace: float) -> None:
    """Let `tasks` end within `grace` seconds, cancel the rest, and wait until all have."""
    if not tasks:
        return
    if grace > 0:
        await asyncio.wait(tasks, timeout=grace)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


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
        # Work of this leader besides the worker (scheduled jobs, replays from the page): a stop
        # waits for it, a lost lock cancels it.
        self.in_flight: set[asyncio.Task[Any]] = set()
        live.applier.on_action = self.recent.append

    async def page_facts(self) -> dict[str, Any]:
        facts = await commands.status(self.rt)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        facts["synced_today"] = await self.rt.store.links_since(midnight)
        return facts

    async def replay_one(self, letter_id: int) -> str | None:
        """Replay one dead letter now (the status page's button); the problem, or None."""
        if self.role != "leader":
            # A standby does not sync: it hands the replay to the replica that does, through
            # the inbox they share (the request's time keeps two requests apart).
            request = {"dead_letter": letter_id, "requested_at": datetime.now(UTC).isoformat()}
            try:
                await self.inbox.enqueue(
                    REPLAY_VENDOR, REPLAY_EVENT, json.dumps(request).encode(), request
                )
            except StoreError:
                return "state database unavailable; try again"
            return None
        # Run as work in flight of this leader: cancelled with the rest if the lock is lost.
        task = asyncio.create_task(self._replay([letter_id]))
        self.in_flight.add(task)
        try:
            result = await task
        except asyncio.CancelledError:
            if task.cancelled() and not _being_cancelled():
                return "this replica stopped syncing before the replay finished; try again"
            raise
        finally:
            self.in_flight.discard(task)
        if letter_id in result.failed:
            return result.failed[letter_id]
        if letter_id not in result.replayed:
            return f"dead letter {letter_id} is not open"
        return None

    async def _replay(self, ids: list[int]) -> commands.ReplayResult:
        """Replays, one at a time (the page's button and the scheduled retry)."""
        async with self.live.lock:
            result = await commands.replay(self.rt, ids, live=self.live)
        await self._count_dead_letters()
        return result

    async def _count_dead_letters(self) -> None:
        with contextlib.suppress(StoreError):
            self.metrics.set_dead_letters(await self.rt.store.count_open_dead_letters())

    async def ready(self) -> str | None:
        try:
            await self.rt.store.ping()
        except StoreError:
            return "state database unreachable"
        if self.role == "standby":
            return None  # a standby stores deliveries for the active replica
        refused = self.rt.counter.refused
        if refused:
            return "; ".join(sorted({refused[key][0] for key in refused}))
        return None if self.subscribed else "webhook subscriptions not registered yet"

    @property
    def auth_retry_seconds(self) -> float:
        """How long work waits after a refused key before it is tried again."""
        return min(AUTH_RETRY_SECONDS, self.rt.settings.sync.poll_interval_seconds)

    # --- the inbox worker ------------------------------------------------------------------

    async def work_inbox(self) -> None:
        while not self.stop.is_set():
            # Cleared before reading, not after: a delivery stored while the read is under way
            # sets it again, and the wait below returns at once instead of sleeping on it.
            self.wake.clear()
            try:
                batch = await self.inbox.pending()
            except StoreError as exc:
                log.error("inbox unreadable: %s", exc)
                batch = []
            pause = 0.0 if batch else 1.0
            for delivery in batch:
                if self.stop.is_set():
                    return
                try:
                    await self._apply(delivery)
                except AuthError:
                    # Every delivery would be refused alike: wait for the key to be fixed
                    # instead of spending a refused request on each of them.
                    pause = self.auth_retry_seconds
                    break
                except StoreError as exc:
                    log.error("inbox unwritable: %s", exc)
                    pause = 1.0  # the database is failing: no hot loop against it
                    break
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait() if batch else self.wake.wait(), pause)

    async def _apply(self, delivery: Delivery) -> None:
        """Apply one delivery; on failure it goes back to the inbox or becomes a dead letter.

        Raises AuthError (after parking the delivery) so the worker can pause: a refused key
        is no fault of the delivery, which waits, untouched by the give-up count, however long
        fixing the key takes.
        """
        if delivery.vendor == REPLAY_VENDOR:
            try:
                problem = await self.replay_one(int(delivery.payload.get("dead_letter", 0)))
            except (AuthError, StoreError):
                raise
            except Exception as exc:  # a request from a standby must not stop the worker
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                log.warning("replay requested by a standby failed: %s", problem)
            await self.inbox.done(delivery.id)
            return
        try:
            with live_work():
                await self.live.apply_delivery(delivery)
        except AuthError as exc:
            log.error(
                "delivery %s (%s) waits for a working key: %s", delivery.id, delivery.event, exc
            )
            await self.inbox.retry_later(
                delivery, str(exc), timedelta(seconds=self.auth_retry_seconds), count=False
            )
            raise
        except (RetryableError, StoreError) as exc:
            if delivery.attempts + 1 < MAX_DELIVERY_ATTEMPTS:
                log.warning("delivery %s (%s) deferred: %s", delivery.id, delivery.event, exc)
                await self.inbox.retry_later(delivery, str(exc), _backoff(delivery.attempts))
                return
            await self._give_up(delivery, exc)
            return
        except MeetbridgeError as exc:
            await self._give_up(delivery, exc)
            return
        except Exception as exc:
            # A delivery meetbridge cannot handle is a bug, but it must not stop live sync:
            # the worker would die and every later delivery wait behind it. It is parked as a
            # dead letter with its traceback logged, and the worker goes on.
            log.exception("delivery %s (%s) broke the worker", delivery.id, delivery.event)
            await self._give_up(delivery, exc)
            return
        await self.inbox.done(delivery.id)

    async def _give_up(self, delivery: Delivery, exc: Exception) -> None:
        """Park a delivery the worker cannot apply as a dead letter: `status` shows it, the
        scheduler retries it with a growing backoff, `meetbridge replay` re-runs it."""
        log.error("delivery %s (%s) failed: %s", delivery.id, delivery.event, exc)
        other = "meetergo" if delivery.vendor == "meetmatch" else "meetmatch"
        await self.rt.store.add_dead_letter(
            target=other,
            operation=commands.DELIVERY,
            source_side=delivery.vendor,
            source_id=f"delivery:{delivery.id}",
            email=None,
            payload={
                "vendor": delivery.vendor,
                "event": delivery.event,
                "delivery": delivery.payload,
            },
            error=str(exc),
        )
        await self.inbox.retry_later(delivery, str(exc), timedelta(0), give_up=True)
        await self._count_dead_letters()

    # --- scheduled jobs --------------------------------------------------------------------

    async def poll(self) -> None:
        async with self._scheduled("poll"):
            for name, job in (
                ("poll_meetmatch", self.live.poll_meetmatch),
                ("poll_meetergo", self.live.poll_meetergo),
            ):
                await self._job(name, job)

    @contextlib.asynccontextmanager
    async def _scheduled(self, name: str) -> AsyncIterator[None]:
        """A scheduled job's run: work in flight of this leader (a stop waits for it, a lost
        lock cancels it); a cancel ends the whole run here, quietly, instead of reaching the
        scheduler as an error. Every step is safe to redo, and the next run does."""
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        try:
            yield
        except asyncio.CancelledError:
            log.info("%s stopped before it finished", name)
        finally:
            self.in_flight.discard(task)

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
            return len((await self._replay(due)).replayed)

        async with self._scheduled("dead_letters"):
            await self._job("dead_letters", replay)

    async def reconcile(self) -> None:
        async def scan() -> int:
            # The reconcile walks every meetergo contact through the backfill's planning. Its
            # requests yield to live ones in the rate budget, and each of its writes holds only
            # that person's gate (shared with live sync), after checking live sync has not
            # done it meanwhile: a webhook never waits for reconcile writes about others.
            # No bulk creates: a bulk call would hold up to a thousand people's gates through
            # the bulk budget's wait (3 a minute), and a webhook for any of them with it.
            with background_work():
                report = await run_backfill(
                    self.rt.store,
                    self.rt.meetmatch,
                    self.rt.meetergo,
                    self.rt.planner,
                    concurrency=self.rt.settings.sync.concurrency,
                    bulk_threshold=NO_BULK,
                    gate=self.live.gate,
                )
            return report.meetergo_seen

        async with self._scheduled("reconcile"):
            await self._job("reconcile", scan)

    async def _job(self, name: str, job: Callable[[], Awaitable[int]]) -> None:
        started = datetime.now(UTC)
        log.debug("%s started", name)
        try:
            count = await job()
        except MeetbridgeError as exc:
            log.error("%s failed: %s", name, exc)
            return
        now = datetime.now(UTC)
        self.metrics.mark_success(name, now.timestamp())
        with contextlib.suppress(StoreError):
            await self.rt.store.set_cursor(f"last_{name}", now.isoformat())
        log.info(
            "%s done (%d)",
            name,
            count,
            extra={"sync": {"job": name, "started": started.isoformat(), "at": now.isoformat()}},
        )

    async def lead(self, settings: Settings) -> None:
        """Become the replica that syncs (or wait as a standby), then sync until stopped.

        Every replica receives and stores deliveries; only the one holding the state database's
        writer lock applies them, polls, reconciles and retries. When it dies, its lock goes
        with it and a standby takes over within one retry interval. A leader whose lock is lost
        while it lives (its database session died) stops writing at once and stands by again.
        """
        while not self.stop.is_set():
            try:
                async with contextlib.AsyncExitStack() as stack:
                    hold = await self._take_lock(stack, settings)
                    if hold is None:
                        return
                    await self._sync_while_held(settings, hold)
            except MeetbridgeError as exc:
                # E.g. the database failed while this replica took over: let the lock go and
                # try again, as a standby would.
                log.error("syncing stopped: %s; standing by", exc)
                self.role = "standby"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=STANDBY_RETRY_SECONDS)
                continue
            if hold.lost.is_set():
                log.error("%s; stopped syncing, standing by", hold.reason)
                self.role = "standby"

    async def _take_lock(
        self, stack: contextlib.AsyncExitStack, settings: Settings
    ) -> LockHold | None:
        """Wait for the writer lock (as a standby); None when stopped first."""
        while not self.stop.is_set():
            try:
                return await stack.enter_async_context(writer_lock(settings.state.url))
            except AlreadyRunningError:
                if self.role != "standby":
                    log.info("another replica is syncing; standing by (still receiving)")
                self.role = "standby"
            except StoreError as exc:
                log.error("cannot take the writer lock: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=STANDBY_RETRY_SECONDS)
        return None

    async def _sync_while_held(self, settings: Settings, hold: LockHold) -> None:
        self.role = "leader"
        log.info("this replica syncs")
        # A standby's view of the links is stale by the time it takes over.
        self.live.forget_links()
        # Registration retries on its own: deliveries already stored are applied meanwhile.
        registering = asyncio.create_task(self.register_hooks())
        worker = asyncio.create_task(self.work_inbox())
        scheduler = self._schedule(settings)
        scheduler.start()
        grace = 0.0
        try:
            stopped = asyncio.create_task(self.stop.wait())
            lost = asyncio.create_task(hold.lost.wait())
            await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            lost.cancel()
            # On a stop, the steps in flight (a delivery, a poll's current write) may finish
            # within the grace time. With the lock lost another replica may be syncing
            # already: everything is cancelled at once, as a crash would (every step is safe
            # to redo; a delivery not marked done is applied again).
            grace = 0.0 if hold.lost.is_set() else WORK_GRACE_SECONDS
        finally:
            # Whatever happens (even this task being cancelled), no work of this replica
            # outlives its hold on the lock.
            scheduler.shutdown(wait=False)
            registering.cancel()
            await _finish({worker, registering, *self.in_flight}, grace)

    def _schedule(self, settings: Settings) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        sync = settings.sync
        now = datetime.now(UTC)
        retry_seconds = max(60.0, 5 * sync.poll_interval_seconds)
        # Polls start at once (catching up on what happened while meetbridge was down); the
        # others one interval after the start. APScheduler 3 takes `next_run_time=None` to
        # mean "paused", so every job is given its first run time explicitly.
        jobs: list[tuple[Callable[[], Awaitable[None]], float, datetime]] = [
            (self.poll, sync.poll_interval_seconds, now),
            (self.retry_dead_letters, retry_seconds, now + timedelta(seconds=retry_seconds)),
            (
                self.reconcile,
                sync.reconcile_interval_seconds,
                now + timedelta(seconds=sync.reconcile_interval_seconds),
            ),
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
            except MeetbridgeError as exc:
                # A refused key too: the daemon keeps running (and says so in /readyz), so
                # that fixing the key is all it takes to resume.
                wait = self.auth_retry_seconds if isinstance(exc, AuthError) else 30.0
                log.error("webhook registration failed, retrying in %.0f s: %s", wait, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=wait)


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
        rt.counter.key_listeners.append(
            lambda vendor, access, accepted: metrics.set_key_refused(vendor, access, not accepted)
        )
        live.summary.listeners.append(lambda side, action: metrics.count_sync_action(side, action))
        await daemon._count_dead_letters()
        meetmatch = settings.meetmatch
        secrets = [
            secret.get_secret_value()
            for secret in (meetmatch.webhook_secret, *meetmatch.previous_webhook_secrets)
            if secret is not None
        ]
        token = settings.receiver.meetergo_path_token
        page = StatusPage(
            settings.receiver,
            daemon.page_facts,
            daemon.replay_one,
            lambda: list(daemon.recent),
            role=lambda: daemon.role,
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

        receiver = settings.receiver
        try:
            sock = tcp_listener(receiver.host, receiver.port)
        except OSError as exc:
            raise MeetbridgeError(
                f"the receiver cannot listen on {receiver.host}:{receiver.port}: {exc}"
            ) from exc
        serving = asyncio.create_task(server.serve(sockets=[sock]))
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
        crashed: list[BaseException] = []

        def lead_ended(task: asyncio.Task[None]) -> None:
            # Syncing must never end quietly while the receiver goes on answering: a bug that
            # ends it stops the process, so that its supervisor restarts it.
            if not task.cancelled() and task.exception() is not None:
                crashed.append(task.exception())  # type: ignore[arg-type]
                log.critical("syncing ended by an error; stopping", exc_info=task.exception())
                daemon.stop.set()

        leading.add_done_callback(lead_ended)
        log.info("meetbridge receiving on %s:%s", settings.receiver.host, settings.receiver.port)

        await daemon.stop.wait()
        log.info("stopping")
        server.should_exit = True
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.gather(leading, serving), timeout=STOP_GRACE_SECONDS)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 1 if crashed else 0
