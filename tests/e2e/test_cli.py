"""The `meetbridge` command line as users run it: exit codes, messages, output, env overrides."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.errors import AuthError
from connector.runtime import open_runtime
from connector.sandbox.app import Sandbox
from connector.sandbox.meetergo import MeetergoState
from connector.settings import load_settings
from tests.conftest import config_dict
from tests.e2e.conftest import SandboxServer, meetbridge, write_config

pytestmark = pytest.mark.slow
SEEDED = pytest.mark.sandbox_args(
    "--seed", "demo", "--meetergo", "60", "--meetmatch", "30", "--overlap", "10"
)


def test_check_passes_with_good_keys(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    result = meetbridge("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "meetmatch: ok" in result.stdout and "meetergo: ok" in result.stdout


def test_check_names_the_refused_key_and_never_prints_it(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "c.toml", sandbox_server, tmp_path / "s.db", meetergo_key="mg_wrong_secret"
    )
    result = meetbridge("check", "--config", str(config))
    assert result.returncode == 3
    assert "meetergo.api_key" in result.stderr
    assert "mg_wrong_secret" not in result.stderr + result.stdout


def test_environment_overrides_the_file(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    result = meetbridge(
        "check", "--config", str(config), env={"MEETBRIDGE_MEETMATCH__API_KEY": "mm_live_nope"}
    )
    assert result.returncode == 3
    assert "meetmatch.api_key" in result.stderr


def test_bad_config_exits_2_naming_every_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[meetmatch]\nrequests_per_minute = -1\n[meetergo]\napi_key = "k"\n'
        '[sync]\nconflict = "newest"\n',
        encoding="utf-8",
    )
    result = meetbridge("check", "--config", str(config))
    assert result.returncode == 2
    for key in ("meetmatch.api_key", "meetmatch.requests_per_minute", "sync.conflict"):
        assert key in result.stderr
    assert "MEETBRIDGE_MEETMATCH__API_KEY" in result.stderr
    config.write_text("[meetmatch\n", encoding="utf-8")
    broken = meetbridge("backfill", "--config", str(config))
    assert broken.returncode == 2 and "not valid TOML" in broken.stderr


async def test_platform_key_without_user_id_is_an_auth_error(tmp_path: Path) -> None:
    sandbox = Sandbox(meetergo=MeetergoState(api_keys={"ak_live:1234:secret"}))
    data = config_dict(f"sqlite:///{tmp_path / 's.db'}")
    data["meetergo"]["api_key"] = "ak_live:1234:secret"
    settings = load_settings(None, data)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        with pytest.raises(AuthError, match=r"meetergo\.api_user_id"):
            await commands.check(rt)
    data["meetergo"]["api_user_id"] = "user-1"
    settings = load_settings(None, data)
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        assert (await commands.check(rt))["meetergo"] == "ok"


@SEEDED
def test_backfill_then_status(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    result = meetbridge("backfill", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "backfill summary" in result.stdout
    assert "skipped: no_email" in result.stdout

    status = meetbridge("status", "--config", str(config), "--json")
    assert status.returncode == 0, status.stderr
    facts = json.loads(status.stdout)
    assert facts["links"]["both_sides"] > 0
    assert facts["dead_letters"] == []
    assert facts["last_runs"]["backfill"]["status"] == "ok"
    assert {r["reason"] for r in facts["skipped_by_reason"]} >= {"no_email", "invalid_email"}

    human = meetbridge("status", "--config", str(config))
    assert human.returncode == 0 and "dead letters (0 open)" in human.stdout


@SEEDED
def test_dry_run_prints_the_plan_and_writes_nothing(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    sandbox_server.post("/_sandbox/reset-stats", {})
    result = meetbridge("backfill", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout and "create in MeetMatch" in result.stdout
    stats = sandbox_server.stats()
    assert stats["meetergo"]["writes"] == 0 and stats["meetmatch"]["writes"] == 0
    # Nor to the state database: none was there, none is made (no lock file either).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@SEEDED
def test_failed_writes_exit_1_then_replay_delivers(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    sandbox_server.post("/_sandbox/faults", {"vendor": "meetmatch", "write_error_rate": 1.0})
    result = meetbridge("backfill", "--config", str(config))
    assert result.returncode == 1
    assert "dead-letter" in result.stderr
    facts = json.loads(meetbridge("status", "--config", str(config), "--json").stdout)
    assert facts["dead_letters"] and all(d["target"] == "meetmatch" for d in facts["dead_letters"])

    sandbox_server.post("/_sandbox/faults", {"vendor": "meetmatch", "write_error_rate": 0.0})
    replay = meetbridge("replay", "--config", str(config))
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.count("replayed dead letter") == len(facts["dead_letters"])
    after = json.loads(meetbridge("status", "--config", str(config), "--json").stdout)
    assert after["dead_letters"] == []
    rerun = meetbridge("backfill", "--config", str(config))
    assert rerun.returncode == 0, rerun.stderr


def test_a_list_key_from_the_environment_must_be_json(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[meetmatch]\napi_key = "k"\n[meetergo]\napi_key = "k"\n', encoding="utf-8")
    env = {"MEETBRIDGE_SYNC__DIRECTIONS": "meetergo_to_meetmatch"}
    result = meetbridge("check", "--config", str(config), env=env)
    assert result.returncode == 2
    assert "take JSON" in result.stderr and "Traceback" not in result.stderr


def _with_receiver(config: Path) -> Path:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[meetmatch]\n", '[meetmatch]\nwebhook_secret = "whsec_sandbox"\n')
        + '\n[receiver]\npublic_url = "https://sync.example.com"\n'
        'meetergo_path_token = "0123456789abcdefghijklmnopqrstuvwxyz"\n',
        encoding="utf-8",
    )
    return config


def test_hooks_sync_is_idempotent_and_remove_cleans_up(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = _with_receiver(write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db"))
    for _ in range(2):
        synced = meetbridge("hooks", "sync", "--config", str(config))
        assert synced.returncode == 0, synced.stderr
    assert len(sandbox_server.get("/_sandbox/meetmatch/hooks")) == 5
    [webhook] = sandbox_server.get("/_sandbox/meetergo/webhooks")
    assert webhook["endpoint"].startswith("https://sync.example.com/hooks/meetergo/")

    listed = meetbridge("hooks", "list", "--config", str(config))
    assert listed.returncode == 0 and "contact.created" in listed.stdout
    assert "0123456789abcdefghijklmnopqrstuvwxyz" not in listed.stdout  # the token is a secret

    # State lost: the meetergo webhook is adopted, not made a second time.
    (tmp_path / "s.db").unlink()
    assert meetbridge("hooks", "sync", "--config", str(config)).returncode == 0
    assert len(sandbox_server.get("/_sandbox/meetergo/webhooks")) == 1

    removed = meetbridge("hooks", "remove", "--config", str(config))
    assert removed.returncode == 0, removed.stderr
    assert sandbox_server.get("/_sandbox/meetergo/webhooks") == []
    assert "no subscriptions" in meetbridge("hooks", "list", "--config", str(config)).stdout


def test_run_refuses_a_weak_path_token(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    config = _with_receiver(write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db"))
    config.write_text(
        config.read_text(encoding="utf-8").replace("0123456789abcdefghijklmnopqrstuvwxyz", "short"),
        encoding="utf-8",
    )
    result = meetbridge("run", "--config", str(config))
    assert result.returncode == 2
    assert "receiver.meetergo_path_token" in result.stderr and "short" not in result.stderr


def _config_with_every_secret(path: Path, state_url: str) -> tuple[Path, set[str]]:
    secrets = {
        "mm_live_SECRETKEY1",
        "mg_SECRETKEY2",
        "whsec_SECRET3",
        "whsec_OLDSECRET4",
        "pathtoken_SECRET6_0123456789abcdefghijkl",
        "statustoken_SECRET7",
        "statuspass_SECRET8",
        "dbpass_SECRET9",
    }
    path.write_text(
        f"""
[meetmatch]
api_key = "mm_live_SECRETKEY1"
webhook_secret = "whsec_SECRET3"
previous_webhook_secrets = ["whsec_OLDSECRET4"]

[meetergo]
api_key = "mg_SECRETKEY2"

[receiver]
public_url = "https://sync.example.com"
meetergo_path_token = "pathtoken_SECRET6_0123456789abcdefghijkl"
status_token = "statustoken_SECRET7"
status_password = "statuspass_SECRET8"

[state]
url = "{state_url}"
""",
        encoding="utf-8",
    )
    return path, secrets


def test_status_never_shows_a_secret(tmp_path: Path, postgres_url: str) -> None:
    """Every secret set, the database's password included: none in `status`, either form."""
    url = make_url(postgres_url).set(password="dbpass_SECRET9")
    url_text = url.render_as_string(hide_password=False)
    # The test server trusts loopback connections: any password is accepted.
    config, secrets = _config_with_every_secret(tmp_path / "c.toml", url_text)
    for args in (("--json",), ()):
        result = meetbridge("status", "--config", str(config), *args)
        assert result.returncode == 0, result.stderr
        assert {s for s in secrets if s in result.stdout + result.stderr} == set()
        if args:
            assert json.loads(result.stdout)["dead_letters"] == []


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://meetbridge:dbpass_SECRET9@127.0.0.1:1/meetbridge"
    config, secrets = _config_with_every_secret(tmp_path / "c.toml", url)
    result = meetbridge("status", "--config", str(config), "--json")
    assert result.returncode == 4
    assert "state database" in result.stderr
    assert {s for s in secrets if s in result.stdout + result.stderr} == set()


def _table(stdout: str, title: str) -> dict[str, tuple[int, int]]:
    """The rows of a summary table as printed: outcome -> (MeetMatch, meetergo)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title)
    rows: dict[str, tuple[int, int]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) == 3 and cells[1].isdigit():
            rows[cells[0]] = (int(cells[1]), int(cells[2]))
    return rows


@SEEDED
def test_backfill_prints_plain_progress_and_a_summary_that_matches_the_vendors(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    mg_before = len(sandbox_server.get("/_sandbox/meetergo/contacts"))
    mm_before = len(sandbox_server.get("/_sandbox/meetmatch/contacts"))
    sandbox_server.post("/_sandbox/reset-stats", {})

    result = meetbridge("backfill", "--config", str(config))

    assert result.returncode == 0, result.stderr
    # Not a terminal: one plain line per phase, no bar, no escape codes.
    progress = result.stderr.splitlines()
    assert progress[:2] == [
        "reading MeetMatch: 4 to go",
        "reading meetergo (by createdAt): 60 to go",
    ]
    assert len(progress) == 3 and progress[2].startswith("writing: ")
    assert int(progress[2].removeprefix("writing: ").removesuffix(" to go")) > 0
    assert "\x1b[" not in result.stderr + result.stdout and "━" not in result.stderr

    table = _table(result.stdout, "backfill summary")
    mg_after = sandbox_server.get("/_sandbox/meetergo/contacts")
    mm_after = sandbox_server.get("/_sandbox/meetmatch/contacts")
    stats = sandbox_server.stats()["meetergo"]
    patched = sum(r["count"] for r in stats["by_route"] if r["method"] == "PATCH")
    # What the vendors hold.
    assert table["created"] == (len(mm_after) - mm_before, len(mg_after) - mg_before)
    assert table["created"][0] > 0 and table["created"][1] > 0
    assert table["updated"] == (0, patched) and patched > 0
    assert table["failed"] == (0, 0)
    # What status knows.
    facts = json.loads(meetbridge("status", "--config", str(config), "--json").stdout)
    summary = facts["last_runs"]["backfill"]["summary"]
    for outcome in ("created", "updated", "linked", "unchanged", "failed"):
        assert table[outcome] == (summary["meetmatch"][outcome], summary["meetergo"][outcome])
    skipped = {f"skipped: {row['reason']}": (0, 0) for row in facts["skipped_by_reason"]}
    for row in facts["skipped_by_reason"]:
        mm, mg = skipped[f"skipped: {row['reason']}"]
        skipped[f"skipped: {row['reason']}"] = (
            (mm + row["count"], mg) if row["side"] == "meetmatch" else (mm, mg + row["count"])
        )
    assert {k: v for k, v in table.items() if k.startswith("skipped: ")} == skipped


@SEEDED
def test_backfill_draws_a_bar_on_a_terminal(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", sandbox_server, tmp_path / "s.db")
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "connector", "backfill", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: the process is done with it
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=120)
    finally:
        os.close(leader)
    assert process.returncode == 0
    text = shown.decode("utf-8", "replace")
    assert "━" in text and "writing" in text
    assert "reading MeetMatch: 4 to go" not in text  # the bar replaces the plain lines
    assert "backfill summary" in stdout.decode()
