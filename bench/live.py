"""Live latency: from a webhook delivery reaching the receiver to the write on the other vendor.

The bench plays MeetMatch's deliverer itself. For each delivery it adds the person to the
sandbox's MeetMatch (control API, no notification), then POSTs a signed `contact.created`
delivery, shaped as the sandbox's own (`{"event", "data"}`, compact JSON, X-MeetMatch-Event,
X-MeetMatch-Signature), to the daemon's receiver over loopback, recording the wall-clock send
time. The sends are paced at `per_second` and never wait for each other. Afterwards every
meetergo contact is read from the control API: latency = the moment the sandbox stored the
contact - the send time.

Precise write times: meetergo's `createdAt` has second resolution (the sandbox stamps it as
meetergo shows it), far too coarse. The bench therefore runs the stock sandbox through a small
entry point (`serve_sandbox`) that also notes `time.time()` the moment a contact created
through the API is stored, and serves those moments (and counters of GET /crm split into page
reads and email searches) under /_bench. The records, the API and its answers are untouched.

Indexed email searches (`indexed_sandbox=True`, the default): the stock sandbox keeps GET
/crm's orders up to date write by write (a page costs about a millisecond at any size), but an
email search tests every contact's fields for the term: 6-9 ms at 100,000 contacts, on the
sandbox's one event loop, for each delivery (meetbridge searches meetergo for the email before
it creates). That is the sandbox's cost, not meetergo's (a database looks an email up in an
index) and not meetbridge's. The indexed entry point answers a search for a term holding "@"
from an email index instead, with the same result for this data set: the contacts whose email
equals the term (case-folded) are the ones whose fields hold it (the seeded emails have fixed
width and the bench's own a domain of their own, so none holds another). Everything else is
the stock sandbox's.

The reconcile case first links `reconcile_contacts` people with a backfill (unlimited budget):
the sandbox is seeded with as many meetergo contacts as MeetMatch contacts, all the same people.
MeetMatch lists show only the newest 100; the backfill plans the other meetergo contacts as
MeetMatch creates, and MeetMatch answers each POST /contacts with the existing contact (same
email), so the backfill links everyone and writes nothing new. Then the budget is scaled down
(sandbox and daemon alike) and the daemon starts with a reconcile 2 s in (and again 2 s after
each ends): the scan only reads pages, in the budget's background lane, while the deliveries
are sent. The budget is chosen so that the scan runs during the whole delivery window; the
result says whether it did (a reconcile started before the first delivery and none ended before
the last write), in how many 0.5 s samples it was granted a request (while deliveries queue,
live requests take every token and the scan waits: the priority at work), and what request
rate meetergo saw against the budget, split into live (the deliveries' searches and creates)
and background (the walk's pages, the linked contacts it fetches by id).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    UNLIMITED,
    Sandbox,
    launch_sandbox,
    run_meetbridge,
    sandbox_args,
    write_config,
)

SECRET = "whsec_sandbox"  # the sandbox's default MeetMatch signing secret (harness config too)
# The meetergo path token `run` insists on: 32+ URL-safe characters, 12+ distinct.
PATH_TOKEN = "bench-live-0123456789abcdefghijklmnopqrstuvwxyz"
LIVE_DOMAIN = "live.bench.example.org"
TARGET_MS = 150.0
# How long after the last send the bench waits for writes still to come.
DRAIN_SECONDS = 60.0
# Sampling of the sandbox's counters during the window (the scan's activity).
SAMPLE_SECONDS = 0.5
# The reconcile runs this many seconds after the start, and again this long after each ends.
RECONCILE_EVERY = 2.0
ROOT = Path(__file__).resolve().parent.parent


# ---- the bench's sandbox process ---------------------------------------------------------


@dataclass
class _Instruments:
    """What the bench's sandbox notes beside the stock one (served under /_bench)."""

    indexed: bool = False
    # Contacts created through the API (created_at not given): id -> (email, time.time()).
    created: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    # Email searches (GET /crm?searchTerm=…): term -> time.time() of the first one.
    searched: dict[str, float] = field(default_factory=dict)
    pages: int = 0  # GET /crm without a search term
    searches: int = 0  # GET /crm with one
    # Set once a contact is changed behind the index's back: every search goes the stock way.
    index_stale: bool = False


_INSTRUMENTS = _Instruments()


class _EmailIndex:
    """meetergo contacts by case-folded email, what a database would look an email up in."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = {}

    def add(self, contact_id: str, email: Any) -> None:
        if isinstance(email, str):
            self.ids.setdefault(email.casefold(), set()).add(contact_id)

    def remove(self, contact_id: str, email: Any) -> None:
        if isinstance(email, str):
            self.ids.get(email.casefold(), set()).discard(contact_id)


def _instrument() -> None:
    """Wrap MeetergoState: note API creates' and searches' wall-clock moments, count GET /crm
    by kind, and (indexed) answer email searches from an email index."""
    from connector.sandbox.meetergo import MeetergoState
    from connector.sandbox.meetergo_index import sort_key

    marks = _INSTRUMENTS
    create, update, delete = (
        MeetergoState.create_contact,
        MeetergoState.update_contact,
        MeetergoState.delete_contact,
    )
    corrupt, search_page = MeetergoState.corrupt_contact, MeetergoState.search_page

    def index_of(state: Any) -> _EmailIndex:
        index = state.__dict__.get("_bench_emails")
        if index is None:
            index = state.__dict__["_bench_emails"] = _EmailIndex()
        assert isinstance(index, _EmailIndex)
        return index

    def create_contact(self: Any, fields: Any, *, created_at: Any = None) -> Any:
        contact = create(self, fields, created_at=created_at)
        if created_at is None:  # an API create (seeding and bulk calls pass their moment)
            marks.created[contact["id"]] = (contact.get("email"), time.time())
        index_of(self).add(contact["id"], contact.get("email"))
        return contact

    def update_contact(self: Any, contact_id: str, fields: Any) -> Any:
        before = self._contacts.get(contact_id)
        old = before.get("email") if before is not None else None
        updated = update(self, contact_id, fields)
        if updated is not None:
            index_of(self).remove(contact_id, old)
            index_of(self).add(contact_id, updated.get("email"))
        return updated

    def delete_contact(self: Any, contact_id: str) -> bool:
        contact = self._contacts.get(contact_id)
        if contact is not None:
            index_of(self).remove(contact_id, contact.get("email"))
        return bool(delete(self, contact_id))

    def corrupt_contact(self: Any, contact_id: str, **raw: Any) -> None:
        marks.index_stale = True  # fields no API call could store: the stock search from now
        corrupt(self, contact_id, **raw)

    def indexed_search_page(
        self: Any,
        page: int,
        limit: int,
        *,
        search_term: str | None = None,
        tags: list[str] | None = None,
        owner_id: str | None = None,
        sort_by: str = "createdAt",
        descending: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        if search_term:
            marks.searches += 1
            marks.searched.setdefault(search_term.casefold(), time.time())
        else:
            marks.pages += 1
        indexed = marks.indexed and not marks.index_stale and not tags and owner_id is None
        if indexed and search_term and "@" in search_term:
            ids = index_of(self).ids.get(search_term.casefold(), ())
            found = [self._contacts[i] for i in ids]
            self.tie_order.shuffle(found)
            found.sort(key=sort_key(sort_by), reverse=descending)
            start = (page - 1) * limit
            return found[start : start + limit], len(found)
        window, total = search_page(
            self,
            page,
            limit,
            search_term=search_term,
            tags=tags,
            owner_id=owner_id,
            sort_by=sort_by,
            descending=descending,
        )
        return window, total

    for name, replacement in (
        ("create_contact", create_contact),
        ("update_contact", update_contact),
        ("delete_contact", delete_contact),
        ("corrupt_contact", corrupt_contact),
        ("search_page", indexed_search_page),
    ):
        setattr(MeetergoState, name, replacement)


def _bench_routes(sandbox: Any) -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    marks = _INSTRUMENTS
    meetergo = sandbox.meetergo

    async def created(request: Request) -> Response:
        rows = [
            {
                "id": contact_id,
                "email": email,
                "at": at,
                "searched_at": marks.searched.get(email.casefold()) if email else None,
            }
            for contact_id, (email, at) in marks.created.items()
        ]
        return JSONResponse(rows)

    async def counts(request: Request) -> Response:
        return JSONResponse(
            {
                "at": time.time(),
                "pages": marks.pages,
                "searches": marks.searches,
                "creates": len(marks.created),
                "requests": meetergo.counters.requests,
                "rate_limited": meetergo.counters.rate_limited,
                "writes": meetergo.counters.writes,
                "meetmatch_requests": sandbox.meetmatch.counters.requests,
            }
        )

    sandbox.app.router.routes[:0] = [
        Route("/_bench/created", created, methods=["GET"]),
        Route("/_bench/counts", counts, methods=["GET"]),
    ]


def serve_sandbox() -> None:
    """Entry point of the bench's sandbox process: `connector.sandbox`'s own, instrumented.

    Takes the sandbox's command-line arguments, plus `--indexed` for the indexed searches.
    """
    import connector.sandbox.__main__ as stock

    argv = sys.argv[1:]
    _INSTRUMENTS.indexed = "--indexed" in argv
    argv = [arg for arg in argv if arg != "--indexed"]
    _instrument()
    build = stock.build

    def instrumented_build(args: Any) -> Any:
        sandbox = build(args)
        _bench_routes(sandbox)
        return sandbox

    stock.build = instrumented_build
    sys.exit(stock.main(argv))


def _start_bench_sandbox(*, meetergo: int, meetmatch: int, overlap: int, indexed: bool) -> Sandbox:
    entry = (
        "-c",
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from bench.live import serve_sandbox; serve_sandbox()",
    )
    args = sandbox_args(meetergo=meetergo, meetmatch=meetmatch, overlap=overlap)
    return launch_sandbox([*args, "--indexed"] if indexed else args, entry)


# ---- the daemon process ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _machine_busy_seconds() -> float:
    """CPU time every process of the machine has used so far (all cores, idle excluded)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Daemon:
    """`meetbridge run` in its own process, its JSON log in a file."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            text=True,
        )

    def wait_ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("the daemon never became ready")

    def log_lines(self) -> list[dict[str, Any]]:
        self._log_file.flush()
        lines = []
        for raw in self.log.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(raw)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines

    def wait_log(self, message_start: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(str(e.get("msg", "")).startswith(message_start) for e in self.log_lines()):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"the daemon never logged {message_start!r}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def _daemon_config(
    path: Path,
    sandbox: Sandbox,
    state: Path,
    port: int,
    *,
    meetergo_rpm: float | None,
    reconcile: bool,
) -> Path:
    # Polls once at the start only; the reconcile soon after the start (and right after each
    # ends), or practically never.
    reconcile_every = RECONCILE_EVERY if reconcile else 30 * 86400
    extra = f"""
[sync]
poll_interval_seconds = 3600
reconcile_interval_seconds = {reconcile_every}

[receiver]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
meetergo_path_token = "{PATH_TOKEN}"
"""
    return write_config(path, sandbox, state, meetergo_rpm=meetergo_rpm, extra=extra)


# ---- the deliveries ----------------------------------------------------------------------


@dataclass
class _Sent:
    email: str
    sent_at: float  # time.time() just before the POST to the receiver
    ack_ms: float  # until the receiver's answer
    status: int
    stored: bool


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def _sample(
    sandbox_url: str, client: httpx.AsyncClient, samples: list[dict[str, Any]]
) -> None:
    """The sandbox's counters every SAMPLE_SECONDS until cancelled."""
    while True:
        with contextlib.suppress(httpx.HTTPError):
            samples.append((await client.get(sandbox_url + "/_bench/counts")).json())
        await asyncio.sleep(SAMPLE_SECONDS)


async def _deliver(
    sandbox_url: str, daemon_url: str, emails: list[str], per_second: float
) -> list[_Sent]:
    """Add each person to MeetMatch and deliver its contact.created, `per_second` a second."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        # Connections opened before the window: a send is one write on a warm loopback socket.
        await asyncio.gather(*(client.get(daemon_url + "/healthz") for _ in range(20)))
        await asyncio.gather(*(client.get(sandbox_url + "/_bench/counts") for _ in range(20)))

        async def one(index: int, email: str) -> _Sent:
            added = await client.post(
                sandbox_url + "/_sandbox/meetmatch/contacts",
                json={"full_name": f"Live Person {index}", "email": email, "notify": False},
            )
            added.raise_for_status()
            record = added.json()
            body = json.dumps(
                {"event": "contact.created", "data": record}, separators=(",", ":")
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "X-MeetMatch-Event": "contact.created",
                "X-MeetMatch-Signature": _sign(body),
            }
            sent_at = time.time()
            try:
                answer = await client.post(
                    daemon_url + "/hooks/meetmatch", content=body, headers=headers
                )
            except httpx.HTTPError:  # counted as not stored (and, unless written, as lost)
                return _Sent(email, sent_at, (time.time() - sent_at) * 1000, 0, False)
            ack_ms = (time.time() - sent_at) * 1000
            stored = answer.status_code == 200 and answer.json().get("status") == "stored"
            return _Sent(email, sent_at, ack_ms, answer.status_code, stored)

        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        tasks = []
        for index, email in enumerate(emails):
            await asyncio.sleep(max(0.0, start + index / per_second - loop.time()))
            tasks.append(asyncio.create_task(one(index, email)))
        return list(await asyncio.gather(*tasks))


async def _drain(sandbox_url: str, wanted: set[str], seconds: float) -> None:
    """Wait until every wanted email has a meetergo contact (or `seconds` without progress)."""
    async with httpx.AsyncClient(timeout=60) as client:
        last_progress, seen = time.monotonic(), 0
        while time.monotonic() - last_progress < seconds:
            rows = (await client.get(sandbox_url + "/_bench/created")).json()
            count = len({row["email"] for row in rows} & wanted)
            if count >= len(wanted):
                return
            if count > seen:
                seen, last_progress = count, time.monotonic()
            await asyncio.sleep(0.5)


async def _window(
    sandbox_url: str, daemon_url: str, emails: list[str], per_second: float
) -> tuple[list[_Sent], list[dict[str, Any]]]:
    samples: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=60) as sampler_client:
        sampler = asyncio.create_task(_sample(sandbox_url, sampler_client, samples))
        try:
            sent = await _deliver(sandbox_url, daemon_url, emails, per_second)
            await _drain(sandbox_url, set(emails), DRAIN_SECONDS)
            await asyncio.sleep(SAMPLE_SECONDS)  # one sample after the last write
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    return sent, samples


# ---- the figures -------------------------------------------------------------------------


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _linked_people(state: Path) -> int:
    db = sqlite3.connect(state)
    try:
        (count,) = db.execute(
            "select count(*) from links where meetmatch_id is not null and meetergo_id is not null"
        ).fetchone()
        return int(count)
    finally:
        db.close()


def _seed_linked(sandbox: Sandbox, workdir: Path, state: Path, contacts: int) -> dict[str, Any]:
    """Link every seeded pair with a backfill at an unlimited budget; what it took."""
    config = write_config(workdir / "backfill.toml", sandbox, state)
    before = sandbox.stats()
    timed = run_meetbridge("backfill", "--config", str(config))
    after = sandbox.stats()
    if timed.returncode != 0:
        raise RuntimeError(f"the seeding backfill failed: {timed.output[-2000:]}")
    linked = _linked_people(state)
    if linked < contacts:
        raise RuntimeError(f"the seeding backfill linked {linked} of {contacts} people")
    return {
        "backfill_seconds": round(timed.wall_seconds, 1),
        "backfill_cpu_seconds": round(timed.cpu_seconds, 1),
        "linked": linked,
        "meetergo_writes": after["meetergo"]["writes"] - before["meetergo"]["writes"],
        "meetmatch_writes": after["meetmatch"]["writes"] - before["meetmatch"]["writes"],
    }


def _wait_scanning(sandbox: Sandbox, seconds: float = 60) -> None:
    """Return once the reconcile's walk has been reading pages for a second: the budget's
    burst is spent and the scan takes every token that comes free."""
    deadline = time.monotonic() + seconds
    first = None
    while time.monotonic() < deadline:
        pages = int(sandbox.get("/_bench/counts")["pages"])
        if first is None:
            first = pages
        elif pages > first + 2:
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise RuntimeError("the reconcile never started reading pages")


def _reconcile_figures(
    samples: list[dict[str, Any]],
    window: tuple[float, float],
    log: list[dict[str, Any]],
    meetergo_rpm: float,
) -> dict[str, Any]:
    """Did the scan run and fill the budget for the whole window, and at what rate?

    meetergo's requests in the window are split into live ones (the deliveries' email
    searches and creates) and background ones (the rest: the scan's pages, and the linked
    contacts it fetches by id after the walk). The scan counts as running in a sample interval
    when it made a request in it.
    """
    begin, end = window
    inside = [s for s in samples if begin - SAMPLE_SECONDS <= s["at"] <= end + SAMPLE_SECONDS]
    intervals = list(itertools.pairwise(inside))
    budget_per_second = meetergo_rpm / 60

    def background(a: dict[str, Any], b: dict[str, Any]) -> int:
        live = (b["searches"] - a["searches"]) + (b["creates"] - a["creates"])
        return int(b["requests"] - a["requests"] - live)

    utilizations = [
        (b["requests"] - a["requests"]) / (b["at"] - a["at"]) / budget_per_second
        for a, b in intervals
    ]
    scanning = sum(background(a, b) > 0 for a, b in intervals)
    span = inside[-1]["at"] - inside[0]["at"] if len(inside) > 1 else math.nan
    first, last = (inside[0], inside[-1]) if inside else ({}, {})

    def delta(name: str) -> int:
        return int(last.get(name, 0)) - int(first.get(name, 0))

    def moment(entry: dict[str, Any]) -> float:
        return datetime.fromisoformat(str(entry["ts"])).timestamp()

    messages = [(moment(e), str(e.get("msg", ""))) for e in log]
    starts = [t for t, m in messages if m.startswith('Running job "Daemon.reconcile')]
    ends = [t for t, m in messages if m.startswith(("reconcile done", "reconcile failed"))]
    ended_inside = sum(begin <= t <= end for t in ends)
    # The job ran throughout: it started before the first delivery and no run ended before the
    # last write (a run that ended and started again would have left a gap).
    running = any(t < begin for t in starts) and ended_inside == 0
    rewalks = sum("reading again" in m for _, m in messages)
    requests = delta("requests")
    live = delta("searches") + delta("creates")
    per_minute = 60 / span if span else math.nan
    return {
        "budget_rpm": meetergo_rpm,
        "slot_ms": round(60_000 / meetergo_rpm, 1),
        "window_seconds": round(span, 1),
        "achieved_rpm": round(requests * per_minute, 1),
        "utilization": round(requests * per_minute / meetergo_rpm, 3),
        "min_interval_utilization": round(min(utilizations), 3) if utilizations else None,
        "live_rpm": round(live * per_minute, 1),
        "background_rpm": round((requests - live) * per_minute, 1),
        "scan_pages": delta("pages"),
        # Sample intervals in which the scan was granted a request: while deliveries queue,
        # live requests take every token and the scan waits (the priority at work).
        "intervals": len(intervals),
        "intervals_scanning": scanning,
        "reconciles_ended_in_window": ended_inside,
        # The walk fell short of meetergo's `total` and read everything again in another order.
        "rewalks": rewalks,
        "scan_ran_whole_window": running,
        "budget_saturated": bool(utilizations) and requests * per_minute >= 0.95 * meetergo_rpm,
    }


def measure_live(
    deliveries: int = 1000,
    per_second: float = 20,
    reconcile_contacts: int = 0,
    meetergo_rpm: float | None = None,
    *,
    workdir: Path,
    indexed_sandbox: bool = True,
) -> dict[str, Any]:
    """Deliver `deliveries` contact.created at `per_second` and measure delivery -> write.

    With `reconcile_contacts`, that many linked people are seeded first (see the module's
    docstring) and a reconcile scan runs throughout at `meetergo_rpm` (default 3000/min, a
    20 ms slot); without, the budgets are unlimited unless `meetergo_rpm` is given.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    reconcile = reconcile_contacts > 0
    if reconcile and meetergo_rpm is None:
        meetergo_rpm = 3000
    started = time.monotonic()
    result: dict[str, Any] = {
        "deliveries": deliveries,
        "per_second": per_second,
        "reconcile_contacts": reconcile_contacts,
        "meetergo_rpm": meetergo_rpm,
        "sandbox": "indexed" if indexed_sandbox else "stock",
    }
    state = workdir / "live-state.db"
    for stale in workdir.glob("live-state.db*"):
        stale.unlink()
    sandbox = _start_bench_sandbox(
        meetergo=reconcile_contacts,
        meetmatch=reconcile_contacts,
        overlap=reconcile_contacts,
        indexed=indexed_sandbox,
    )
    result["sandbox_start_seconds"] = round(time.monotonic() - started, 1)
    daemon: _Daemon | None = None
    try:
        if reconcile:
            result["setup"] = _seed_linked(sandbox, workdir, state, reconcile_contacts)
        budget = {"vendor": "meetergo", "requests_per_minute": meetergo_rpm or UNLIMITED}
        sandbox.post("/_sandbox/limits", {**budget, "burst": 200})
        result["setup_seconds"] = round(time.monotonic() - started, 1)

        port = _free_port()
        config = _daemon_config(
            workdir / "live.toml",
            sandbox,
            state,
            port,
            meetergo_rpm=meetergo_rpm,
            reconcile=reconcile,
        )
        daemon = _Daemon(config, port, workdir / "live-daemon.log")
        daemon.wait_ready()
        daemon.wait_log("poll_meetergo done")  # the start-up poll is over
        if reconcile:
            _wait_scanning(sandbox)
        tag = uuid.uuid4().hex[:8]
        emails = [f"live-{tag}-{index:05d}@{LIVE_DOMAIN}" for index in range(deliveries)]
        result["load_average_before"] = round(os.getloadavg()[0], 2)
        cpu = (
            _cpu_seconds(daemon.process.pid),
            _cpu_seconds(sandbox.process.pid),
            _own_cpu_seconds(),
            _machine_busy_seconds(),
        )
        window_started = time.monotonic()
        sent, samples = asyncio.run(_window(sandbox.url, daemon.url, emails, per_second))
        window_seconds = time.monotonic() - window_started
        cpu_used = (
            _cpu_seconds(daemon.process.pid) - cpu[0],
            _cpu_seconds(sandbox.process.pid) - cpu[1],
            _own_cpu_seconds() - cpu[2],
            _machine_busy_seconds() - cpu[3],
        )
        created = sandbox.get("/_bench/created")
        contacts = sandbox.get("/_sandbox/meetergo/contacts")
        # The sandbox's own deliverer must have sent nothing: the bench is the only deliverer.
        own_deliveries = len(sandbox.get("/_sandbox/deliveries")["meetmatch"])
        log = daemon.log_lines()
    finally:
        if daemon is not None:
            result["daemon_exit"] = daemon.stop()
        sandbox.stop()

    wanted = {s.email: s for s in sent}
    written: dict[str, list[float]] = {}
    searched: dict[str, float] = {}
    for row in created:
        if row["email"] in wanted:
            written.setdefault(row["email"], []).append(float(row["at"]))
            if row.get("searched_at") is not None:
                searched[row["email"]] = float(row["searched_at"])
    # Where the time goes: until meetbridge's search for the email reaches meetergo (inbox,
    # queueing behind earlier deliveries, the first budget wait), then until the create lands.
    to_search = sorted((t - wanted[e].sent_at) * 1000 for e, t in searched.items())
    to_write = sorted((min(written[e]) - t) * 1000 for e, t in searched.items())
    in_meetergo: dict[str, int] = {}
    for contact in contacts:
        email = (contact.get("email") or "").strip().casefold()
        if email.endswith("@" + LIVE_DOMAIN):
            in_meetergo[email] = in_meetergo.get(email, 0) + 1
    latencies = sorted(
        (min(written[e]) - s.sent_at) * 1000 for e, s in wanted.items() if e in written
    )
    acks = sorted(s.ack_ms for s in sent)
    last_write = max((t for times in written.values() for t in times), default=math.nan)
    first_writes = sorted(min(times) for times in written.values())
    # Deliveries received and not yet written, at its largest (the worker's queue, roughly).
    events = sorted([(s.sent_at, 1) for s in sent] + [(t, -1) for t in first_writes])
    backlog = list(itertools.accumulate(change for _, change in events))
    sends = [s.sent_at for s in sent]
    slot_ms = 60_000 / meetergo_rpm if reconcile and meetergo_rpm else 0.0
    target = TARGET_MS + slot_ms
    p99 = _percentile(latencies, 99)
    result.update(
        {
            "count": len(latencies),
            "lost": sum(1 for e in wanted if e not in written),
            "not_stored": sum(1 for s in sent if not s.stored),
            "sandbox_deliveries": own_deliveries,
            "duplicates": sum(n - 1 for n in in_meetergo.values() if n > 1),
            "p50_ms": round(_percentile(latencies, 50), 1),
            "p95_ms": round(_percentile(latencies, 95), 1),
            "p99_ms": round(p99, 1),
            "max_ms": round(latencies[-1], 1) if latencies else math.nan,
            "mean_ms": round(sum(latencies) / len(latencies), 1) if latencies else math.nan,
            "to_search_p50_ms": round(_percentile(to_search, 50), 1),
            "to_search_p99_ms": round(_percentile(to_search, 99), 1),
            "search_to_write_p50_ms": round(_percentile(to_write, 50), 1),
            "search_to_write_p99_ms": round(_percentile(to_write, 99), 1),
            "max_backlog": max(backlog, default=0),
            "write_rate": round((len(first_writes) - 1) / (first_writes[-1] - first_writes[0]), 2)
            if len(first_writes) > 1
            else math.nan,
            "ack_p50_ms": round(_percentile(acks, 50), 2),
            "ack_p99_ms": round(_percentile(acks, 99), 2),
            "send_rate": round((len(sends) - 1) / (max(sends) - min(sends)), 2)
            if len(sends) > 1
            else math.nan,
            "target_p99_ms": round(target, 1),
            "window_seconds": round(window_seconds, 1),
            "daemon_cpu_share": round(cpu_used[0] / window_seconds, 2),
            "sandbox_cpu_share": round(cpu_used[1] / window_seconds, 2),
            "bench_cpu_share": round(cpu_used[2] / window_seconds, 2),
            # Everything else the machine ran meanwhile (cores busy): other work disturbs the
            # figures; near 0 on a quiet machine.
            "others_cpu_share": round(
                max(0.0, cpu_used[3] - cpu_used[0] - cpu_used[1] - cpu_used[2]) / window_seconds, 2
            ),
            "cpus": os.cpu_count(),
            "rate_limited": int(samples[-1]["rate_limited"]) if samples else None,
            "log_warnings": sum(1 for e in log if e.get("level") in ("warning", "error")),
            "run_seconds": round(time.monotonic() - started, 1),
        }
    )
    result["target_met"] = bool(latencies) and p99 <= target and result["lost"] == 0
    if reconcile and meetergo_rpm:
        result["reconcile"] = _reconcile_figures(
            samples, (min(sends), last_write), log, meetergo_rpm
        )
    return result


def format_live(result: dict[str, Any]) -> str:
    """A short table of one `measure_live` result."""
    reconcile = result.get("reconcile")
    title = (
        f"live latency: {result['deliveries']} deliveries at {result['per_second']:g}/s"
        + (
            f", reconcile of {result['reconcile_contacts']:,} contacts at "
            f"{result['meetergo_rpm']:g}/min (slot {reconcile['slot_ms']:g} ms)"
            if reconcile
            else ", no reconcile"
        )
        + f", {result['sandbox']} sandbox"
    )
    verdict = "met" if result["target_met"] else "MISSED"
    lines = [
        title,
        f"  {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}   target p99",
        f"  {result['p50_ms']:>6.1f}ms {result['p95_ms']:>6.1f}ms {result['p99_ms']:>6.1f}ms "
        f"{result['max_ms']:>6.1f}ms   <= {result['target_p99_ms']:g} ms: {verdict}",
        f"  written {result['count']}/{result['deliveries']}, lost {result['lost']}, "
        f"duplicates {result['duplicates']}, 429s {result['rate_limited']}, "
        f"receiver ack p99 {result['ack_p99_ms']:.1f} ms",
    ]
    lines.append(
        f"  until meetbridge's search p50/p99 {result['to_search_p50_ms']:g}/"
        f"{result['to_search_p99_ms']:g} ms, search to write {result['search_to_write_p50_ms']:g}/"
        f"{result['search_to_write_p99_ms']:g} ms; written {result['write_rate']:g}/s, "
        f"largest backlog {result['max_backlog']}"
    )
    lines.append(
        f"  CPU (cores) in the window: daemon {result['daemon_cpu_share']:.2f}, sandbox "
        f"{result['sandbox_cpu_share']:.2f}, bench {result['bench_cpu_share']:.2f}, other "
        f"processes {result['others_cpu_share']:.2f} (of {result['cpus']})"
    )
    if reconcile:
        lines.append(
            f"  meetergo {reconcile['achieved_rpm']:g}/min of {reconcile['budget_rpm']:g} "
            f"({reconcile['utilization']:.0%}): live {reconcile['live_rpm']:g}, background "
            f"{reconcile['background_rpm']:g} ({reconcile['scan_pages']} pages); reconcile ran "
            f"the whole window: {'yes' if reconcile['scan_ran_whole_window'] else 'NO'} (granted "
            f"requests in {reconcile['intervals_scanning']}/{reconcile['intervals']} samples)"
        )
    if "setup" in result:
        setup = result["setup"]
        lines.append(
            f"  setup {result['setup_seconds']:g} s (backfill linking {setup['linked']:,}: "
            f"{setup['backfill_seconds']:g} s)"
        )
    return "\n".join(lines)
