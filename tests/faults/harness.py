"""What the fault suite shares: real processes, their configs, faults, and the invariant checks.

Every case drives real `meetbridge` processes (backfill or the daemon) against the sandbox
server in another process, breaks things, and ends by checking DESIGN's invariants on what the
sandbox vendors hold, read through the control API (the truth behind the APIs), and on what
`meetbridge status --json` recorded: no duplicates, nobody lost, quiescence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mappings import normalize_email
from tests.e2e.conftest import SandboxServer, meetbridge
from tests.e2e.test_daemon import wait_for

__all__ = ["wait_for"]  # the suites share one polling helper

SECRET = "whsec_sandbox"  # the sandbox's default signing secret
TOKEN = "Fq7_xK2-mN9pL4vR8tW1zB6cD3hJ0sG5"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def email_of(record: dict[str, Any]) -> str | None:
    email = normalize_email(record.get("email"))
    return email if isinstance(email, str) else None


def config_text(
    server: SandboxServer,
    state_url: str,
    *,
    port: int = 0,
    poll: float = 1.0,
    rate: int = 6000,
    meetmatch_key: str = "mm_live_sandbox",
    meetergo_key: str = "mg_sandbox",
    secret: str = SECRET,
    token: str = TOKEN,
    sync: str = "",
    extra: str = "",
    public_port: int | None = None,
) -> str:
    """A config for both commands: quick retries, scaled-up budgets, the receiver on loopback.

    `public_port`: where vendors deliver, when it is not the receiver's own port (replicas
    behind one balancer share one public URL).
    """
    return f"""
[meetmatch]
base_url = "{server.url}/meetmatch"
api_key = "{meetmatch_key}"
webhook_secret = "{secret}"
requests_per_minute = {rate}

[meetergo]
base_url = "{server.url}/meetergo"
api_key = "{meetergo_key}"
requests_per_minute = {rate}
bulk_per_minute = 60

[sync]
poll_interval_seconds = {poll}
{sync}

[state]
url = "{state_url}"

[receiver]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{public_port or port}"
meetergo_path_token = "{token}"

[retry]
attempts = 6
initial_wait_seconds = 0.05
max_wait_seconds = 0.5
max_seconds = 30
{extra}
"""


# Every process a test started, so that the suite's teardown can kill what a failed test left
# running (a stray daemon would poll on for the rest of the run).
STARTED: list[subprocess.Popen[str]] = []


def kill_leftovers() -> None:
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Process:
    """A `meetbridge` process whose log (stderr) goes to a file, so it can never block on it."""

    args: list[str]
    log: Path
    process: subprocess.Popen[str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        handle = self.log.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            text=True,
            env={**os.environ, **self.env},
        )
        STARTED.append(self.process)
        handle.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def wait(self, timeout: float = 300) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        found = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found


@dataclass
class DaemonProcess(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5)

    def ready(self) -> bool:
        if not self.alive():
            raise AssertionError(f"daemon exited: {self.log.read_text(encoding='utf-8')[-3000:]}")
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def listening(self) -> bool:
        if not self.alive():
            raise AssertionError(f"daemon exited: {self.log.read_text(encoding='utf-8')[-3000:]}")
        try:
            return self.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def start_ready(self, seconds: float = 30) -> None:
        self.start()
        wait_for(self.ready, seconds, "the daemon never became ready")

    def metric(self, line_start: str) -> float | None:
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    def deliver_meetmatch(self, event: str, data: dict[str, Any]) -> int:
        body = json.dumps({"event": event, "data": data}).encode()
        headers = {"X-MeetMatch-Signature": sign(body), "Content-Type": "application/json"}
        return httpx.post(self.url + "/hooks/meetmatch", content=body, headers=headers).status_code


def daemon(
    tmp_path: Path, name: str, text: Callable[[int], str], env: dict[str, str] | None = None
) -> DaemonProcess:
    port = free_port()
    config = tmp_path / f"{name}.toml"
    config.write_text(text(port), encoding="utf-8")
    return DaemonProcess(
        ["run", "--config", str(config), "--log-level", "DEBUG"],
        tmp_path / f"{name}.log",
        env=env or {},
        port=port,
    )


def faults(server: SandboxServer, vendor: str, **switches: Any) -> None:
    answer = httpx.post(server.url + "/_sandbox/faults", json={"vendor": vendor, **switches})
    assert answer.status_code == 200, answer.text


def every_fault(server: SandboxServer, *, seed: int, retry_after: dict[str, bool]) -> None:
    """The issue's storm on both vendors at once: 10 % 500s, 5 % answers 2 s late, 2 % dropped
    connections (before the vendor acts, and after a write was applied), and a burst of 429s,
    with or without Retry-After per vendor."""
    for vendor in ("meetmatch", "meetergo"):
        faults(
            server,
            vendor,
            error_rate=0.10,
            slow_rate=0.05,
            slow_seconds=2.0,
            drop_rate=0.02,
            drop_after_write_rate=0.02,
            fail_next=[429] * 5,
            retry_after=retry_after[vendor],
            seed=seed,
        )


def clear_faults(server: SandboxServer) -> None:
    for vendor in ("meetmatch", "meetergo"):
        faults(
            server,
            vendor,
            error_rate=0.0,
            write_error_rate=0.0,
            slow_rate=0.0,
            drop_rate=0.0,
            drop_after_write_rate=0.0,
            stall_after_write=0.0,
            latency=0.0,
            fail_next=[],
            retry_after=True,
        )


def writes(server: SandboxServer) -> int:
    stats = server.stats()
    return int(stats["meetergo"]["writes"] + stats["meetmatch"]["writes"])


def status(config: Path) -> dict[str, Any]:
    result = meetbridge("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    facts: dict[str, Any] = json.loads(result.stdout)
    return facts


def assert_invariants(
    server: SandboxServer,
    config: Path,
    *,
    preexisting: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """DESIGN's invariants on the final state: no duplicates, nobody lost, quiescence.

    Quiescence is checked by one more backfill with every fault off: it must write nothing.
    """
    mg = server.get("/_sandbox/meetergo/contacts")
    mm = server.get("/_sandbox/meetmatch/contacts")
    facts = status(config)
    skipped = {(s["side"], s["record_id"]) for s in facts["skipped"]}

    # 1. No duplicates (beyond what the vendors held before meetbridge ran).
    for name, records in (("meetergo", mg), ("MeetMatch", mm)):
        twice = {e: n for e, n in Counter(filter(None, map(email_of, records))).items() if n > 1}
        assert set(twice) <= preexisting, f"{name} duplicates: {twice}"

    # 2. Nothing lost: every valid email on one side is on the other, or skipped with a reason.
    mg_emails = {e for c in mg if (e := email_of(c))}
    mm_emails = {e for c in mm if (e := email_of(c))}
    for contact in mg:
        if ("meetergo", contact["id"]) in skipped:
            continue
        email = email_of(contact)
        assert email is not None, f"meetergo {contact['id']} has no valid email and no skip"
        assert email in mm_emails, f"meetergo {email} never reached MeetMatch"
    for person in mm:
        if ("meetmatch", person["id"]) in skipped:
            continue
        email = email_of(person)
        assert email is not None, f"MeetMatch {person['id']} has no valid email and no skip"
        assert email in mg_emails, f"MeetMatch {email} never reached meetergo"
    assert facts["dead_letters"] == [], facts["dead_letters"]

    # 3. Quiescence: with the faults gone, another full pass writes nothing.
    clear_faults(server)
    server.post("/_sandbox/reset-stats", {})
    again = meetbridge("backfill", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert writes(server) == 0, server.stats()


def converged(server: SandboxServer) -> bool:
    """Both vendors hold the same valid emails (the seeded data has no skips)."""
    mg = {e for c in server.get("/_sandbox/meetergo/contacts") if (e := email_of(c))}
    mm = {e for c in server.get("/_sandbox/meetmatch/contacts") if (e := email_of(c))}
    return mg == mm


def add_people(server: SandboxServer, tag: str, n: int) -> None:
    """Users at work: MeetMatch contacts (webhooks), meetergo bookings (webhooks) and meetergo
    contacts typed into its UI (no webhook: only a poll finds them)."""
    for i in range(n):
        server.post(
            "/_sandbox/meetmatch/contacts",
            {"full_name": f"Mm {tag} {i}", "email": f"mm.{tag}.{i}@example.com"},
        )
        server.post(
            "/_sandbox/meetergo/bookings",
            {"email": f"book.{tag}.{i}@example.com", "firstname": "Bo", "lastname": f"{tag}{i}"},
        )
        server.post(
            "/_sandbox/meetergo/contacts",
            {"firstName": f"Ui{i}", "email": f"ui.{tag}.{i}@example.com"},
        )
