"""The h1 upstream transport against raw HTTP servers: framing, decoding, limits, timeouts, reuse."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable

import pytest

from core.endpoints import EndpointGuard
from producers.adapters.base import UpstreamRequest
from producers.gateway.h1 import H1Transport
from producers.gateway.transport import UpstreamConnectError, UpstreamTimeout


async def _serve(answer: Callable[[bytes], bytes | None], close: bool = False):
    """A server that reads one request head (+ body by content-length) and writes `answer(head)`."""
    conns: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if n:
                    await reader.readexactly(n)
                out = answer(head)
                if out is None:
                    await asyncio.sleep(30)
                    return
                writer.write(out)
                await writer.drain()
                if close:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", conns


def _t() -> H1Transport:
    return H1Transport(2.0, guard=EndpointGuard("127.0.0.0/8"))


def _req(url: str, method: str = "POST", body: bytes = b'{"a":1}') -> UpstreamRequest:
    return UpstreamRequest(method, url + "/v1/chat/completions?x=1", {"authorization": "Bearer k"}, body)


async def test_content_length_answers_reuse_one_connection() -> None:
    seen: list[bytes] = []

    def answer(head: bytes) -> bytes:
        seen.append(head)
        return b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{"b":2}'

    server, url, conns = await _serve(answer)
    t = _t()
    try:
        for _ in range(3):
            r = await t.request(_req(url), 2.0)
            assert (r.status, r.body, r.headers["content-type"]) == (200, b'{"b":2}', "application/json")
        assert len(conns) == 1
        assert seen[0].startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
        assert b"authorization: Bearer k\r\n" in seen[0] and b"content-length: 7\r\n" in seen[0]
        assert b"host: 127.0.0.1:" in seen[0]
    finally:
        await t.stop()
        server.close()


async def test_chunked_gzip_stream_is_decoded_in_order() -> None:
    data = gzip.compress(b"data: one\n\ndata: two\n\n")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + 5]), data[i : i + 5]) for i in range(0, len(data), 5))
    msg = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    server, url, _ = await _serve(lambda head: msg)
    t = _t()
    try:
        s = await t.open_stream(_req(url), 2.0)
        got = b"".join([c async for c in s.chunks()])
        await s.close()
        assert s.status == 200 and got == b"data: one\n\ndata: two\n\n"
    finally:
        await t.stop()
        server.close()


async def test_body_delimited_by_close_and_error_status() -> None:
    server, url, _ = await _serve(lambda head: b"HTTP/1.1 503 Busy\r\nretry-after: 3\r\n\r\nlater", close=True)
    t = _t()
    try:
        r = await t.request(_req(url), 2.0)
        assert (r.status, r.body, r.headers["retry-after"]) == (503, b"later", "3")
    finally:
        await t.stop()
        server.close()


async def test_huge_headers_and_garbage_are_connection_errors() -> None:
    big = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 70_000 + b"\r\ncontent-length: 0\r\n\r\n"
    server, url, _ = await _serve(lambda head: big)
    server2, url2, _ = await _serve(lambda head: b"NOT HTTP AT ALL\r\n\r\n")
    t = _t()
    try:
        with pytest.raises(UpstreamConnectError, match="too large"):
            await t.request(_req(url), 2.0)
        with pytest.raises(UpstreamConnectError, match="malformed"):
            await t.request(_req(url2), 2.0)
    finally:
        await t.stop()
        server.close()
        server2.close()


async def test_silent_provider_times_out_and_header_injection_is_refused() -> None:
    server, url, _ = await _serve(lambda head: None)
    t = _t()
    try:
        with pytest.raises(UpstreamTimeout):
            await t.request(_req(url), 0.3)
        with pytest.raises(UpstreamTimeout):
            await t.open_stream(_req(url), 0.3)
        bad = UpstreamRequest("POST", url + "/v1/x", {"authorization": "Bearer k\r\nx-evil: 1"}, b"{}")
        with pytest.raises(UpstreamConnectError):
            await t.request(bad, 1.0)
    finally:
        await t.stop()
        server.close()


async def test_stream_idle_timeout_counts_from_the_last_read() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(7)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(4):  # 4 x 0.2 s > the 0.5 s idle limit in total, never idle that long
            writer.write(b"3\r\nabc\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)  # then silence (the stream is already complete)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    t = _t()
    try:
        s = await t.open_stream(_req(url), 0.5)
        got = b"".join([c async for c in s.chunks()])
        await s.close()
        assert got == b"abc" * 4
    finally:
        await t.stop()
        server.close()
