"""Pooled keep-alive HTTP to providers. Two implementations behind one small interface.

`producers.gateway.h1.H1Transport` is the default (asyncio + httptools, about a tenth of
aiohttp's CPU per call); `AiohttpTransport` (faster than httpx for this workload) and
`HttpxTransport` are kept as alternatives (`upstream_transport`; see `bench/RESULTS.md`).
Every call awaits network I/O (non-blocking for the loop); errors are mapped to
`UpstreamTimeout` / `UpstreamConnectError` so the fallback logic does not see client types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from core.endpoints import EndpointGuard, EndpointRefused


class TransportError(Exception):
    """The provider could not be reached or did not answer in time (message has no secrets)."""

    error_type = "connection_error"


class UpstreamTimeout(TransportError):
    error_type = "timeout"


class UpstreamConnectError(TransportError):
    error_type = "connection_error"


class EndpointNotAllowed(TransportError):
    """The endpoint resolves to an address the endpoint guard refuses (checked at connect)."""

    error_type = "endpoint_refused"


def _check_literal(guard: EndpointGuard, url: str) -> None:
    """IP literals never reach a resolver: check them (and metadata names) before sending."""
    try:
        guard.check_host(urlsplit(url).hostname or "")
    except EndpointRefused as exc:
        raise EndpointNotAllowed(f"provider endpoint not allowed: {exc}") from None


def _refused(exc: BaseException) -> EndpointNotAllowed | None:
    from core.guarded_net import RefusedAddress

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, RefusedAddress) or isinstance(getattr(cause, "os_error", None), RefusedAddress):
            inner = cause if isinstance(cause, RefusedAddress) else cause.os_error  # type: ignore[attr-defined]
            return EndpointNotAllowed(f"provider endpoint not allowed: {inner}")
        cause = cause.__cause__ or cause.__context__
    return None


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class UpstreamStream(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]: ...
    async def read_all(self) -> bytes: ...
    async def close(self) -> None: ...


class Transport(Protocol):
    async def request(self, req, timeout: float) -> UpstreamResponse: ...
    async def open_stream(self, req, timeout: float) -> UpstreamStream: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


# ---------------------------------------------------------------- aiohttp
class _AiohttpStream:
    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except TimeoutError:
            raise UpstreamTimeout("provider stream timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"provider stream broke: {type(exc).__name__}") from None

    async def read_all(self) -> bytes:
        import aiohttp

        try:
            return await self._resp.read()
        except TimeoutError:
            raise UpstreamTimeout("provider timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        self._resp.release()


class AiohttpTransport:
    """Allowed URLs are parsed and guard-checked once. `lean` also reuses timeout objects per
    (timeout, total) (a benchmark variant)."""

    def __init__(
        self, connect_timeout: float = 10.0, limit: int = 1000, guard: EndpointGuard | None = None, lean: bool = False
    ) -> None:
        self._connect_timeout = connect_timeout
        self._limit = limit
        self._guard = guard or EndpointGuard()
        self._session = None
        self._lean = lean
        self._urls: dict[str, object] = {}
        self._timeouts: dict[tuple[float, bool], object] = {}

    async def start(self) -> None:
        import aiohttp

        from core.guarded_net import make_aiohttp_resolver

        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=0,
                keepalive_timeout=30,
                ttl_dns_cache=300,
                resolver=make_aiohttp_resolver(self._guard),
            )
            self._session = aiohttp.ClientSession(
                connector=connector, skip_auto_headers=("User-Agent",), auto_decompress=True
            )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(self, req, timeout: float, total: bool):
        import aiohttp
        from yarl import URL

        if self._session is None:
            await self.start()
        url = self._urls.get(req.url)
        if url is None:
            # The guard's literal check is a pure function of the URL (~17 µs: host
            # normalisation + ipaddress parsing): remember the URLs it allowed (refusals are
            # checked every time). The resolver still checks every connection's address.
            _check_literal(self._guard, req.url)
            # encoded=True: send the path exactly as built (SigV4 signs it; yarl would
            # otherwise normalise e.g. %3A back to ':').
            url = URL(req.url, encoded=True)
            if len(self._urls) >= 4096:
                self._urls.clear()
            self._urls[req.url] = url
        to = self._timeouts.get((timeout, total)) if self._lean else None
        if to is None:
            to = aiohttp.ClientTimeout(
                total=timeout if total else None,
                sock_connect=min(self._connect_timeout, timeout),
                sock_read=timeout,
            )
            if self._lean and len(self._timeouts) < 64:
                self._timeouts[(timeout, total)] = to
        try:
            return await self._session.request(
                req.method,
                url,
                headers=req.headers,
                data=req.body or None,
                timeout=to,
                allow_redirects=False,
            )
        except TimeoutError:
            raise UpstreamTimeout("provider timed out") from None
        except aiohttp.ClientError as exc:
            raise _refused(exc) or UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None

    async def request(self, req, timeout: float) -> UpstreamResponse:
        import aiohttp

        resp = await self._send(req, timeout, total=True)
        try:
            body = await resp.read()
        except TimeoutError:
            raise UpstreamTimeout("provider timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None
        finally:
            resp.release()
        return UpstreamResponse(resp.status, resp.headers, body)

    async def open_stream(self, req, timeout: float) -> _AiohttpStream:
        return _AiohttpStream(await self._send(req, timeout, total=False))


# ---------------------------------------------------------------- httpx
class _HttpxStream:
    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = resp.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.TimeoutException:
            raise UpstreamTimeout("provider stream timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamConnectError(f"provider stream broke: {type(exc).__name__}") from None

    async def read_all(self) -> bytes:
        import httpx

        try:
            return await self._resp.aread()
        except httpx.TimeoutException:
            raise UpstreamTimeout("provider timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._resp.aclose()


class HttpxTransport:
    def __init__(self, connect_timeout: float = 10.0, limit: int = 1000, guard: EndpointGuard | None = None) -> None:
        self._connect_timeout = connect_timeout
        self._limit = limit
        self._guard = guard or EndpointGuard()
        self._client = None

    async def start(self) -> None:
        import httpx

        from core.guarded_net import guarded_httpx_transport

        if self._client is None:
            limits = httpx.Limits(max_connections=self._limit, max_keepalive_connections=self._limit)
            self._client = httpx.AsyncClient(
                transport=guarded_httpx_transport(self._guard, limits=limits),
                limits=limits,
                timeout=None,
                follow_redirects=False,
                trust_env=False,
            )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(self, req, timeout: float):
        import httpx

        if self._client is None:
            await self.start()
        _check_literal(self._guard, req.url)
        to = httpx.Timeout(timeout, connect=min(self._connect_timeout, timeout))
        r = self._client.build_request(req.method, req.url, headers=req.headers, content=req.body or None, timeout=to)
        try:
            return await self._client.send(r, stream=True)
        except httpx.TimeoutException:
            raise UpstreamTimeout("provider timed out") from None
        except httpx.ConnectError as exc:
            if "is refused" in str(exc):
                raise EndpointNotAllowed(f"provider endpoint not allowed: {exc}") from None
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise UpstreamConnectError(f"provider connection failed: {type(exc).__name__}") from None

    async def request(self, req, timeout: float) -> UpstreamResponse:
        s = _HttpxStream(await self._send(req, timeout))
        try:
            body = await asyncio.wait_for(s.read_all(), timeout)
        except TimeoutError:
            raise UpstreamTimeout("provider timed out") from None
        finally:
            await s.close()
        return UpstreamResponse(s.status, s.headers, body)

    async def open_stream(self, req, timeout: float) -> _HttpxStream:
        return _HttpxStream(await self._send(req, timeout))


def make_transport(kind: str = "h1", connect_timeout: float = 10.0, guard: EndpointGuard | None = None) -> Transport:
    """A pooled transport; `guard` (default: public addresses only) checks every connection."""
    if kind == "h1":
        from producers.gateway.h1 import H1Transport

        return H1Transport(connect_timeout, guard=guard)
    if kind == "httpx":
        return HttpxTransport(connect_timeout, guard=guard)
    return AiohttpTransport(connect_timeout, guard=guard, lean=kind == "aiohttp-lean")
