"""A real sandbox server in a subprocess, and the `meetbridge` CLI run against it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass
class SandboxServer:
    url: str
    process: subprocess.Popen[str]

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=10).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return httpx.post(self.url + path, json=body, timeout=10).json()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/_sandbox/stats")
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_sandbox(*args: str) -> SandboxServer:
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("SANDBOX_URL="):
            return SandboxServer(line.strip().split("=", 1)[1], process)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("the sandbox server did not start")


@pytest.fixture
def sandbox_server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    marker = request.node.get_closest_marker("sandbox_args")
    server = start_sandbox(*(marker.args if marker else ()))
    try:
        yield server
    finally:
        server.stop()


def write_config(path: Path, server: SandboxServer, state: Path, **extra: str) -> Path:
    rate = extra.pop("rate", "3000")
    path.write_text(
        f"""
[meetmatch]
base_url = "{server.url}/meetmatch"
api_key = "{extra.pop("meetmatch_key", "mm_live_sandbox")}"
requests_per_minute = {rate}

[meetergo]
base_url = "{server.url}/meetergo"
api_key = "{extra.pop("meetergo_key", "mg_sandbox")}"
requests_per_minute = {rate}
bulk_per_minute = 60

[state]
url = "sqlite:///{state}"

[retry]
attempts = 4
initial_wait_seconds = 0.05
max_wait_seconds = 0.2
""",
        encoding="utf-8",
    )
    return path


def meetbridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def spawn_meetbridge(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
