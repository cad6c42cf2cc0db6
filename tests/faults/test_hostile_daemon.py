"""Raw garbage at the real daemon's port: it keeps answering, stores nothing, writes nothing.

The daemon (`meetbridge run`) and the sandbox server run as real processes. Sockets throw at the
receiver what no HTTP client would send: bytes that are not HTTP, a request line cut off, a
1 GB Content-Length followed by a few bytes and a close, slowloris-style headers trickled
byte by byte, and 200 bad requests at once. Afterwards /healthz and /readyz answer 200, the
process is alive, the inbox is empty and neither vendor saw a write; a good delivery then still
goes all the way through (the receiver and the worker both survived).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SandboxServer, start_sandbox
from tests.e2e.test_daemon import (
    TOKEN,
    Daemon,
    _free_port,
    emails,
    sign,
    wait_for,
    write_daemon_config,
)

pytestmark = pytest.mark.slow

STATUSES = {200, 400, 401, 404, 405, 413, 415}


@dataclass
class Running:
    server: SandboxServer
    daemon: Daemon
    state: Path

    @property
    def port(self) -> int:
        return int(self.daemon.url.rsplit(":", 1)[1])

    def writes(self) -> int:
        stats = self.server.stats()
        return int(stats["meetergo"]["writes"] + stats["meetmatch"]["writes"])

    def inbox_rows(self) -> int:
        db = sqlite3.connect(self.state)
        try:
            return int(db.execute("select count(*) from inbox").fetchone()[0])
        finally:
            db.close()

    def alive(self) -> bool:
        assert self.daemon.process is not None
        return self.daemon.process.poll() is None


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    server = start_sandbox("--seed", "none")
    try:
        port = _free_port()
        state = tmp_path / "state.db"
        # Polls 30 s apart (one at start): nothing but deliveries can make a write meanwhile.
        config = write_daemon_config(tmp_path / "config.toml", server, state, port, 30)
        daemon = Daemon(config, port)
        daemon.start()
        try:
            yield Running(server, daemon, state)
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.stop(signal.SIGKILL)
    finally:
        server.stop()


def _a_good_delivery_arrives(running: Running, person_id: str, email: str, seconds: float) -> None:
    """A signed contact.created is stored, applied and reaches meetergo within `seconds`."""
    data = {"id": person_id, "full_name": "Still Here", "email": email}
    body = json.dumps({"event": "contact.created", "data": data}).encode()
    answer = httpx.post(
        running.daemon.url + "/hooks/meetmatch",
        content=body,
        headers={"X-MeetMatch-Signature": sign(body)},
        timeout=5,
    )
    assert answer.json() == {"status": "stored"}
    wait_for(lambda: email in emails(running.server, "meetergo"), seconds, "the worker stopped")


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _exchange(port: int, raw: bytes, *, half_close: bool = True) -> bytes:
    """Send `raw`, stop sending, and read whatever comes back until the server closes."""
    with _connect(port) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _throw_raw_garbage(port: int) -> None:
    not_http = [
        b"\x00\xff\xfe" * 2000,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
        b"POST /hooks/meet",  # a request line cut off
        b"POST /hooks/meetmatch HTTP/1.1\r\nHost",  # headers cut off
        b"POST /hooks/meetmatch HTTP/9.9\r\n\r\n",
        b"POST " + b"/a" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        _head("/hooks/meetmatch", "Content-Length: -5") + b"{}",
        _head("/hooks/meetmatch", "Content-Length: 5", "Content-Length: 7") + b"{}",
        _head("/hooks/meetmatch", "Transfer-Encoding: chunked") + b"zz\r\n{}\r\n0\r\n\r\n",
        _head("/hooks/meetmatch", "X-Big: " + "a" * 200_000) + b"{}",
        _head("/hooks/meetmatch", "Content-Length: 2", "X-MeetMatch-Signature: sha256=é")
        + b"{}",  # a non-ASCII header value (UTF-8 bytes)
        b"POST /hooks/meetmatch HTTP/1.1\r\nHost: x\r\nX-MeetMatch-Signature: \xff\xfe\x00\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    ]
    for raw in not_http:
        answer = _exchange(port, raw)
        status = _status(answer)
        assert status is None or status < 500, answer[:200]

    # A gigabyte announced, a hundred bytes sent, then the connection closed: refused at once.
    for path, extra in [
        ("/hooks/meetmatch", f"X-MeetMatch-Signature: {sign(b'{')}"),
        (f"/hooks/meetergo/{TOKEN}", "Content-Type: application/json"),
    ]:
        with _connect(port) as sock:
            sock.sendall(_head(path, f"Content-Length: {1 << 30}", extra) + b"{" * 100)
            answer = sock.recv(65536)
        assert _status(answer) == 413, answer[:200]


def _slowloris(port: int, connections: int = 40, seconds: float = 3.0) -> None:
    """Headers trickled a byte at a time on many connections; the daemon keeps serving."""
    socks = [_connect(port) for _ in range(connections)]
    try:
        for sock in socks:
            sock.sendall(b"POST /hooks/meetmatch HTTP/1.1\r\nHost: x\r\nX-A: ")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for sock in socks:
                # The server may drop a slow client: that is fine too.
                with contextlib.suppress(OSError):
                    sock.sendall(b"a")
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            time.sleep(0.25)
    finally:
        for sock in socks:
            sock.close()


async def _concurrent_bad_requests(url: str, n: int = 200) -> list[int]:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        ("/hooks/meetmatch", b'{"event":"contact.created","data":{}}', {}),
        ("/hooks/meetmatch", b"{}", {"X-MeetMatch-Signature": "sha256=" + "0" * 64}),
        ("/hooks/meetmatch", b"not json", {"X-MeetMatch-Signature": "garbage"}),
        (f"/hooks/meetergo/{TOKEN}x", b'{"webhookType":"booking_created"}', {}),
        (f"/hooks/meetergo/{TOKEN}", b"{not json", {"Content-Type": "text/plain"}),
        (f"/hooks/meetergo/{TOKEN}", b"[" * 100_000, {}),
        (f"/hooks/meetergo/{TOKEN}", big, {}),
        (f"/hooks/meetergo/{TOKEN}", json.dumps({"webhookType": "\ud800"}).encode(), {}),
        ("/hooks/meetmatch", b"{}", {"Content-Type": "multipart/form-data; boundary=x"}),
    ]
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.post(path, content=body, headers=headers)
                for path, body, headers in (cases[i % len(cases)] for i in range(n))
            )
        )
    return [answer.status_code for answer in answers]


def test_garbage_at_the_port_leaves_the_daemon_serving_and_writes_nothing(
    running: Running,
) -> None:
    time.sleep(0.5)  # the start-up poll is done
    writes_before = running.writes()
    assert running.inbox_rows() == 0

    _throw_raw_garbage(running.port)
    _slowloris(running.port)
    statuses = asyncio.run(_concurrent_bad_requests(running.daemon.url))

    assert set(statuses) <= STATUSES, sorted(set(statuses))
    assert all(status >= 400 for status in statuses)
    assert running.alive()
    assert httpx.get(running.daemon.url + "/healthz", timeout=5).status_code == 200
    assert httpx.get(running.daemon.url + "/readyz", timeout=5).status_code == 200
    assert running.inbox_rows() == 0
    assert running.writes() == writes_before

    # Still working end to end: a good delivery is stored, applied and reaches meetergo.
    _a_good_delivery_arrives(running, "after-garbage-1", "still@here.io", 5)


def test_a_poison_delivery_does_not_stop_the_worker(running: Running) -> None:
    poison = json.dumps({"webhookType": "booking_created", "attendees": [{"id": "x" * 70_000}]})
    answer = httpx.post(
        f"{running.daemon.url}/hooks/meetergo/{TOKEN}", content=poison.encode(), timeout=5
    )
    assert answer.json() == {"status": "stored"}
    _a_good_delivery_arrives(running, "after-poison-1", "next@one.io", 4)
