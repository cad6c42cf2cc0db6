"""No configured secret ever shows: not in logs, `status`, error messages, /metrics or the page.

A full run with distinctive secrets everywhere: a backfill, the daemon with good, forged and
misaddressed deliveries, a key revoked and restored, a bad key for `check`, then every output
meetbridge produced is searched for every secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SandboxServer, meetbridge
from tests.faults.harness import config_text, daemon, sign, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MEETMATCH_KEY = "mm_live_Mk7Qz2Lp9Xw4Rt8Vn3Bc6"
MEETERGO_KEY = "mgPk_Hs5Jd8Fk2Lq7Wz4Xc9Vb1"
WEBHOOK_SECRET = "whsec_Gt4Ny8Rm2Kp6Zq9Ws3"
OLD_WEBHOOK_SECRET = "whsec_Old_Jf7Lc2Xv9Qn4Tp8"
PATH_TOKEN = "Pt_9fQ2xL7mK4wZ8vR1nB6cD3hJ5sG0tY"
STATUS_TOKEN = "St_Wq3Er7Ty1Ui5Op9As2Df6"
STATUS_PASSWORD = "Sp_Zx8Cv4Bn2Mq6Lk9Jh3"
DB_PASSWORD = "Db_Pw5Rt9Yu3Io7Pa1Sd"
SECRETS = (
    MEETMATCH_KEY,
    MEETERGO_KEY,
    WEBHOOK_SECRET,
    OLD_WEBHOOK_SECRET,
    PATH_TOKEN,
    STATUS_TOKEN,
    STATUS_PASSWORD,
    DB_PASSWORD,
)


@pytest.mark.sandbox_args(
    "--seed",
    "demo",
    "--meetergo-rpm",
    "6000",
    "--meetmatch-rpm",
    "6000",
    "--meetmatch-key",
    MEETMATCH_KEY,
    "--meetergo-key",
    MEETERGO_KEY,
    "--webhook-secret",
    WEBHOOK_SECRET,
)
def test_a_full_run_shows_no_secret_anywhere(
    sandbox_server: SandboxServer, tmp_path: Path, postgres_url: str
) -> None:
    server = sandbox_server
    # PostgreSQL here trusts local connections, so the password is accepted and unused.
    state = postgres_url.replace("postgres@", f"postgres:{DB_PASSWORD}@")
    assert DB_PASSWORD in state

    def config(port: int) -> str:
        text = config_text(
            server,
            state,
            port=port,
            meetmatch_key=MEETMATCH_KEY,
            meetergo_key=MEETERGO_KEY,
            secret=WEBHOOK_SECRET,
            token=PATH_TOKEN,
        )
        return text.replace(
            f'meetergo_path_token = "{PATH_TOKEN}"',
            f'meetergo_path_token = "{PATH_TOKEN}"\n'
            f'status_token = "{STATUS_TOKEN}"\n'
            f'status_password = "{STATUS_PASSWORD}"',
        ).replace(
            f'webhook_secret = "{WEBHOOK_SECRET}"',
            f'webhook_secret = "{WEBHOOK_SECRET}"\n'
            f'previous_webhook_secrets = ["{OLD_WEBHOOK_SECRET}"]',
        )

    run = daemon(tmp_path, "daemon", config)
    path = Path(run.args[run.args.index("--config") + 1])
    seen: list[str] = []

    def capture(result: object) -> None:
        seen.append(str(getattr(result, "stdout", "")) + str(getattr(result, "stderr", "")))

    for args in (
        ("check",),
        ("backfill", "--log-level", "DEBUG"),
        ("status",),
        ("status", "--json"),
        ("hooks", "list"),
    ):
        result = meetbridge(*args, "--config", str(path))
        assert result.returncode == 0, result.stderr
        capture(result)

    run.start_ready()
    body = json.dumps(
        {"event": "contact.created", "data": {"id": "s1", "full_name": "Se C", "email": "s@c.io"}}
    ).encode()
    good = {"X-MeetMatch-Signature": sign(body, WEBHOOK_SECRET)}
    old = {"X-MeetMatch-Signature": sign(body.replace(b"s1", b"s2"), OLD_WEBHOOK_SECRET)}
    forged = {"X-MeetMatch-Signature": sign(body, "guess")}
    assert httpx.post(run.url + "/hooks/meetmatch", content=body, headers=good).status_code == 200
    replayed = body.replace(b"s1", b"s2")
    assert (
        httpx.post(run.url + "/hooks/meetmatch", content=replayed, headers=old).status_code == 200
    )
    assert httpx.post(run.url + "/hooks/meetmatch", content=body, headers=forged).status_code == 401
    assert (
        httpx.post(run.url + "/hooks/meetergo/" + PATH_TOKEN[:-1] + "x", json={}).status_code == 404
    )

    # A revoked key: the errors it causes name the key setting, never the key.
    httpx.post(
        server.url + "/_sandbox/keys",
        json={"vendor": "meetergo", "key": MEETERGO_KEY, "scopes": None},
    )
    server.post("/_sandbox/meetmatch/contacts", {"full_name": "Re Voked", "email": "r@v.io"})
    wait_for(lambda: run.get("/readyz").status_code == 503, 10, "the refusal never showed")
    seen.append(run.get("/readyz").text)
    httpx.post(
        server.url + "/_sandbox/keys",
        json={"vendor": "meetergo", "key": MEETERGO_KEY, "scopes": []},
    )
    wait_for(lambda: run.get("/readyz").status_code == 200, 15, "never ready again")

    seen.append(run.get("/metrics").text)
    page = httpx.get(run.url + "/", headers={"Authorization": f"Bearer {STATUS_TOKEN}"})
    assert page.status_code == 200
    seen.append(page.text)
    seen.append(httpx.get(run.url + "/", auth=("admin", "wrong")).text)
    assert run.stop() == 0
    seen.append(run.log.read_text(encoding="utf-8"))

    # A bad key and a bad config: their error messages.
    wrong = path.read_text(encoding="utf-8").replace(MEETMATCH_KEY, MEETMATCH_KEY + "0")
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text(wrong, encoding="utf-8")
    refused = meetbridge("check", "--config", str(bad_key))
    assert refused.returncode == 3
    capture(refused)
    broken = tmp_path / "broken.toml"
    broken.write_text(
        path.read_text(encoding="utf-8").replace(
            "poll_interval_seconds = 1.0", "poll_interval_seconds = -1"
        ),
        encoding="utf-8",
    )
    invalid = meetbridge("status", "--config", str(broken))
    assert invalid.returncode == 2
    capture(invalid)

    everything = "\n".join(seen)
    # The outputs are the real ones: status facts, sync action lines, metrics.
    assert "both_sides" in everything and '"action": "create"' in everything
    assert "meetbridge_vendor_requests_total" in everything
    for secret in (*SECRETS, MEETMATCH_KEY + "0"):
        assert secret not in everything, f"a secret leaked: {secret[:6]}…"
