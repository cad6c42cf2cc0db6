"""The status page at `/` on the receiver port: the daemon's state at a glance, and replay.

Server-rendered HTML with inline CSS and no script or external asset, so it works behind any
proxy and on a phone. It is served when the receiver listens on loopback, or when a bearer token
or a basic-auth password is configured (`receiver.status_page = "auto"`); never openly on a
public bind. The replay button posts a form carrying a per-process token, so another site cannot
make a logged-in browser replay dead letters.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connector.settings import ReceiverSettings

Facts = dict[str, Any]

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
small{color:#667}
"""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page_enabled(settings: ReceiverSettings) -> bool:
    if settings.status_page != "auto":
        return settings.status_page == "on"
    has_auth = settings.status_token is not None or settings.status_password is not None
    return has_auth or _is_loopback(settings.host)


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


def render(facts: Facts, recent: Sequence[dict[str, Any]], now: datetime, form_token: str) -> str:
    """The whole page; every value from the state database is escaped."""
    links = facts["links"]
    letters = facts["dead_letters"]
    kpis = [
        ("linked pairs", links.get("both_sides", 0), ""),
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
            [escape(job), escape(age(when, now)), f"<small>{escape(_clock(when))}</small>"]
            for job, when in facts["last_success"].items()
        ],
        ["job", "last success", "at"],
        "no job has run yet",
    )
    per_side = _rows(
        [[escape(k), str(v)] for k, v in links.items()]
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
    actions = _rows(
        [
            [
                escape(age(a.get("at"), now)),
                escape(str(a.get("action", ""))),
                escape(str(a.get("vendor", ""))),
                escape(str(a.get("target_id") or a.get("source", ""))),
                escape(str(a.get("reason") or "")),
            ]
            for a in reversed(recent)
        ],
        ["when", "action", "vendor", "record", "reason"],
        "no sync action since the daemon started",
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meetbridge status</title><style>{STYLE}</style></head>
<body><header><h1>meetbridge</h1><small>{escape(now.strftime("%Y-%m-%d %H:%M:%S UTC"))}</small>
</header><main>
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
    ) -> None:
        self.settings = settings
        self._facts = facts
        self._replay = replay
        self._recent = recent
        self.form_token = secrets.token_urlsafe(24)

    def routes(self) -> list[Route]:
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
        html = render(await self._facts(), self._recent(), datetime.now(UTC), self.form_token)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def replay(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._refuse()
        # A urlencoded form, parsed by hand: Starlette's form parser needs another package.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), self.form_token.encode()):
            return Response("stale or foreign form; reload the page", status_code=403)
        problem = await self._replay(int(request.path_params["letter_id"]))
        if problem is not None:
            return HTMLResponse(f"<p>replay failed: {escape(problem)}</p><a href='/'>back</a>", 409)
        return RedirectResponse("/", status_code=303)
