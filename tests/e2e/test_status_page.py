"""The status page in a real headless browser (Debian's chromium, driven by Playwright).

The daemon runs against the sandbox; one contact cannot be written to MeetMatch (its write path
is down), so a dead letter appears. The page must show the same numbers as `meetbridge status`,
the ages of the polls that ran and the actions this daemon took, load nothing from any other
origin, stay readable on a phone, and its replay button must replay the dead letter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SandboxServer, meetbridge
from tests.e2e.test_daemon import Daemon, _free_port, wait_for

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def daemon(sandbox_server: SandboxServer, tmp_path: Path) -> Iterator[Daemon]:
    port = _free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[meetmatch]
base_url = "{sandbox_server.url}/meetmatch"
api_key = "mm_live_sandbox"
webhook_secret = "whsec_sandbox"
requests_per_minute = 6000
[meetergo]
base_url = "{sandbox_server.url}/meetergo"
api_key = "mg_sandbox"
requests_per_minute = 6000
[sync]
# Long: the test drives everything by webhooks, and no poll may mend the dead letter first.
poll_interval_seconds = 600
[state]
url = "sqlite:///{tmp_path / "state.db"}"
[receiver]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
meetergo_path_token = "0123456789abcdefghijklmnopqrstuvwxyz"
[retry]
attempts = 2
initial_wait_seconds = 0
max_wait_seconds = 0
""",
        encoding="utf-8",
    )
    running = Daemon(config, port)
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.stop(signal.SIGKILL)


@pytest.mark.sandbox_args("--seed", "none")
def test_status_page_shows_the_numbers_and_replays(
    sandbox_server: SandboxServer, daemon: Daemon, browser: object, tmp_path: Path
) -> None:
    sandbox_server.post("/_sandbox/faults", {"vendor": "meetmatch", "write_error_rate": 1.0})
    sandbox_server.post(
        "/_sandbox/meetergo/bookings", {"email": "ida@x.io", "firstname": "Ida", "lastname": "Ek"}
    )
    sandbox_server.post(
        "/_sandbox/meetmatch/contacts", {"full_name": "Max Muster", "email": "max@x.io"}
    )
    wait_for(
        lambda: (
            "max@x.io" in {c["email"] for c in sandbox_server.get("/_sandbox/meetergo/contacts")}
        ),
        5,
        "the MeetMatch contact never reached meetergo",
    )
    status = lambda: json.loads(  # noqa: E731
        meetbridge("status", "--config", str(daemon.config), "--json").stdout
    )
    wait_for(lambda: len(status()["dead_letters"]) == 1, 10, "no dead letter appeared")
    sandbox_server.post("/_sandbox/faults", {"vendor": "meetmatch", "write_error_rate": 0.0})
    wait_for(
        lambda: all(status()["last_success"][job] for job in ("poll_meetmatch", "poll_meetergo")),
        10,
        "the polls at start never finished",
    )
    facts = status()

    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(daemon.url + "/")
    kpi = lambda name: page.text_content(f'[data-kpi="{name}"]').strip()  # noqa: E731
    links = facts["links"]
    assert kpi("linked pairs") == str(links["both_sides"])
    if "meetmatch_only" in links:
        assert kpi("MeetMatch only") == str(links["meetmatch_only"])
        assert kpi("meetergo only") == str(links["meetergo_only"])
    else:
        assert kpi("one side only") == str(links["total"] - links["both_sides"])
    # Every link of this run was made today (max@x.io at least).
    assert kpi("synced today") == str(links["total"]) and links["total"] >= 1
    assert kpi("dead letters") == "1"
    assert kpi("inbox") == str(facts["inbox_depth"])
    [letter] = facts["dead_letters"]
    assert "ida@x.io" in page.text_content("#dead-letters")
    assert "contact.created" in page.content()  # the webhook subscriptions are listed
    # The polls ran at start: their age is seconds, not "never"; the reconcile has not run.
    for job in ("poll_meetmatch", "poll_meetergo"):
        assert page.text_content(f'[data-age="{job}"]').endswith(" s ago"), job
    assert page.text_content('[data-age="reconcile"]') == "never"
    # This daemon's own actions: max@x.io created in meetergo, ida@x.io failed for MeetMatch.
    actions = page.eval_on_selector_all("[data-action]", "nodes => nodes.map(n => n.textContent)")
    assert {"create", "failed"} <= set(actions), actions
    if os.environ.get("MEETBRIDGE_WRITE_SCREENSHOT"):
        page.screenshot(path=str(ROOT / "docs" / "status-page.png"), full_page=True)

    page.click(f'[data-replay="{letter["id"]}"]')
    page.wait_for_load_state()
    assert page.query_selector('[data-kpi="dead letters"]'), page.content()[:500]
    assert kpi("dead letters") == "0"
    assert "no dead letters" in page.text_content("#dead-letters")
    assert f"dead letter {letter['id']} replayed" in page.text_content(".notice")
    assert "ida@x.io" in {c["email"] for c in sandbox_server.get("/_sandbox/meetmatch/contacts")}
    assert status()["dead_letters"] == []

    phone = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    phone.on("request", lambda request: requested.append(request.url))
    phone.goto(daemon.url + "/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    # No font, script, image or stylesheet from anywhere else: only the daemon was asked.
    assert requested and all(url.startswith(daemon.url + "/") for url in requested), requested

    # A form posted from anywhere else (no page token) replays nothing.
    forged = httpx.post(daemon.url + f"/status/replay/{letter['id']}", data={"token": "x"})
    assert forged.status_code == 403
    assert daemon.stop(signal.SIGTERM) == 0
    time.sleep(0)
