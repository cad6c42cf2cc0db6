"""The image's ENTRYPOINT, CMD and HEALTHCHECK, run outside Docker with the same arguments.

There is no Docker engine on the test machines, so the commands are read from the Dockerfile and
run here: only the mounted config path is swapped for a temporary file, and a temporary
directory stands in for the image's WORKDIR (the `/data` volume). Secrets come from `*_FILE`
variables, as with Docker secrets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mappings import normalize_email
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
IMAGE_CONFIG = "/config/meetbridge.toml"
PATH_TOKEN = "0123456789abcdefghijklmnopqrstuvwxyz"


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def _instruction(name: str) -> list[str]:
    match = re.search(rf"^{name}\b(.*)$", _dockerfile(), re.MULTILINE)
    assert match, f"no {name} in the Dockerfile"
    array = match.group(1)
    if name == "HEALTHCHECK":
        array = array.split(" CMD ", 1)[1]
    parsed: list[str] = json.loads(array.strip())
    return parsed


def _last(name: str, text: str) -> str:
    """The argument of the last `name` instruction (the one in effect in the final image)."""
    found = re.findall(rf"^{name}\s+(.+?)\s*$", text, re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return str(found[-1])


def runs_as_non_root(dockerfile: str) -> bool:
    """The image's final USER is a numeric uid other than 0, and its gid (if given) not 0."""
    users = re.findall(r"^USER\s+(\S+)\s*$", dockerfile, re.MULTILINE)
    if not users:
        return False
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    return bool(match) and int(match.group(1)) != 0 and int(match.group(2) or 1) != 0


def _command(argv: list[str]) -> list[str]:
    # `meetbridge` as the image installs it: the console script of this environment.
    assert argv[0] == "meetbridge"
    return [sys.executable, "-m", "connector", *argv[1:]]


def _clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any MEETBRIDGE_ variable, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEETBRIDGE_")}
    return {**base, **extra}


def _secret(directory: Path, name: str, value: str) -> Path:
    path = directory / name
    path.write_text(value + "\n", encoding="utf-8")
    return path


def test_the_image_defaults_are_the_documented_contract() -> None:
    assert _instruction("ENTRYPOINT") == ["meetbridge"]
    assert _instruction("CMD") == ["run", "--config", IMAGE_CONFIG]
    assert _instruction("HEALTHCHECK") == ["meetbridge", "healthcheck"]
    text = _dockerfile()
    assert "EXPOSE 8080" in text and 'VOLUME ["/data"]' in text
    assert _last("WORKDIR", text) == "/data"
    assert runs_as_non_root(text), "runs as a numeric non-root user"
    assert all(
        re.match(r"FROM \S+:\d+\.\d+\.\d+-slim-\w+", line)
        for line in text.splitlines()
        if line.startswith("FROM ")
    ), "base images are pinned"
    # The wheels are bind-mounted for the install, never copied into a layer of the image.
    assert "RUN --mount=type=bind,from=build,source=/wheels,target=/wheels" in text
    assert "COPY --from=build" not in text


@pytest.mark.parametrize(
    ("user", "ok"),
    [
        ("USER 10001:10001", True),
        ("USER 10001", True),
        ("USER 0", False),
        ("USER root", False),
        ("USER 0:0", False),
        ("USER 10001:0", False),
        ("USER meetbridge", False),
        ("USER 10001:10001\nRUN true\nUSER 0", False),
    ],
)
def test_the_non_root_check_refuses_root(user: str, ok: bool) -> None:
    assert runs_as_non_root(f"FROM python:3.11.11-slim-bookworm\n{user}\n") is ok


@pytest.mark.sandbox_args("--seed", "none")
def test_entrypoint_and_healthcheck_run_as_in_the_image(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = _secret(tmp_path, "meetergo_api_key", "mg_sandbox")
    config = tmp_path / "meetbridge.toml"
    # The port is in the file only: the healthcheck must find it there, as `run` does.
    config.write_text(
        f"""
[meetmatch]
base_url = "{sandbox_server.url}/meetmatch"
api_key = "mm_live_sandbox"
webhook_secret = "whsec_sandbox"
[meetergo]
base_url = "{sandbox_server.url}/meetergo"
[state]
url = "sqlite:///{tmp_path / "state.db"}"
[receiver]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
meetergo_path_token = "{PATH_TOKEN}"
""",
        encoding="utf-8",
    )
    env = _clean_env(MEETBRIDGE_MEETERGO__API_KEY_FILE=str(secret))
    argv = [*_instruction("ENTRYPOINT"), *_instruction("CMD")]
    argv[argv.index(IMAGE_CONFIG)] = str(config)
    daemon = subprocess.Popen(
        _command(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    health = _command(_instruction("HEALTHCHECK"))
    # In the image the healthcheck finds the config at /config/meetbridge.toml; here
    # MEETBRIDGE_CONFIG points it at the stand-in. `--config` (as `run` takes it) works too.
    probes = [
        (health, {**env, "MEETBRIDGE_CONFIG": str(config)}),
        ([*health, "--config", str(config)], env),
    ]
    try:
        deadline = time.monotonic() + 20
        for probe, probe_env in probes:
            while True:
                check = subprocess.run(
                    probe, env=probe_env, capture_output=True, text=True, timeout=10
                )
                if check.returncode == 0:
                    break
                assert daemon.poll() is None, daemon.stderr.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, check.stderr
                time.sleep(0.2)
            assert "healthy" in check.stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=15)
    assert code == 0
    # With nothing listening, the healthcheck says so, naming the port from the file, and fails.
    for probe, probe_env in probes:
        down = subprocess.run(probe, env=probe_env, capture_output=True, text=True, timeout=10)
        assert down.returncode == 1
        assert f"127.0.0.1:{port}/healthz" in down.stderr
    # A config named but missing is an error naming it (exit 1: Docker reserves 2).
    missing = subprocess.run(
        [*health, "--config", str(tmp_path / "nope.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert missing.returncode == 1 and "nope.toml" in missing.stderr


def _documented_backfill() -> tuple[list[str], list[str]]:
    """The `docker run` lines of docs/deploy.md: the daemon's -e names, the backfill's argv."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    commands = [
        shlex.split(line)
        for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip()
    ]
    runs = [words for words in commands if words[:2] == ["docker", "run"]]
    daemon = next(w for w in runs if "-d" in w)
    backfill = next(w for w in runs if "backfill" in w)
    daemon_env = [daemon[i + 1].split("=", 1)[0] for i, w in enumerate(daemon) if w == "-e"]
    return daemon_env, backfill


@pytest.mark.sandbox_args(
    "--seed", "demo", "--meetergo", "40", "--meetmatch", "20", "--overlap", "8"
)
def test_documented_docker_backfill_runs_with_secrets_from_files(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    daemon_env, documented = _documented_backfill()
    # The one-shot backfill gets the same secret variables and mounts as the daemon example.
    backfill_env = [
        documented[i + 1].split("=", 1)[0] for i, w in enumerate(documented) if w == "-e"
    ]
    assert set(daemon_env) <= set(backfill_env), set(daemon_env) - set(backfill_env)
    assert all(name.endswith("_FILE") for name in backfill_env), backfill_env
    args = documented[documented.index("meetbridge", 2) + 1 :]
    assert args[:3] == ["backfill", "--config", IMAGE_CONFIG], args

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    values = {
        "MEETBRIDGE_MEETERGO__API_KEY_FILE": "mg_sandbox",
        "MEETBRIDGE_MEETMATCH__API_KEY_FILE": "mm_live_sandbox",
        "MEETBRIDGE_MEETMATCH__WEBHOOK_SECRET_FILE": "whsec_sandbox",
        "MEETBRIDGE_RECEIVER__MEETERGO_PATH_TOKEN_FILE": PATH_TOKEN,
    }
    assert set(backfill_env) <= set(values), set(backfill_env) - set(values)
    env = _clean_env(
        **{name: str(_secret(secrets, name.lower(), values[name])) for name in backfill_env}
    )
    # The mounted config holds no secret and no state.url: the default SQLite file lands in
    # the working directory, the image's WORKDIR (/data, the volume).
    config = tmp_path / "meetbridge.toml"
    config.write_text(
        f"""
[meetmatch]
base_url = "{sandbox_server.url}/meetmatch"
requests_per_minute = 3000
[meetergo]
base_url = "{sandbox_server.url}/meetergo"
requests_per_minute = 3000
bulk_per_minute = 60
[retry]
attempts = 4
initial_wait_seconds = 0.05
max_wait_seconds = 0.2
""",
        encoding="utf-8",
    )
    workdir = tmp_path / "data"
    workdir.mkdir()
    assert _last("WORKDIR", _dockerfile()) == "/data"
    meetmatch_emails = {
        e
        for c in sandbox_server.get("/_sandbox/meetmatch/contacts")
        if isinstance(e := normalize_email(c.get("email")), str)
    }
    assert meetmatch_emails
    argv = [*_instruction("ENTRYPOINT"), *args]
    argv[argv.index(IMAGE_CONFIG)] = str(config)
    result = subprocess.run(
        _command(argv), env=env, cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "backfill summary" in result.stdout
    assert (workdir / "meetbridge.db").is_file()
    arrived = {
        normalize_email(c.get("email")) for c in sandbox_server.get("/_sandbox/meetergo/contacts")
    }
    assert meetmatch_emails <= arrived, meetmatch_emails - arrived
    assert sandbox_server.stats()["meetergo"]["writes"] > 0


@pytest.mark.sandbox_args("--seed", "none")
def test_config_from_the_environment_alone(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    """A Kubernetes-style deployment: no file at all, only MEETBRIDGE_ variables and secrets."""
    key = _secret(tmp_path, "meetergo_api_key", "mg_sandbox")
    env = _clean_env(
        MEETBRIDGE_MEETMATCH__BASE_URL=f"{sandbox_server.url}/meetmatch",
        MEETBRIDGE_MEETMATCH__API_KEY="mm_live_sandbox",
        MEETBRIDGE_MEETERGO__BASE_URL=f"{sandbox_server.url}/meetergo",
        MEETBRIDGE_MEETERGO__API_KEY_FILE=str(key),
        MEETBRIDGE_STATE__URL=f"sqlite:///{tmp_path / 'state.db'}",
    )
    meetbridge = [sys.executable, "-m", "connector"]
    check = subprocess.run(
        [*meetbridge, "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    assert "meetmatch: ok" in check.stdout and "meetergo: ok" in check.stdout
    assert (tmp_path / "state.db").is_file()
    # A file that is named but missing is still an error naming it.
    missing = tmp_path / "absent.toml"
    for how in (["--config", str(missing)], []):
        named = subprocess.run(
            [*meetbridge, "check", *how],
            env={**env, "MEETBRIDGE_CONFIG": str(missing)} if not how else env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert named.returncode == 2
        assert str(missing) in named.stderr and "no such file" in named.stderr
    # Without the file, what is missing is named with its variable.
    bare = subprocess.run(
        [*meetbridge, "check"],
        env=_clean_env(MEETBRIDGE_STATE__URL=f"sqlite:///{tmp_path / 'other.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 2
    assert "meetmatch.api_key" in bare.stderr and "MEETBRIDGE_MEETMATCH__API_KEY" in bare.stderr
