"""Two daemon replicas on one state database: both receive, one syncs, the other takes over.

No coordinator beyond the database: the replica holding the writer lock applies deliveries and
runs the jobs; the standby stores what it receives in the shared inbox. Killed with SIGKILL, the
active replica's lock goes with it and the standby takes over.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SandboxServer
from tests.e2e.test_daemon import SECRET, TOKEN, Daemon, _free_port, emails, wait_for

pytestmark = pytest.mark.slow


def _config(
    server: SandboxServer, tmp_path: Path, name: str, state: Path, public_port: int
) -> Daemon:
    port = _free_port()
    path = tmp_path / f"{name}.toml"
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
poll_interval_seconds = 1
[state]
url = "sqlite:///{state}"
[receiver]
host = "127.0.0.1"
port = {port}
# Replicas share one public URL (a load balancer in front of them).
public_url = "http://127.0.0.1:{public_port}"
meetergo_path_token = "{TOKEN}"
""",
        encoding="utf-8",
    )
    return Daemon(path, port)


def _deliver(replica: Daemon, person_id: str, email: str) -> None:
    body = json.dumps(
        {
            "event": "contact.created",
            "data": {"id": person_id, "full_name": "Re Plica", "email": email},
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(
        replica.url + "/hooks/meetmatch",
        content=body,
        headers={"X-MeetMatch-Signature": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200


@pytest.mark.sandbox_args("--seed", "none")
def test_standby_receives_and_takes_over(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    shared = _free_port()
    first = _config(sandbox_server, tmp_path, "a", state, shared)
    second = _config(sandbox_server, tmp_path, "b", state, shared)
    first.start()
    second.start()
    try:
        # Delivered to the standby, applied by the active replica.
        _deliver(second, "5d1a2b3c-0000-0000-0000-000000000001", "one@replica.io")
        wait_for(lambda: "one@replica.io" in emails(sandbox_server, "meetergo"), 5, "not applied")

        first.stop(signal.SIGKILL)
        started = time.monotonic()
        _deliver(second, "5d1a2b3c-0000-0000-0000-000000000002", "two@replica.io")
        wait_for(lambda: "two@replica.io" in emails(sandbox_server, "meetergo"), 30, "no takeover")
        assert time.monotonic() - started < 30

        assert sorted(emails(sandbox_server, "meetergo")) == ["one@replica.io", "two@replica.io"]
        assert len(sandbox_server.get("/_sandbox/meetmatch/hooks")) == 5
        assert len(sandbox_server.get("/_sandbox/meetergo/webhooks")) == 1
    finally:
        assert second.stop(signal.SIGTERM) == 0
