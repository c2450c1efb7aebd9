"""HTTP abuse limits: oversized headers (431), slow headers and bodies (408), idle keep-alive
closed, too many connections refused (503). Raw sockets against a server on 127.0.0.1 with
the same uvicorn options `tollgate up` uses (short limits here), and the shared live app."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
import uvicorn

from tollgate.http_guard import uvicorn_options

LIMITS = SimpleNamespace(
    max_header_bytes=8 * 1024, header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_timeout_s=1, max_connections=20
)


async def echo(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    srv = uvicorn.Server(
        uvicorn.Config(
            echo,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            lifespan="off",
            log_level="critical",
            **uvicorn_options(LIMITS),
        )
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield port
    srv.should_exit = True
    t.join(5)


def connect(port: int) -> socket.socket:
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    return c


def read_all(c: socket.socket, limit_s: float = 5.0) -> bytes:
    c.settimeout(limit_s)
    out = b""
    try:
        while chunk := c.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def test_oversized_headers_are_431(server):
    c = connect(server)
    try:
        c.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20_000)  # never even finished
        got = read_all(c)
    finally:
        c.close()
    assert got.startswith(b"HTTP/1.1 431 "), got[:100]


def test_headers_just_under_the_limit_pass(server):
    c = connect(server)
    try:
        c.sendall(
            b"POST / HTTP/1.1\r\nhost: x\r\nx-ok: "
            + b"a" * 7000
            + b"\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"
        )
        got = read_all(c)
    finally:
        c.close()
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"hi")


@pytest.mark.parametrize("what", ["silent", "slow-headers", "slow-body"])
def test_slow_clients_are_cut_off(server, what):
    c = connect(server)
    t0 = time.monotonic()
    try:
        if what == "slow-headers":
            c.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n")
        elif what == "slow-body":
            c.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly-part")
        got = read_all(c)
    finally:
        c.close()
    took = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408 ") and 0.4 < took < 3.0, (got[:80], took)


def test_idle_keep_alive_is_closed(server):
    c = connect(server)
    try:
        c.sendall(b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        t0 = time.monotonic()
        got = read_all(c)
    finally:
        c.close()
    assert got.startswith(b"HTTP/1.1 200 ") and 0.8 < time.monotonic() - t0 < 4.0


def test_too_many_connections_get_a_clear_refusal(server):
    held = [connect(server) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.1)
        c = connect(server)
        c.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        got = read_all(c)
        c.close()
    finally:
        for h in held:
            h.close()
    assert got.startswith(b"HTTP/1.1 503 "), got[:80]


def test_the_live_app_refuses_huge_headers(live_app):
    """The real server (`tollgate up` wiring) with its default limit (64 KB)."""
    host, port = live_app.url.removeprefix("http://").split(":")
    c = socket.create_connection((host, int(port)), timeout=5)
    try:
        c.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n")
        got = read_all(c)
    finally:
        c.close()
    assert got.startswith(b"HTTP/1.1 431 "), got[:100]
