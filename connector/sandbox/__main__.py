"""Serve the sandbox on loopback: `python -m connector.sandbox --port 0 --seed demo`.

Prints `SANDBOX_URL=http://HOST:PORT` once the socket listens, so a test or demo that starts
this as a subprocess can read where to connect. The socket is bound here (port 0 = any free
port) and handed to uvicorn, so the printed port is the real one. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.listen import tcp_listener

from .app import Sandbox
from .meetergo import MeetergoState
from .meetmatch import MeetMatchState
from .seed import seed_bulk, seed_demo


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m connector.sandbox", description="Serve the MeetMatch/meetergo sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", choices=("demo", "none", "bulk"), default="demo")
    parser.add_argument("--meetergo", type=int, default=300, help="meetergo contacts to seed")
    parser.add_argument("--meetmatch", type=int, default=120, help="MeetMatch contacts to seed")
    parser.add_argument("--overlap", type=int, default=40, help="people seeded on both sides")
    parser.add_argument("--meetergo-rpm", type=float, default=100)
    parser.add_argument("--meetergo-burst", type=float, default=100)
    parser.add_argument("--bulk-per-minute", type=float, default=3)
    parser.add_argument("--meetmatch-rpm", type=float, default=None, help="default: unlimited")
    parser.add_argument("--meetmatch-key", default="mm_live_sandbox", help="MeetMatch API key")
    parser.add_argument("--meetergo-key", default="mg_sandbox", help="meetergo API key")
    parser.add_argument(
        "--webhook-secret", default="whsec_sandbox", help="key of MeetMatch's delivery HMAC"
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Sandbox:
    """The sandbox the command line describes, seeded."""
    sandbox = Sandbox(
        meetmatch=MeetMatchState(
            {args.meetmatch_key: {"read", "write"}},
            webhook_secret=args.webhook_secret,
            requests_per_minute=args.meetmatch_rpm,
        ),
        meetergo=MeetergoState(
            [args.meetergo_key],
            requests_per_minute=args.meetergo_rpm,
            burst=args.meetergo_burst,
            bulk_per_minute=args.bulk_per_minute,
        ),
    )
    sizes = {"meetergo": args.meetergo, "meetmatch": args.meetmatch, "overlap": args.overlap}
    if args.seed == "demo":
        seed_demo(sandbox, **sizes)
    elif args.seed == "bulk":
        seed_bulk(sandbox, **sizes)
    return sandbox


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the sandbox URL as soon as it accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"SANDBOX_URL={self.url}", flush=True)


def dropping_connections(app: ASGIApp) -> ASGIApp:
    """Turn the app's ConnectionResetError (a fault: "the connection dropped") into a real one.

    In-process, httpx's ASGI transport hands the exception to the client. Over a socket the
    app's error middleware would answer 500 instead; so answers are held back until the app
    returns, and on a drop the 500 is discarded and an answer is started and abandoned, which makes
    uvicorn close the connection mid-answer: the client sees it break, as on a real network.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        held: list[Message] = []

        async def holding(message: Message) -> None:
            held.append(message)

        try:
            await app(scope, receive, holding)
        except ConnectionResetError:
            headers = [(b"content-length", b"64"), (b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise
        for message in held:  # the sandbox answers small JSON bodies: holding them is cheap
            await send(message)

    return wrapped


async def serve(sandbox: Sandbox, sock: socket.socket, host: str) -> None:
    """Run uvicorn on the bound socket until SIGTERM/SIGINT."""
    config = uvicorn.Config(
        dropping_connections(sandbox.app),
        log_level="critical",
        lifespan="off",
        access_log=False,
        # A stalled answer (the stall_after_write fault) must not hold up a stop for long.
        timeout_graceful_shutdown=1,
    )
    shown = f"[{host}]" if ":" in host else host
    server = _AnnouncingServer(config, f"http://{shown}:{sock.getsockname()[1]}")
    await server.serve(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parse(argv)
    sandbox = build(args)
    try:
        sock = tcp_listener(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    asyncio.run(serve(sandbox, sock, args.host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
