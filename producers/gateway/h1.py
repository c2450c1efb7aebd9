"""A lean HTTP/1.1 client for provider calls: asyncio protocols and the httptools parser.

`H1Transport` is the gateway's default transport (`upstream_transport = "h1"`): the same
interface as the aiohttp one, about a tenth of its CPU per call (see `bench/RESULTS.md`).
It pools keep-alive connections per (scheme, host, port), writes each request in one
`write()`, and parses the answer with httptools (content-length, chunked or read-until-close;
gzip/deflate decoded). The endpoint guard checks every connection's address
(`EndpointGuard.resolve_checked`: literals and metadata names statically, names through the
checked resolver) and the URL's host once per URL. Timeouts: the whole call for `request`,
the time between reads for `open_stream` (as the aiohttp transport's `total` / `sock_read`).
A stream whose reader falls behind pauses reading from the provider (backpressure). Every call
awaits the network (non-blocking for the loop).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httptools

from core.endpoints import EndpointGuard, EndpointRefused
from producers.gateway.transport import (
    EndpointNotAllowed,
    TransportError,
    UpstreamConnectError,
    UpstreamResponse,
    UpstreamTimeout,
    _check_literal,
)

MAX_HEAD_BYTES = 64 * 1024  # response status line + headers
MAX_IDLE_PER_HOST = 256
KEEPALIVE_S = 30.0
PAUSE_AT = 256 * 1024  # buffered stream bytes before reading from the provider pauses
_SKIP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class _Target:
    """A URL split once: pool key, connect host/port, TLS, and the request line prefix."""

    __slots__ = ("key", "host", "port", "tls", "line_tail", "host_header")

    def __init__(self, url: str) -> None:
        p = urlsplit(url)
        scheme = p.scheme.lower()
        if scheme not in ("http", "https") or not p.hostname:
            raise UpstreamConnectError("provider endpoint must be an http(s) URL")
        self.tls = scheme == "https"
        self.host = p.hostname
        self.port = p.port or (443 if self.tls else 80)
        self.key = (scheme, self.host, self.port)
        target = (p.path or "/") + (f"?{p.query}" if p.query else "")
        if any(c in target for c in "\r\n "):
            raise UpstreamConnectError("provider URL has characters not allowed in a request line")
        self.line_tail = f" {target} HTTP/1.1\r\n".encode()
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        self.host_header = shown if default else f"{shown}:{self.port}"


class _Resp:
    """One answer as it arrives (also the `UpstreamStream` handed to the relay)."""

    def __init__(self, conn: _Conn, pool: H1Transport) -> None:
        self._conn = conn
        self._pool = pool
        self.status = 0
        self.headers: dict[str, str] = {}
        self._raw: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self.head: asyncio.Future = conn.loop.create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future | None = None
        self.done = False
        self.error: TransportError | None = None
        self._decoder: Any = None
        self._keep = False
        self._released = False

    # -- from the protocol
    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _TooLarge
        self._raw.append((name, value))

    def headers_complete(self, status: int, keep: bool) -> None:
        self.status = status
        self._keep = keep
        h: dict[str, str] = {}
        for n, v in self._raw:
            k = n.decode("latin-1").lower()
            s = v.decode("latin-1")
            h[k] = f"{h[k]}, {s}" if k in h else s
        self.headers = h
        self._raw = []
        enc = h.get("content-encoding", "").strip().lower()
        if enc in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(47)  # gzip or zlib framing, detected
        elif enc not in ("", "identity"):
            self.fail(UpstreamConnectError(f"provider answer has an unsupported content-encoding {enc!r}"))
            return
        if not self.head.done():
            self.head.set_result(None)

    def feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self.fail(UpstreamConnectError("provider answer could not be decompressed"))
                return
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > PAUSE_AT:
            self._conn.pause()
        self._wake()

    def complete(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self.done = True
        self._wake()

    def fail(self, err: TransportError) -> None:
        if self.done:
            return
        self.error = err
        self.done = True
        if not self.head.done():
            self.head.set_exception(err)
            self.head.exception()  # retrieved: nobody may be waiting any more
        self._wake()
        self._conn.close()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- for the caller
    async def _more(self) -> None:
        self._waiter = self._conn.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                c = self._chunks.popleft()
                self._buffered -= len(c)
                if self._buffered <= PAUSE_AT // 2:
                    self._conn.resume()
                yield c
            if self.error is not None:
                raise self.error
            if self.done:
                return
            await self._more()

    async def read_all(self) -> bytes:
        while not self.done:
            await self._more()
        if self.error is not None:
            raise self.error
        out = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return out

    async def close(self) -> None:
        self.release()

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        conn.resp = None
        conn.stop_timer()
        if self.done and self.error is None and self._keep and not self._chunks:
            self._pool._put(conn)
        else:
            conn.close()


class _TooLarge(Exception):
    pass


class _Conn(asyncio.Protocol):
    """One keep-alive connection; `resp` is the answer being read (None while idle)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple, pool: H1Transport) -> None:
        self.loop = loop
        self.key = key
        self.pool = pool
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: _Resp | None = None
        self.closed = False
        self.idle_since = 0.0
        self.paused = False
        self.last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0

    # -- asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        r = self.resp
        if r is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.close()
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:  # callback errors (_TooLarge) arrive wrapped in it
            too_large = r._head_bytes > MAX_HEAD_BYTES
            r.fail(
                UpstreamConnectError(
                    "provider answer headers too large" if too_large else "provider sent a malformed HTTP answer"
                )
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.stop_timer()
        self.pool._open.discard(self)
        r = self.resp
        if r is not None and not r.done:
            if (
                r.head.done()
                and not r.headers.get("content-length")
                and "chunked" not in r.headers.get("transfer-encoding", "")
            ):
                r._keep = False
                r.complete()  # an answer delimited by the connection closing
            else:
                r.fail(UpstreamConnectError("provider connection failed: ServerDisconnected"))

    def pause_writing(self) -> None:  # the request body is written in one go; nothing to pause
        pass

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.resp is not None:
            self.resp.on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.resp is not None:
            self.resp.headers_complete(self.parser.get_status_code(), self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        if self.resp is not None:
            self.resp.feed(body)

    def on_message_complete(self) -> None:
        if self.resp is not None:
            self.resp.complete()

    # -- control
    def pause(self) -> None:
        if not self.paused and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stop_timer()
            if self.transport is not None:
                self.transport.close()

    def start_timer(self, seconds: float, idle: bool) -> None:
        """Fail the answer `seconds` from now (`idle`: `seconds` after the last read)."""
        self._read_timeout = seconds if idle else 0.0
        self.last_read = self.loop.time()
        self._timer = self.loop.call_at(self.last_read + seconds, self._expire)

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._read_timeout and not self.paused:
            due = self.last_read + self._read_timeout
            if due > self.loop.time():
                self._timer = self.loop.call_at(due, self._expire)
                return
        elif self._read_timeout:  # paused by our own reader: not the provider's fault
            self._timer = self.loop.call_later(self._read_timeout, self._expire)
            return
        r = self.resp
        if r is not None:
            r.fail(UpstreamTimeout("provider timed out"))
        self.close()


class H1Transport:
    """Pooled HTTP/1.1 to providers (see the module docstring)."""

    def __init__(self, connect_timeout: float = 10.0, guard: EndpointGuard | None = None) -> None:
        self._connect_timeout = connect_timeout
        self._guard = guard or EndpointGuard()
        self._targets: dict[str, _Target] = {}
        self._idle: dict[tuple, list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._open: set[_Conn] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    def _target(self, url: str) -> _Target:
        t = self._targets.get(url)
        if t is None:
            _check_literal(self._guard, url)  # pure: allowed URLs are remembered, refusals re-checked
            t = _Target(url)
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[url] = t
        return t

    def _put(self, conn: _Conn) -> None:
        if conn.closed:
            self._open.discard(conn)
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= MAX_IDLE_PER_HOST:
            conn.close()
            self._open.discard(conn)
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def _acquire(self, t: _Target, timeout: float) -> _Conn:
        idle = self._idle.get(t.key)
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if not conn.closed and now - conn.idle_since < KEEPALIVE_S:
                    return conn
                conn.close()
                self._open.discard(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(min(self._connect_timeout, timeout)):
                addrs = await self._guard.resolve_checked(t.host, t.port)
                last: BaseException | None = None
                for addr in addrs:
                    try:
                        _, conn = await loop.create_connection(
                            lambda: _Conn(loop, t.key, self),
                            addr,
                            t.port,
                            ssl=self._tls() if t.tls else None,
                            server_hostname=t.host if t.tls else None,
                        )
                        break
                    except OSError as exc:
                        last = exc
                else:
                    raise last or OSError("no address to connect to")
        except EndpointRefused as exc:
            raise EndpointNotAllowed(f"provider endpoint not allowed: {exc}") from None
        except TimeoutError:
            raise UpstreamTimeout("provider timed out") from None
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None
        self._open.add(conn)
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _send(self, req: Any, timeout: float, total: bool) -> _Resp:
        t = self._target(req.url)
        head = self._head(req, t)
        conn = await self._acquire(t, timeout)
        resp = _Resp(conn, self)
        conn.resp = resp
        conn.start_timer(timeout, idle=not total)
        conn.transport.write(head)
        try:
            await resp.head
        except BaseException:
            resp.release()
            raise
        return resp

    @staticmethod
    def _head(req: Any, t: _Target) -> bytes:
        parts = [req.method.encode("ascii"), t.line_tail]
        has_host = has_accept_enc = False
        for k, v in req.headers.items():
            lk = k.lower()
            if lk in _SKIP:
                if lk != "host":
                    continue
                has_host = True
            elif lk == "accept-encoding":
                has_accept_enc = True
            if "\n" in v or "\r" in v or "\n" in k or "\r" in k or ":" in k:
                raise UpstreamConnectError("a provider request header has characters not allowed in HTTP")
            parts.append(f"{k}: {v}\r\n".encode())
        if not has_host:
            parts.append(f"host: {t.host_header}\r\n".encode())
        if not has_accept_enc:
            parts.append(b"accept-encoding: gzip, deflate\r\n")
        body = req.body
        if body or req.method not in ("GET", "HEAD"):
            parts.append(b"content-length: %d\r\n\r\n" % len(body or b""))
            if body:
                parts.append(body)
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    async def request(self, req: Any, timeout: float) -> UpstreamResponse:
        resp = await self._send(req, timeout, total=True)
        try:
            body = await resp.read_all()
        finally:
            resp.release()
        return UpstreamResponse(resp.status, resp.headers, body)

    async def open_stream(self, req: Any, timeout: float) -> _Resp:
        return await self._send(req, timeout, total=False)
