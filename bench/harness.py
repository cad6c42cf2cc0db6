"""What every benchmark needs: a sandbox in its own process, a config, a timed meetbridge run.

The sandbox runs as a separate process (as the vendors would be), so the CPU it spends answering
is not counted against meetbridge's, and meetbridge is measured as a user runs it: its own
process, over real loopback HTTP, its peak memory read from the kernel when it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Budgets high enough never to be the bottleneck: the CPU-bound path.
UNLIMITED = 10_000_000


@dataclass
class Sandbox:
    """A sandbox server process and its control API."""

    url: str
    process: subprocess.Popen[str]

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=60).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return httpx.post(self.url + path, json=body, timeout=60).json()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/_sandbox/stats")
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_sandbox(
    *,
    meetergo: int,
    meetmatch: int,
    overlap: int,
    meetergo_rpm: float | None = None,
    meetmatch_rpm: float | None = None,
    bulk_per_minute: float | None = None,
) -> Sandbox:
    """A sandbox seeded with plain data; budgets of None are unlimited (never a bottleneck).

    With a budget set, the sandbox enforces it as meetergo does: a token bucket whose burst is
    the vendor's documented 200 (or the budget itself when that is smaller), 429 beyond it.
    """
    return launch_sandbox(
        sandbox_args(
            meetergo=meetergo,
            meetmatch=meetmatch,
            overlap=overlap,
            meetergo_rpm=meetergo_rpm,
            meetmatch_rpm=meetmatch_rpm,
            bulk_per_minute=bulk_per_minute,
        )
    )


def sandbox_args(
    *,
    meetergo: int,
    meetmatch: int,
    overlap: int,
    meetergo_rpm: float | None = None,
    meetmatch_rpm: float | None = None,
    bulk_per_minute: float | None = None,
) -> list[str]:
    """The command-line arguments of `python -m connector.sandbox` that `start_sandbox` uses."""
    mg_rpm = meetergo_rpm or UNLIMITED
    args = [
        "--port", "0", "--seed", "bulk",
        "--meetergo", str(meetergo), "--meetmatch", str(meetmatch), "--overlap", str(overlap),
        "--meetergo-rpm", str(mg_rpm), "--meetergo-burst", str(min(200, mg_rpm)),
        "--bulk-per-minute", str(bulk_per_minute or UNLIMITED),
    ]  # fmt: skip
    if meetmatch_rpm:
        args += ["--meetmatch-rpm", str(meetmatch_rpm)]
    return args


def launch_sandbox(
    args: list[str], entry: tuple[str, ...] = ("-m", "connector.sandbox")
) -> Sandbox:
    """Start `python <entry> <args>` (the sandbox server by default) and wait for its URL."""
    process = subprocess.Popen(
        [sys.executable, *entry, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    # Seeding 100,000 contacts takes a few seconds before the socket listens.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("SANDBOX_URL="):
            return Sandbox(line.strip().split("=", 1)[1], process)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("the sandbox did not start")


def write_config(
    path: Path,
    sandbox: Sandbox,
    state: Path,
    *,
    meetergo_rpm: float | None = None,
    meetmatch_rpm: float | None = None,
    bulk_per_minute: float | None = None,
    extra: str = "",
) -> Path:
    """A meetbridge config pointing at `sandbox`, its client budgets matching the sandbox's."""
    path.write_text(
        f"""
[meetmatch]
base_url = "{sandbox.url}/meetmatch"
api_key = "mm_live_sandbox"
webhook_secret = "whsec_sandbox"
requests_per_minute = {meetmatch_rpm or UNLIMITED}

[meetergo]
base_url = "{sandbox.url}/meetergo"
api_key = "mg_sandbox"
requests_per_minute = {meetergo_rpm or UNLIMITED}
bulk_per_minute = {bulk_per_minute or UNLIMITED}

[state]
url = "sqlite:///{state}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Timed:
    """One finished meetbridge process: exit code, output, wall seconds, peak RSS in MB."""

    returncode: int
    output: str
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float


def _high_water_mb(pid: int) -> float | None:
    """The process's peak resident set so far (VmHWM), or None once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_meetbridge(*args: str, timeout: float = 3600) -> Timed:
    """Run `meetbridge <args>` in its own process and measure it.

    Peak memory is the kernel's high-water mark of the process's own memory (VmHWM), read
    every 20 ms while it runs: it only grows, so the last reading is the peak. (wait4's
    ru_maxrss is not used: it can carry a high-water mark from before the exec.)
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert process.stdout is not None
    peak = [0.0]

    def watch() -> None:
        while process.returncode is None:
            reading = _high_water_mb(process.pid)
            if reading is None:
                return
            peak[0] = max(peak[0], reading)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output = process.stdout.read()  # drained while it runs: a full pipe would block it
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    if wall > timeout:
        raise RuntimeError(f"meetbridge {' '.join(args)} took {wall:.0f} s")
    return Timed(
        returncode=process.returncode,
        output=output,
        wall_seconds=wall,
        peak_rss_mb=peak[0],
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
