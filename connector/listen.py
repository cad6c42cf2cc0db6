"""Listening sockets for the receiver and the sandbox server, bound here rather than by uvicorn.

asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose protocol is recorded as
TCP, and a socket made without naming the protocol, as uvicorn makes its own, is not. uvicorn's
h11 server writes an answer's head and body separately; with Nagle on, the body then waits for
the client's delayed ACK: some 40 ms added to every answer. Naming the protocol avoids that.
Binding here also lets port 0 pick a free port that the caller can read back.
"""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A bound, listening, non-blocking TCP socket; OSError when the address is unavailable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
