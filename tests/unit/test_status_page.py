"""Who may see the status page, and that every value on it is escaped."""

from __future__ import annotations

import base64
import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.settings import ReceiverSettings
from connector.status_page import StatusPage, age, form_token_for, render

FACTS: dict[str, Any] = {
    "links": {"total": 3, "both_sides": 2},
    "skipped_by_reason": [{"side": "meetergo", "reason": "no_email", "count": 4}],
    "dead_letters": [
        {
            "id": 7,
            "operation": "create",
            "target": "meetmatch",
            "source_side": "meetergo",
            "source_id": "g1",
            "email": "<script>alert(1)</script>@x.io",
            "error": "HTTP 500",
        }
    ],
    "inbox_depth": 0,
    "last_success": {"poll_meetmatch": None},
    "subscriptions": [],
    "synced_today": 1,
}


PATH_TOKEN = "0123456789abcdefghijklmnopqrstuvwxyz"


def _page(
    facts_value: dict[str, Any] | None = None,
    recent: list[dict[str, Any]] | None = None,
    role: str | None = None,
    **receiver: Any,
) -> StatusPage:
    async def facts() -> dict[str, Any]:
        return facts_value or FACTS

    async def replay(_letter: int) -> str | None:
        return None

    return StatusPage(
        ReceiverSettings(**receiver),
        facts,
        replay,
        lambda: recent or [],
        role=(lambda: role) if role else None,
    )


def _serve(page: StatusPage) -> httpx.AsyncClient:
    app = Starlette(routes=page.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")


def _client(**receiver: Any) -> httpx.AsyncClient:
    return _serve(_page(**receiver))


async def test_open_on_loopback_and_values_escaped() -> None:
    async with _client(host="127.0.0.1") as client:
        answer = await client.get("/")
    assert answer.status_code == 200
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
    assert 'data-kpi="linked pairs">2<' in answer.text


async def test_off_on_a_public_bind_without_credentials() -> None:
    async with _client(host="0.0.0.0") as client:
        assert (await client.get("/")).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Bearer s3cret-token"}, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}, 401),
        ({"Authorization": "Basic !!!"}, 401),
    ],
)
async def test_token_or_password_guard_a_public_bind(headers: dict[str, str], status: int) -> None:
    async with _client(host="0.0.0.0", status_token="s3cret-token", status_password="pw") as client:
        answer = await client.get("/", headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["www-authenticate"] == 'Basic realm="meetbridge"'


async def test_replay_needs_the_page_token() -> None:
    async with _client(host="127.0.0.1") as client:
        forged = await client.post("/status/replay/7", data={"token": "guess"})
    assert forged.status_code == 403


def test_ages_read_naturally() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert age(None, now) == "never"
    assert age("2026-01-01T11:59:30+00:00", now) == "30 s ago"
    assert age("2026-01-01T11:30:00", now) == "30 min ago"
    assert age("2026-01-01T06:00:00+00:00", now) == "6 h ago"


@pytest.mark.parametrize(
    ("receiver", "status"),
    [
        # A TLS proxy on this machine forwards a public name to 127.0.0.1: not private.
        ({"host": "127.0.0.1", "public_url": "https://sync.example.com"}, 404),
        ({"host": "127.0.0.1", "public_url": "http://127.0.0.1:8080"}, 200),
        ({"host": "localhost", "public_url": ""}, 200),
        ({"host": "0.0.0.0", "public_url": "http://127.0.0.1:8080"}, 404),
        # With credentials the page is on (and asks for them) wherever it is reachable.
        ({"host": "127.0.0.1", "public_url": "https://sync.example.com", "status_token": "t"}, 401),
        ({"host": "0.0.0.0", "status_page": "on"}, 200),
        ({"host": "127.0.0.1", "status_page": "off"}, 404),
    ],
)
async def test_auto_needs_auth_unless_bind_and_public_url_are_loopback(
    receiver: dict[str, Any], status: int
) -> None:
    async with _client(**receiver) as client:
        assert (await client.get("/")).status_code == status


@pytest.mark.parametrize(
    ("receiver", "level", "words"),
    [
        ({"host": "0.0.0.0", "status_page": "on"}, logging.WARNING, "without authentication"),
        (
            {"host": "127.0.0.1", "public_url": "https://sync.example.com", "status_page": "on"},
            logging.WARNING,
            "sync.example.com",
        ),
        ({"host": "0.0.0.0"}, logging.INFO, "status page off"),
        ({"host": "0.0.0.0", "status_page": "on", "status_password": "pw"}, None, ""),
        ({"host": "127.0.0.1", "status_page": "on"}, None, ""),
    ],
)
def test_start_warns_when_on_without_auth_on_a_public_bind(
    caplog: pytest.LogCaptureFixture, receiver: dict[str, Any], level: int | None, words: str
) -> None:
    caplog.set_level(logging.INFO, logger="meetbridge.status_page")
    _page(**receiver).routes()
    lines = [r for r in caplog.records if r.name == "meetbridge.status_page"]
    if level is None:
        assert lines == []
    else:
        [line] = lines
        assert line.levelno == level and words in line.getMessage()


def test_form_token_is_shared_by_replicas_and_reveals_no_secret() -> None:
    one = _page(host="127.0.0.1", meetergo_path_token=PATH_TOKEN)
    other = _page(host="127.0.0.1", meetergo_path_token=PATH_TOKEN)
    assert one.form_token == other.form_token  # another process (or a restart) agrees
    assert PATH_TOKEN not in one.form_token and PATH_TOKEN[:8] not in one.form_token
    rotated = form_token_for(ReceiverSettings(meetergo_path_token=PATH_TOKEN[::-1]))
    assert rotated != one.form_token
    with_status = form_token_for(
        ReceiverSettings(meetergo_path_token=PATH_TOKEN, status_token="s3cret-token")
    )
    assert with_status != one.form_token and "s3cret-token" not in with_status
    # Nothing secret configured: a random token per process.
    assert _page(host="127.0.0.1").form_token != _page(host="127.0.0.1").form_token


async def test_a_form_rendered_by_one_replica_replays_on_another() -> None:
    async with _serve(_page(host="127.0.0.1", meetergo_path_token=PATH_TOKEN)) as first:
        html = (await first.get("/")).text
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token
    async with _serve(_page(host="127.0.0.1", meetergo_path_token=PATH_TOKEN)) as second:
        answer = await second.post("/status/replay/7", data={"token": token.group(1)})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/?replayed=7"
        after = await second.get(answer.headers["location"])
    assert "dead letter 7 replayed" in after.text


async def test_a_standby_says_where_replays_and_actions_go() -> None:
    page = _page(host="127.0.0.1", role="standby")
    async with _serve(page) as client:
        html = (await client.get("/?replayed=7")).text
    assert "handed to the replica that syncs" in html
    assert 'data-standby="1"' in html and "on standby" in html
    assert "no sync action since the daemon started" not in html
    assert "standby replica" in html


def _kpi(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{re.escape(name)}">([^<]*)<', html)
    assert match, name
    return match.group(1)


def test_links_per_side_jobs_and_actions_are_shown() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    facts = {
        **FACTS,
        "links": {"total": 9, "both_sides": 5, "meetmatch_only": 3, "meetergo_only": 1},
        "last_success": {"poll_meetmatch": "2026-01-01T11:59:50+00:00", "reconcile": None},
    }
    recent = [{"at": "2026-01-01T11:59:00+00:00", "action": "create", "vendor": "meetergo"}]
    html = render(facts, recent, now, "tok", role="leader")
    assert _kpi(html, "linked pairs") == "5"
    assert _kpi(html, "MeetMatch only") == "3"
    assert _kpi(html, "meetergo only") == "1"
    assert _kpi(html, "synced today") == "1"
    assert 'data-age="poll_meetmatch">10 s ago<' in html
    assert 'data-age="reconcile">never<' in html
    assert 'data-action="create">create<' in html
    assert "this replica syncs" in html
    # A store that does not split the one-sided links yet: they are shown together.
    older = render({**FACTS, "links": {"total": 9, "both_sides": 5}}, [], now, "tok")
    assert _kpi(older, "one side only") == "4"
    assert "no sync action since the daemon started" in older
