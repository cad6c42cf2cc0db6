"""The image's ENTRYPOINT, CMD and HEALTHCHECK, run outside Docker with the same arguments.

There is no Docker engine on the test machines, so the commands are read from the Dockerfile and
run here: only the mounted config path is swapped for a temporary file. The secret comes from a
`*_FILE` variable, as with Docker secrets.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _instruction(name: str) -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name}\b(.*)$", text, re.MULTILINE)
    assert match, f"no {name} in the Dockerfile"
    array = match.group(1)
    if name == "HEALTHCHECK":
        array = array.split(" CMD ", 1)[1]
    parsed: list[str] = json.loads(array.strip())
    return parsed


def _command(argv: list[str]) -> list[str]:
    # `meetbridge` as the image installs it: the console script of this environment.
    assert argv[0] == "meetbridge"
    return [sys.executable, "-m", "connector", *argv[1:]]


def test_the_image_defaults_are_the_documented_contract() -> None:
    assert _instruction("ENTRYPOINT") == ["meetbridge"]
    assert _instruction("CMD") == ["run", "--config", "/config/meetbridge.toml"]
    assert _instruction("HEALTHCHECK") == ["meetbridge", "healthcheck"]
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "EXPOSE 8080" in text and 'VOLUME ["/data"]' in text
    assert re.search(r"^USER \d+:\d+$", text, re.MULTILINE), "runs as a numeric non-root user"
    assert all(
        re.match(r"FROM \S+:\d+\.\d+\.\d+-slim-\w+", line)
        for line in text.splitlines()
        if line.startswith("FROM ")
    ), "base images are pinned"


@pytest.mark.sandbox_args("--seed", "none")
def test_entrypoint_and_healthcheck_run_as_in_the_image(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = tmp_path / "meetergo_api_key"
    secret.write_text("mg_sandbox\n", encoding="utf-8")
    config = tmp_path / "meetbridge.toml"
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
public_url = "http://127.0.0.1:{port}"
meetergo_path_token = "0123456789abcdefghijklmnopqrstuvwxyz"
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "MEETBRIDGE_RECEIVER__PORT": str(port),
        "MEETBRIDGE_MEETERGO__API_KEY_FILE": str(secret),
    }
    argv = [*_instruction("ENTRYPOINT"), *_instruction("CMD")]
    argv[argv.index("/config/meetbridge.toml")] = str(config)
    daemon = subprocess.Popen(
        _command(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        health = _command(_instruction("HEALTHCHECK"))
        deadline = time.monotonic() + 20
        while True:
            check = subprocess.run(health, env=env, capture_output=True, text=True, timeout=10)
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
    # With nothing listening, the healthcheck says so and fails.
    down = subprocess.run(health, env=env, capture_output=True, text=True, timeout=10)
    assert down.returncode == 1
