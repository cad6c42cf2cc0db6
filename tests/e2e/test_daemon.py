"""The real daemon process against the real sandbox server: live sync end to end.

Hooks get registered; a signed MeetMatch contact.created reaches meetergo within 2 s and the same
delivery three times makes one contact; a badly signed one is refused and writes nothing; a
meetergo booking for a new attendee reaches MeetMatch within 2 s; a contact added to meetergo
(no webhook) arrives within two poll intervals; once converged, polls write nothing; SIGTERM
exits 0; a restart makes no new subscriptions; a SIGKILL between storing and applying a delivery
loses nothing and duplicates nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mappings import normalize_email
from tests.e2e.conftest import SandboxServer, meetbridge

pytestmark = pytest.mark.slow

SECRET = "whsec_sandbox"  # the sandbox's default signing secret
TOKEN = "t" * 8 + "0123456789abcdefghijklmnopqrstuv"
POLL = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: self._ready(), 20, "the daemon never became ready")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
        try:
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=15)


def wait_for(check: Callable[[], bool], seconds: float, message: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(message)


def emails(server: SandboxServer, vendor: str) -> list[str]:
    found = []
    for record in server.get(f"/_sandbox/{vendor}/contacts"):
        email = normalize_email(record.get("email"))
        if isinstance(email, str):
            found.append(email)
    return found


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def write_daemon_config(
    path: Path, server: SandboxServer, state: Path, port: int, poll: float
) -> Path:
    path.write_text(
        f"""
[meetmatch]
base_url = "{server.url}/meetmatch"
api_key = "mm_live_sandbox"
webhook_secret = "{SECRET}"
requests_per_minute = 6000

[meetergo]
base_url = "{server.url}/meetergo"
api_key = "mg_sandbox"
requests_per_minute = 6000

[sync]
poll_interval_seconds = {poll}

[state]
url = "sqlite:///{state}"

[receiver]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
meetergo_path_token = "{TOKEN}"

[retry]
attempts = 3
initial_wait_seconds = 0.05
max_wait_seconds = 0.2
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def daemon(sandbox_server: SandboxServer, tmp_path: Path) -> Iterator[Daemon]:
    port = _free_port()
    config = write_daemon_config(
        tmp_path / "config.toml", sandbox_server, tmp_path / "state.db", port, POLL
    )
    running = Daemon(config, port)
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.stop(signal.SIGKILL)


def _inbox(state: Path, vendor: str = "meetmatch") -> dict[str, int]:
    """One vendor's inbox rows by state (MeetMatch's include echoes of meetbridge's creates)."""
    db = sqlite3.connect(state)
    try:
        rows = db.execute(
            "select state, count(*) from inbox where vendor = ? group by state", (vendor,)
        )
        return dict(rows.fetchall())
    finally:
        db.close()


def _metric(daemon: Daemon, line_start: str) -> float:
    for line in httpx.get(daemon.url + "/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _writes(server: SandboxServer) -> int:
    stats = server.stats()
    return int(stats["meetergo"]["writes"] + stats["meetmatch"]["writes"])


@pytest.mark.sandbox_args("--seed", "none", "--meetergo-rpm", "6000")
def test_live_sync_end_to_end(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    # Phase 1: webhooks. Polls are 30 s apart (one runs at start), so whatever arrives within
    # 2 s came through the receiver, not through a poll.
    state = tmp_path / "state.db"
    port = _free_port()
    config = write_daemon_config(tmp_path / "config.toml", sandbox_server, state, port, 30)
    daemon = Daemon(config, port)
    daemon.start()
    try:
        _live_phases(sandbox_server, daemon, state, tmp_path)
    finally:
        if daemon.process and daemon.process.poll() is None:
            daemon.stop(signal.SIGKILL)


def _live_phases(server: SandboxServer, daemon: Daemon, state: Path, tmp_path: Path) -> None:
    hooks = server.get("/_sandbox/meetmatch/hooks")
    webhooks = server.get("/_sandbox/meetergo/webhooks")
    assert {h["event"] for h in hooks} >= {"contact.created", "appointment.created"}
    assert len(webhooks) == 1 and "booking_created" in webhooks[0]["eventTypes"]
    time.sleep(0.5)  # the start-up poll is done

    # A user creates a contact in MeetMatch; the sandbox delivers a signed contact.created.
    server.post(
        "/_sandbox/meetmatch/contacts", {"full_name": "Jordan Avery", "email": "jordan@acme.com"}
    )
    took = wait_for(
        lambda: "jordan@acme.com" in emails(server, "meetergo"), 2, "never reached meetergo"
    )
    assert took <= 2
    wait_for(lambda: _inbox(state) == {"done": 1}, 1, "delivery 1 not marked done")

    # The same delivery three times makes one contact.
    body = json.dumps(
        {
            "event": "contact.created",
            "data": {
                "id": "3d1a2b3c-0000-0000-0000-000000000099",
                "full_name": "Ana Lima",
                "email": "ana@lima.io",
                "created_at": "2026-06-01T14:55:00Z",
            },
        }
    ).encode()
    headers = {"X-MeetMatch-Signature": sign(body), "Content-Type": "application/json"}
    for _ in range(3):
        answer = httpx.post(daemon.url + "/hooks/meetmatch", content=body, headers=headers)
        assert answer.status_code == 200
    wait_for(lambda: "ana@lima.io" in emails(server, "meetergo"), 2, "ana never arrived")
    time.sleep(0.5)
    assert emails(server, "meetergo").count("ana@lima.io") == 1
    assert _inbox(state) == {"done": 2}  # stored once

    # A badly signed delivery is refused and writes nothing: not to a vendor, not to the inbox.
    server.post("/_sandbox/reset-stats", {})
    forged = body.replace(b"ana@lima.io", b"eve@evil.io")
    refused = httpx.post(daemon.url + "/hooks/meetmatch", content=forged, headers=headers)
    assert refused.status_code == 401
    time.sleep(0.5)
    assert "eve@evil.io" not in emails(server, "meetergo")
    assert _writes(server) == 0
    wait_for(lambda: _inbox(state) == {"done": 2}, 1, "delivery 2 not marked done")

    # A booking in meetergo for a new attendee reaches MeetMatch through the meetergo webhook.
    meetergo_hooks = 'meetbridge_webhook_requests_total{status="200",vendor="meetergo"}'
    assert _metric(daemon, meetergo_hooks) == 0
    server.post(
        "/_sandbox/meetergo/bookings",
        {"email": "booker@example.com", "firstname": "Bo", "lastname": "Oker"},
    )
    took = wait_for(lambda: "booker@example.com" in emails(server, "meetmatch"), 2, "booking lost")
    assert took <= 2
    assert _metric(daemon, meetergo_hooks) == 1
    wait_for(lambda: _inbox(state, "meetergo") == {"done": 1}, 1, "booking not marked done")

    metrics = httpx.get(daemon.url + "/metrics").text
    assert 'meetbridge_sync_actions_total{action="created",side="meetergo"}' in metrics
    assert 'meetbridge_webhook_requests_total{status="401",vendor="meetmatch"} 1.0' in metrics
    assert "meetbridge_vendor_requests_total" in metrics

    # SIGTERM with a write in flight to a slow vendor: exit 0 within 10 s, nothing lost.
    server.post("/_sandbox/faults", {"vendor": "meetergo", "latency": 1.5})
    held = sum(_inbox(state).values())
    server.post("/_sandbox/meetmatch/contacts", {"full_name": "Sig Term", "email": "sig@term.io"})
    wait_for(lambda: sum(_inbox(state).values()) == held + 1, 2, "not stored")
    time.sleep(0.3)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started <= 10
    server.post("/_sandbox/faults", {"vendor": "meetergo", "latency": 0.0})

    status = meetbridge("status", "--config", str(daemon.config), "--json")
    facts = json.loads(status.stdout)
    assert facts["last_success"]["poll_meetmatch"] and facts["last_success"]["poll_meetergo"]
    assert {s["vendor"] for s in facts["subscriptions"]} == {"meetmatch", "meetergo"}
    assert TOKEN not in status.stdout  # the path token is a secret
    assert facts["links"]["both_sides"] >= 3

    # Phase 2: a restart, polling every second. It reuses the subscriptions.
    port = int(daemon.url.rsplit(":", 1)[1])
    write_daemon_config(daemon.config, server, state, port, POLL)
    daemon.start()
    assert len(server.get("/_sandbox/meetmatch/hooks")) == len(hooks)
    assert len(server.get("/_sandbox/meetergo/webhooks")) == 1
    wait_for(lambda: emails(server, "meetergo").count("sig@term.io") == 1, 5, "lost on SIGTERM")

    # A contact added in meetergo's UI (no webhook exists for that) arrives by polling.
    server.post("/_sandbox/meetergo/contacts", {"firstName": "Polly", "email": "polly@example.com"})
    took = wait_for(
        lambda: "polly@example.com" in emails(server, "meetmatch"), 3 * POLL, "no poll found it"
    )
    assert took <= 2 * POLL, f"took {took:.2f} s, more than two poll intervals"

    # Converged: three poll intervals with zero writes on either side.
    time.sleep(POLL)
    server.post("/_sandbox/reset-stats", {})
    time.sleep(3 * POLL + 0.3)
    stats = server.stats()
    assert stats["meetergo"]["writes"] == 0, stats["meetergo"]
    assert stats["meetmatch"]["writes"] == 0, stats["meetmatch"]
    assert stats["meetmatch"]["requests"] >= 4  # the polls did run
    assert emails(server, "meetergo").count("sig@term.io") == 1
    assert daemon.stop(signal.SIGTERM) == 0
    assert set(_inbox(state)) == {"done"} and set(_inbox(state, "meetergo")) == {"done"}


@pytest.mark.sandbox_args("--seed", "none", "--meetergo-rpm", "6000")
def test_sigkill_between_storing_and_applying_loses_nothing(
    sandbox_server: SandboxServer, daemon: Daemon, tmp_path: Path
) -> None:
    # meetergo answers slowly, so the delivery is stored but its write is still in flight.
    sandbox_server.post("/_sandbox/faults", {"vendor": "meetergo", "latency": 3.0})
    body = json.dumps(
        {
            "event": "contact.created",
            "data": {
                "id": "4d1a2b3c-0000-0000-0000-000000000042",
                "full_name": "Kim Lee",
                "email": "kim@lee.io",
                "created_at": "2026-06-01T14:55:00Z",
            },
        }
    ).encode()
    headers = {"X-MeetMatch-Signature": sign(body), "Content-Type": "application/json"}
    assert (
        httpx.post(daemon.url + "/hooks/meetmatch", content=body, headers=headers).status_code
        == 200
    )
    db = sqlite3.connect(tmp_path / "state.db")
    stored = db.execute("select count(*) from inbox where state = 'pending'").fetchone()[0]
    db.close()
    assert stored == 1  # answered 2xx only once it was in the database
    time.sleep(0.3)
    daemon.stop(signal.SIGKILL)
    assert "kim@lee.io" not in emails(sandbox_server, "meetergo")

    sandbox_server.post("/_sandbox/faults", {"vendor": "meetergo", "latency": 0.0})
    daemon.start()
    wait_for(lambda: "kim@lee.io" in emails(sandbox_server, "meetergo"), 5, "lost after SIGKILL")
    time.sleep(1.5)
    assert emails(sandbox_server, "meetergo").count("kim@lee.io") == 1
    assert daemon.stop(signal.SIGTERM) == 0
