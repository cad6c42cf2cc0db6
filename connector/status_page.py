"""The status page at `/` on the receiver port: the daemon's state at a glance, and replay.

Server-rendered HTML with inline CSS and no script or external asset, so it works behind any
proxy and on a phone. With `receiver.status_page = "auto"` it is served when a bearer token or a
basic-auth password is configured, or, without either, only when nothing but this machine can
reach it: the receiver listens on loopback *and* `receiver.public_url` is loopback too (a TLS
proxy on 127.0.0.1 forwarding a public name would otherwise publish it). `"on"` serves it
regardless, and says so in a warning at start when that is unauthenticated and public.

The replay button posts a form carrying a token derived (HMAC) from the configured secrets, so
another site cannot make a logged-in browser replay dead letters, and every replica behind one
proxy accepts the forms the others rendered, across restarts too. The token never contains a
secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connector.settings import ReceiverSettings

Facts = dict[str, Any]
log = logging.getLogger("meetbridge.status_page")

# What the form token is an HMAC of; changing it invalidates the pages open in browsers.
FORM_TOKEN_LABEL = b"meetbridge status page replay form, v1"

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 16px}h1{font-size:18px;margin:0}
main{padding:12px;display:grid;gap:12px;grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
section{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px #0002;overflow-x:auto}
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #eee;font-size:14px}
.num{font-size:26px;font-weight:600}.bad{color:#b3261e}.ok{color:#1b7f3b}
.kpis{display:flex;gap:16px;flex-wrap:wrap}.kpi{min-width:110px}
button{background:#1d2330;color:#fff;border:0;border-radius:6px;padding:6px 10px;font-size:14px}
small{color:#667}header small{color:#ccd}
.notice{margin:12px 12px 0;padding:8px 12px;background:#e6f4ea;border-radius:8px}
"""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_auth(settings: ReceiverSettings) -> bool:
    return settings.status_token is not None or settings.status_password is not None


def public_exposure(settings: ReceiverSettings) -> str | None:
    """Why the page may be reachable from beyond this machine, or None when it cannot be."""
    if not _is_loopback(settings.host):
        return f"the receiver listens on {settings.host}, not on loopback"
    public_host = urlsplit(settings.public_url).hostname if settings.public_url else None
    if public_host and not _is_loopback(public_host):
        return (
            f"receiver.public_url ({public_host}) is not loopback, so a proxy forwards "
            "the outside world to this port"
        )
    return None


def page_enabled(settings: ReceiverSettings) -> bool:
    """auto: with a token or password, or when only this machine can reach the page."""
    if settings.status_page != "auto":
        return settings.status_page == "on"
    return has_auth(settings) or public_exposure(settings) is None


def startup_notice(settings: ReceiverSettings) -> tuple[int, str] | None:
    """The log line `run` writes at start about the page's exposure (level, message), if any."""
    exposure = public_exposure(settings)
    if exposure is None or has_auth(settings) or settings.status_page == "off":
        return None
    if settings.status_page == "on":
        return (
            logging.WARNING,
            f"status page on without authentication although {exposure}: anyone who reaches "
            "it sees the state and can replay dead letters; set receiver.status_token or "
            "receiver.status_password",
        )
    return (
        logging.INFO,
        f"status page off: {exposure}, and neither receiver.status_token nor "
        "receiver.status_password is set",
    )


def form_token_for(settings: ReceiverSettings) -> str:
    """The replay form's token: one HMAC of a fixed label, keyed by the configured secrets.

    Replicas share their configuration, so they agree on it; a restart keeps it. Without any
    secret configured (a bare loopback test setup) it is random per process.
    """
    material = [
        secret.get_secret_value()
        for secret in (
            settings.status_token,
            settings.status_password,
            settings.meetergo_path_token,
        )
        if secret is not None
    ]
    if not material:
        return secrets.token_urlsafe(24)
    key = "\0".join(material).encode()
    return hmac.new(key, FORM_TOKEN_LABEL, hashlib.sha256).hexdigest()


def age(moment: str | None, now: datetime) -> str:
    """'42 s ago', '3 min ago', '5 h ago', or 'never'."""
    if not moment:
        return "never"
    then = datetime.fromisoformat(moment)
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _clock(moment: str | None) -> str:
    """'05:17:22 UTC' from an ISO timestamp (the age column says which day)."""
    if not moment:
        return ""
    then = datetime.fromisoformat(moment)
    return then.strftime("%H:%M:%S UTC")


def _rows(rows: Sequence[Sequence[str]], header: Sequence[str], empty: str) -> str:
    if not rows:
        return f"<p><small>{escape(empty)}</small></p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


LINK_LABELS = {
    "total": "links",
    "both_sides": "paired (both sides)",
    "meetmatch_only": "MeetMatch only",
    "meetergo_only": "meetergo only",
}


def _side_kpis(links: dict[str, int]) -> list[tuple[str, int, str]]:
    """Links per side: paired, and those with a record on one side only."""
    paired = links.get("both_sides", 0)
    if "meetmatch_only" in links and "meetergo_only" in links:
        return [
            ("linked pairs", paired, ""),
            ("MeetMatch only", links["meetmatch_only"], ""),
            ("meetergo only", links["meetergo_only"], ""),
        ]
    # A store that does not split them yet: the one-sided links together.
    return [("linked pairs", paired, ""), ("one side only", links.get("total", 0) - paired, "")]


def _actions(recent: Sequence[dict[str, Any]], now: datetime, role: str | None) -> str:
    if role == "standby" and not recent:
        return (
            '<p data-standby="1"><small>This replica is on standby: it stores webhook deliveries '
            "but applies none, so it has no sync actions to show. Each replica lists only its "
            "own actions: open the page of the replica that syncs (or read its log).</small></p>"
        )
    return _rows(
        [
            [
                escape(age(a.get("at"), now)),
                f'<span data-action="{escape(str(a.get("action", "")))}">'
                f"{escape(str(a.get('action', '')))}</span>",
                escape(str(a.get("vendor", ""))),
                escape(str(a.get("target_id") or a.get("source", ""))),
                escape(str(a.get("reason") or "")),
            ]
            for a in reversed(recent)
        ],
        ["when", "action", "vendor", "record", "reason"],
        "no sync action since the daemon started",
    )


ROLE_LABELS = {"leader": "this replica syncs", "standby": "standby replica (receiving only)"}


def render(
    facts: Facts,
    recent: Sequence[dict[str, Any]],
    now: datetime,
    form_token: str,
    *,
    role: str | None = None,
    notice: str = "",
) -> str:
    """The whole page; every value from the state database is escaped."""
    links = facts["links"]
    letters = facts["dead_letters"]
    kpis = [
        *_side_kpis(links),
        ("synced today", facts.get("synced_today", 0), ""),
        ("inbox", facts["inbox_depth"], "bad" if facts["inbox_depth"] > 100 else ""),
        ("dead letters", len(letters), "bad" if letters else "ok"),
    ]
    kpi_html = "".join(
        f'<div class="kpi"><div class="num {cls}" data-kpi="{escape(name)}">{value}</div>'
        f"<small>{escape(name)}</small></div>"
        for name, value, cls in kpis
    )
    jobs = _rows(
        [
            [
                escape(job),
                f'<span data-age="{escape(job)}">{escape(age(when, now))}</span>',
                f"<small>{escape(_clock(when))}</small>",
            ]
            for job, when in facts["last_success"].items()
        ],
        ["job", "last success", "at"],
        "no job has run yet",
    )
    per_side = _rows(
        [[escape(LINK_LABELS.get(k, f"state: {k}")), str(v)] for k, v in links.items()]
        + [
            [escape(f"skipped ({r['side']}): {r['reason']}"), str(r["count"])]
            for r in facts["skipped_by_reason"]
        ],
        ["what", "count"],
        "nothing yet",
    )
    dead = _rows(
        [
            [
                str(d["id"]),
                escape(f"{d['operation']} → {d['target']}"),
                escape(d["email"] or f"{d['source_side']} {d['source_id']}"),
                f"<small>{escape(d['error'][:160])}</small>",
                f'<form method="post" action="/status/replay/{d["id"]}">'
                f'<input type="hidden" name="token" value="{form_token}">'
                f'<button type="submit" data-replay="{d["id"]}">replay</button></form>',
            ]
            for d in letters
        ],
        ["id", "write", "record", "error", ""],
        "no dead letters",
    )
    hooks = _rows(
        [
            [escape(s["vendor"]), escape(s["event"]), f"<small>{escape(s['target_url'])}</small>"]
            for s in facts["subscriptions"]
        ],
        ["vendor", "event", "target"],
        "no webhook subscriptions",
    )
    actions = _actions(recent, now, role)
    role_html = f" · <small>{escape(ROLE_LABELS.get(role, role))}</small>" if role else ""
    notice_html = f'<p class="notice" role="status">{escape(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meetbridge status</title><style>{STYLE}</style></head>
<body><header><h1>meetbridge</h1><small>{escape(now.strftime("%Y-%m-%d %H:%M:%S UTC"))}</small>
{role_html}</header>{notice_html}<main>
<section><h2>at a glance</h2><div class="kpis">{kpi_html}</div></section>
<section><h2>polls and reconcile</h2>{jobs}</section>
<section><h2>links and skips</h2>{per_side}</section>
<section id="dead-letters"><h2>dead letters</h2>{dead}</section>
<section><h2>webhook subscriptions</h2>{hooks}</section>
<section><h2>recent sync actions</h2>{actions}</section>
</main></body></html>"""


class StatusPage:
    """The routes; facts and replay come from the daemon."""

    def __init__(
        self,
        settings: ReceiverSettings,
        facts: Callable[[], Awaitable[Facts]],
        replay: Callable[[int], Awaitable[str | None]],
        recent: Callable[[], Sequence[dict[str, Any]]],
        role: Callable[[], str] | None = None,
    ) -> None:
        """`role`: "leader", "standby" or "starting" (recent actions are per process)."""
        self.settings = settings
        self._facts = facts
        self._replay = replay
        self._recent = recent
        self._role = role
        self.form_token = form_token_for(settings)

    def routes(self) -> list[Route]:
        notice = startup_notice(self.settings)
        if notice is not None:
            log.log(*notice)
        if not page_enabled(self.settings):
            return []
        return [
            Route("/", self.show, methods=["GET"]),
            Route("/status/replay/{letter_id:int}", self.replay, methods=["POST"]),
        ]

    def _authorized(self, request: Request) -> bool:
        token = self.settings.status_token
        password = self.settings.status_password
        if token is None and password is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if token is not None and scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), token.get_secret_value().encode())
        if password is not None and scheme.lower() == "basic":
            try:
                user, _, given = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            expected = f"{self.settings.status_user}:{password.get_secret_value()}"
            return hmac.compare_digest(f"{user}:{given}".encode(), expected.encode())
        return False

    def _refuse(self) -> Response:
        headers = {}
        if self.settings.status_password is not None:
            headers["WWW-Authenticate"] = 'Basic realm="meetbridge"'
        return Response("authentication required", status_code=401, headers=headers)

    async def show(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._refuse()
        role = self._role() if self._role is not None else None
        replayed = request.query_params.get("replayed", "")
        notice = ""
        if replayed.isdigit():
            notice = (
                f"dead letter {replayed}: replay handed to the replica that syncs; it leaves "
                "the list once that replica has replayed it"
                if role == "standby"
                else f"dead letter {replayed} replayed"
            )
        html = render(
            await self._facts(),
            self._recent(),
            datetime.now(UTC),
            self.form_token,
            role=role,
            notice=notice,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def replay(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._refuse()
        # A urlencoded form, parsed by hand: Starlette's form parser needs another package.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), self.form_token.encode()):
            return Response("stale or foreign form; reload the page", status_code=403)
        letter_id = int(request.path_params["letter_id"])
        problem = await self._replay(letter_id)
        if problem is not None:
            return HTMLResponse(f"<p>replay failed: {escape(problem)}</p><a href='/'>back</a>", 409)
        return RedirectResponse(f"/?replayed={letter_id}", status_code=303)
