"""The h1 upstream transport over TLS: providers are HTTPS, so the certificate and the host name
are verified (a self-signed certificate is refused unless trusted), and a trusted one works."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from core.endpoints import EndpointGuard
from producers.adapters.base import UpstreamRequest
from producers.gateway.h1 import H1Transport
from producers.gateway.transport import UpstreamConnectError

pytestmark = pytest.mark.integration  # openssl makes the certificates (a child process)
ANSWER = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{"b":2}'


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (as DNS name and, for an address, as IP too)."""
    key, crt = tmp / "key.pem", tmp / "crt.pem"
    san = f"DNS:{name}" + (f",IP:{name}" if name[0].isdigit() else "")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, crt


async def _tls_server(key: Path, crt: Path) -> tuple[asyncio.Server, int, list[bytes]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                heads.append(head)
                n = next(
                    (int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:")), 0
                )
                await reader.readexactly(n)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    return server, server.sockets[0].getsockname()[1], heads


def _req(url: str) -> UpstreamRequest:
    return UpstreamRequest("POST", url + "/v1/chat/completions", {"authorization": "Bearer k"}, b'{"a":1}')


async def test_untrusted_certificate_is_refused_and_a_trusted_one_is_used(tmp_path: Path) -> None:
    key, crt = _certificate(tmp_path, "127.0.0.1")
    server, port, heads = await _tls_server(key, crt)
    t = H1Transport(2.0, guard=EndpointGuard("127.0.0.0/8"))
    try:
        with pytest.raises(UpstreamConnectError):
            await t.request(_req(f"https://127.0.0.1:{port}"), 2.0)
        assert heads == []  # nothing (no credential) was sent over the unverified connection
        t._ssl = ssl.create_default_context(cafile=str(crt))  # the operator's trust store
        for _ in range(2):
            r = await t.request(_req(f"https://127.0.0.1:{port}"), 2.0)
            assert (r.status, r.body) == (200, b'{"b":2}')
        assert len(heads) == 2 and heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    finally:
        await t.stop()
        server.close()


async def test_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    key, crt = _certificate(tmp_path, "provider.example")
    server, port, heads = await _tls_server(key, crt)
    t = H1Transport(2.0, guard=EndpointGuard("127.0.0.0/8"))
    t._ssl = ssl.create_default_context(cafile=str(crt))  # trusted, but issued for another name
    try:
        with pytest.raises(UpstreamConnectError):
            await t.request(_req(f"https://127.0.0.1:{port}"), 2.0)
        assert heads == []
    finally:
        await t.stop()
        server.close()
