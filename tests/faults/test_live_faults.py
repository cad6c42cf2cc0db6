"""The daemon, a real process, under faults: flaky vendors, crashes, refused keys, lost database.

Each case ends with DESIGN's invariants on the sandbox vendors' final state (harness.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SandboxServer
from tests.faults.harness import (
    DaemonProcess,
    add_people,
    assert_invariants,
    clear_faults,
    config_text,
    converged,
    daemon,
    email_of,
    every_fault,
    faults,
    wait_for,
    writes,
)
from tests.faults.proxy import CuttableProxy

pytestmark = pytest.mark.slow

NO_SEED = ("--seed", "none", "--meetergo-rpm", "6000", "--meetmatch-rpm", "6000")


def _daemon(server: SandboxServer, tmp_path: Path, state: str | None = None) -> DaemonProcess:
    url = state or f"sqlite:///{tmp_path / 'state.db'}"
    return daemon(tmp_path, "daemon", lambda port: config_text(server, url, port=port))


def _config(run: DaemonProcess) -> Path:
    return Path(run.args[run.args.index("--config") + 1])


def _emails(server: SandboxServer, vendor: str) -> list[str]:
    return [e for c in server.get(f"/_sandbox/{vendor}/contacts") if (e := email_of(c))]


def _quiet_for(server: SandboxServer, seconds: float) -> None:
    server.post("/_sandbox/reset-stats", {})
    time.sleep(seconds)
    assert writes(server) == 0, server.stats()


@pytest.mark.sandbox_args(*NO_SEED)
def test_live_sync_rides_out_every_fault_and_odd_deliveries(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """500s, slow answers, dropped connections and 429 bursts on both vendors, while users
    work and deliveries come twice, out of order and late."""
    server = sandbox_server
    run = _daemon(server, tmp_path)
    run.start_ready()
    server.post("/_sandbox/options", {"vendor": "meetergo", "duplicate_deliveries": True})
    every_fault(server, seed=5, retry_after={"meetmatch": True, "meetergo": False})
    add_people(server, "a", 8)

    # Out of order: an appointment names a prospect before the prospect's contact.created.
    # (The records are the sandbox's own, made without their webhooks, delivered by hand.)
    person = server.post(
        "/_sandbox/meetmatch/contacts",
        {"full_name": "Or Der", "email": "order@example.com", "notify": False},
    )
    appointment = server.post(
        "/_sandbox/meetmatch/appointments", {"prospect_id": person["id"], "notify": False}
    )
    assert run.deliver_meetmatch("appointment.created", appointment) == 200
    for _ in range(2):  # twice
        assert run.deliver_meetmatch("contact.created", person) == 200
    wait_for(lambda: "order@example.com" in _emails(server, "meetergo"), 60, "order lost")
    wait_for(lambda: converged(server), 90, "never converged under faults")
    assert run.deliver_meetmatch("contact.created", person) == 200  # and late
    stats = server.stats()
    assert stats["meetergo"]["rate_limited"] >= 5 and stats["meetmatch"]["rate_limited"] >= 5

    clear_faults(server)
    add_people(server, "b", 3)  # work goes on after the storm
    wait_for(lambda: converged(server), 30, "never converged after the faults")
    time.sleep(1.5)  # the last echoes settle
    _quiet_for(server, 3.5)  # three poll intervals, no write
    assert _emails(server, "meetergo").count("order@example.com") == 1
    assert run.stop() == 0
    assert_invariants(server, _config(run))


@pytest.mark.sandbox_args(*NO_SEED)
@pytest.mark.parametrize("vendor", ["meetergo", "meetmatch"])
def test_daemon_killed_between_a_vendor_write_and_its_link(
    sandbox_server: SandboxServer, tmp_path: Path, vendor: str
) -> None:
    """The vendor applied the create and holds its answer; the daemon dies before it can save
    the link. After a restart the person exists once (meetergo: looked up by email before
    creating again; MeetMatch: its own dedupe answers with the existing record)."""
    server = sandbox_server
    run = _daemon(server, tmp_path)
    run.start_ready()
    faults(server, vendor, stall_after_write=30.0)
    if vendor == "meetergo":
        server.post("/_sandbox/meetmatch/contacts", {"full_name": "Cr Ash", "email": "crash@x.io"})
    else:
        server.post("/_sandbox/meetergo/bookings", {"email": "crash@x.io", "firstname": "Cr"})
    wait_for(lambda: server.stats()[vendor]["stalled"] >= 1, 10, "the write never happened")
    run.kill()
    clear_faults(server)

    run.start_ready()
    wait_for(lambda: converged(server), 15, "did not converge after the restart")
    time.sleep(1.5)
    assert _emails(server, vendor) == ["crash@x.io"]
    assert run.stop() == 0
    assert_invariants(server, _config(run))


@pytest.mark.sandbox_args(*NO_SEED)
def test_a_refused_key_is_reported_loudly_and_work_resumes_once_fixed(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    server = sandbox_server
    run = _daemon(server, tmp_path)
    run.start_ready()

    def keys(vendor: str, key: str, scopes: list[str] | None) -> None:
        body: dict[str, Any] = {"vendor": vendor, "key": key, "scopes": scopes}
        assert httpx.post(server.url + "/_sandbox/keys", json=body).status_code == 200

    # 401: meetergo's key revoked. A MeetMatch contact cannot reach meetergo for now.
    keys("meetergo", "mg_sandbox", None)
    server.post("/_sandbox/meetmatch/contacts", {"full_name": "Ke Y", "email": "key@x.io"})
    wait_for(lambda: run.get("/readyz").status_code == 503, 10, "readyz never said so")
    reason = run.get("/readyz").json()["reason"]
    assert "meetergo" in reason and "meetergo.api_key" in reason
    assert run.metric('meetbridge_vendor_key_refused{access="read",vendor="meetergo"}') == 1
    assert any("refuses the API key" in line.get("msg", "") for line in run.lines())
    time.sleep(2)  # it keeps the work, untouched by the give-up count
    assert "key@x.io" not in _emails(server, "meetergo")
    assert run.alive()

    keys("meetergo", "mg_sandbox", [])  # the key works again
    wait_for(lambda: "key@x.io" in _emails(server, "meetergo"), 10, "work did not resume")
    wait_for(lambda: run.get("/readyz").status_code == 200, 10, "readyz stayed unready")
    assert run.metric('meetbridge_vendor_key_refused{access="read",vendor="meetergo"}') == 0

    # 403: MeetMatch's key loses its write scope. A booking cannot reach MeetMatch for now.
    keys("meetmatch", "mm_live_sandbox", ["read"])
    server.post("/_sandbox/meetergo/bookings", {"email": "scope@x.io", "firstname": "Sc"})
    wait_for(lambda: run.get("/readyz").status_code == 503, 10, "readyz never said so")
    assert "MeetMatch" in run.get("/readyz").json()["reason"]
    assert run.metric('meetbridge_vendor_key_refused{access="write",vendor="meetmatch"}') == 1
    time.sleep(2)
    assert "scope@x.io" not in _emails(server, "meetmatch")

    keys("meetmatch", "mm_live_sandbox", ["read", "write"])
    wait_for(lambda: "scope@x.io" in _emails(server, "meetmatch"), 10, "work did not resume")
    wait_for(lambda: run.get("/readyz").status_code == 200, 10, "readyz stayed unready")
    wait_for(lambda: converged(server), 10, "did not converge")
    assert run.stop() == 0
    assert_invariants(server, _config(run))


@pytest.mark.sandbox_args(*NO_SEED)
def test_the_state_database_going_away_loses_nothing(
    sandbox_server: SandboxServer, tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL out of reach for a while: the receiver answers 503 (the vendor keeps the
    delivery), the daemon stops syncing and says so, and once the database is back it takes
    its lock again and catches up."""
    server = sandbox_server
    with CuttableProxy() as proxy:
        state = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert state != postgres_url
        run = _daemon(server, tmp_path, state)
        run.start_ready()
        server.post("/_sandbox/meetmatch/contacts", {"full_name": "Be Fore", "email": "a@x.io"})
        wait_for(lambda: converged(server) and _emails(server, "meetergo"), 10, "no sync")

        proxy.cut()
        assert run.deliver_meetmatch("contact.created", {"id": "x", "email": "b@x.io"}) == 503
        wait_for(lambda: run.get("/readyz").status_code == 503, 10, "readyz never said so")
        assert "state database" in run.get("/readyz").json()["reason"]
        # Users keep working meanwhile; their webhooks get 503 and the vendor gives up.
        server.post("/_sandbox/meetmatch/contacts", {"full_name": "Dur Ing", "email": "c@x.io"})
        server.post("/_sandbox/meetergo/contacts", {"firstName": "Ui", "email": "d@x.io"})
        time.sleep(3)
        assert run.alive() and run.get("/healthz").status_code == 200
        assert "c@x.io" not in _emails(server, "meetergo")

        proxy.restore()
        wait_for(lambda: run.get("/readyz").status_code == 200, 30, "never ready again")
        wait_for(lambda: converged(server), 30, "did not catch up after the outage")
        assert {"c@x.io", "d@x.io"} <= set(_emails(server, "meetergo"))
        assert any("writer lock" in line.get("msg", "") for line in run.lines())
        assert run.stop() == 0
        assert_invariants(server, _config(run))
