"""`python -m connector.sandbox` serves on a free port and announces its URL."""

from __future__ import annotations

import select
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow
def test_server_subprocess_announces_url_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.sandbox", "--port", "0", "--seed", "demo",
         "--meetergo", "20", "--meetmatch", "10", "--meetergo-rpm", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 15
        line = ""
        while not line.startswith("SANDBOX_URL=") and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline().strip()
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert line.startswith("SANDBOX_URL=http://127.0.0.1:")
        url = line.removeprefix("SANDBOX_URL=")
        response = httpx.get(
            f"{url}/meetergo/crm?limit=5", headers={"Authorization": "Bearer mg_sandbox"}
        )
        assert response.status_code == 200
        assert response.json()["total"] == 20
        stats = httpx.get(f"{url}/_sandbox/stats").json()
        assert stats["meetergo"]["requests"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode is not None
