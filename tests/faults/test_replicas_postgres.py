"""Two daemon replicas on one PostgreSQL state database, one of them killed mid-stream.

500 MeetMatch deliveries are spread over both receivers (as a load balancer would); midway the
replica that syncs is killed with SIGKILL, and the deliveries aimed at it go to the other one
(as the balancer would, and as the vendor's retry would). Afterwards every person is on each
side exactly once, the standby took over within 30 s, and the polls of the two replicas never
overlapped in time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SandboxServer
from tests.faults.harness import (
    DaemonProcess,
    assert_invariants,
    config_text,
    daemon,
    email_of,
    free_port,
    sign,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PEOPLE = 500
RATE = 30_000


def _people(server: SandboxServer) -> list[dict[str, Any]]:
    """MeetMatch contacts made without their webhooks: the test delivers them itself."""
    return [
        server.post(
            "/_sandbox/meetmatch/contacts",
            {"full_name": f"Rep {n}", "email": f"rep{n:03d}@replicas.io", "notify": False},
        )
        for n in range(PEOPLE)
    ]


def _deliver(replicas: list[DaemonProcess], person: dict[str, Any], n: int) -> None:
    body = json.dumps({"event": "contact.created", "data": person}).encode()
    headers = {"X-MeetMatch-Signature": sign(body), "Content-Type": "application/json"}
    order = [replicas[n % 2], replicas[(n + 1) % 2]]
    for replica in order:  # the balancer's choice first; the other one if it is gone
        try:
            answer = httpx.post(
                replica.url + "/hooks/meetmatch", content=body, headers=headers, timeout=5
            )
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            return
    raise AssertionError(f"delivery {n} was refused by both replicas")


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["ts"]).timestamp()


def _poll_intervals(replica: DaemonProcess, killed_at: float | None) -> list[tuple[float, float]]:
    """When this replica was polling: from each start line to its done line (or its death)."""
    spans: list[tuple[float, float]] = []
    open_since: float | None = None
    for line in replica.lines():
        msg = line.get("msg", "")
        if msg.startswith("poll_meetmatch started"):
            open_since = _when(line)
        elif msg.startswith("poll_meetergo done") and open_since is not None:
            spans.append((open_since, _when(line)))
            open_since = None
        elif msg.startswith(("poll_meetergo stopped", "poll_meetmatch failed")):
            open_since = None
    if open_since is not None:
        spans.append((open_since, killed_at or time.time()))
    return spans


def _leader(replicas: list[DaemonProcess]) -> DaemonProcess:
    syncing = [r for r in replicas if any(x.get("msg") == "this replica syncs" for x in r.lines())]
    assert len(syncing) == 1, "exactly one replica syncs"
    return syncing[0]


@pytest.mark.sandbox_args(
    "--seed", "none", "--meetergo-rpm", str(RATE), "--meetmatch-rpm", str(RATE)
)
def test_two_replicas_one_killed_every_person_exactly_once(
    sandbox_server: SandboxServer, tmp_path: Path, postgres_url: str
) -> None:
    server = sandbox_server
    people = _people(server)
    balancer = free_port()  # the one public URL both replicas are reached at

    def config(port: int) -> str:
        return config_text(
            server, postgres_url, port=port, poll=1.0, rate=RATE, public_port=balancer
        )

    replicas = [daemon(tmp_path, name, config) for name in ("a", "b")]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        wait_for(replica.listening, 30, "a replica never listened")
    wait_for(lambda: any(r.ready() for r in replicas), 30, "no replica became ready")
    leader = _leader(replicas)
    standby = next(r for r in replicas if r is not leader)

    sent = 0
    lock = threading.Lock()

    def send(n: int) -> None:
        nonlocal sent
        _deliver(replicas, people[n], n)
        with lock:
            sent += 1

    killed_at = None
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(send, range(PEOPLE // 2)))
        assert len(first) == PEOPLE // 2
        leader.kill()  # mid-stream: its in-flight work and its lock die with it
        killed_at = time.time()
        list(pool.map(send, range(PEOPLE // 2, PEOPLE)))
    assert sent == PEOPLE

    def arrived() -> int:
        return len({e for c in server.get("/_sandbox/meetergo/contacts") if (e := email_of(c))})

    wait_for(lambda: arrived() == PEOPLE, 120, "not every person reached meetergo")
    took_over = [_when(x) for x in standby.lines() if x.get("msg") == "this replica syncs"]
    assert took_over and took_over[0] - killed_at <= 30, "the standby did not take over"
    time.sleep(2)  # late duplicates would show now

    meetergo = Counter(email_of(c) for c in server.get("/_sandbox/meetergo/contacts"))
    meetmatch = Counter(email_of(c) for c in server.get("/_sandbox/meetmatch/contacts"))
    assert len(meetergo) == PEOPLE and set(meetergo.values()) == {1}
    assert len(meetmatch) == PEOPLE and set(meetmatch.values()) == {1}

    # One replica polled at a time: no poll of one overlaps a poll of the other.
    spans_leader = _poll_intervals(leader, killed_at)
    spans_standby = _poll_intervals(standby, None)
    assert spans_leader and spans_standby
    for start, end in spans_leader:
        for other_start, other_end in spans_standby:
            assert end <= other_start or other_end <= start, "polls ran on both at once"

    assert standby.stop() == 0
    assert_invariants(server, Path(standby.args[standby.args.index("--config") + 1]))
