"""The endpoint guard at connect time, for the two HTTP clients Tollgate uses.

`GuardedResolver` (aiohttp): every name is resolved through the guard, so the address the
connector dials is one the guard accepted (no DNS rebinding between check and connect).
`guarded_httpx_transport` (httpx): the same through httpcore's network backend; TLS still
verifies the certificate against the URL's host name. IP literals never reach a resolver, so
callers check them with `EndpointGuard.check_host` before sending (the transports do).
"""

from __future__ import annotations

import socket
from typing import Any

from core.endpoints import EndpointGuard, EndpointRefused


class RefusedAddress(OSError):
    """Raised inside the HTTP client when the guard refuses an endpoint (message is safe)."""


class GuardedResolver:
    """aiohttp resolver: the system resolver's answers, every address checked."""

    def __init__(self, guard: EndpointGuard) -> None:
        self.guard = guard

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        try:
            addrs = await self.guard.resolve_checked(host, port)
        except EndpointRefused as exc:
            raise RefusedAddress(str(exc)) from None
        out = []
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append(
                {"hostname": host, "host": a, "port": port, "family": fam, "proto": 0, "flags": socket.AI_NUMERICHOST}
            )
        return out

    async def close(self) -> None:
        return None


def make_aiohttp_resolver(guard: EndpointGuard):
    """A `GuardedResolver` registered as an aiohttp AbstractResolver."""
    from aiohttp.abc import AbstractResolver

    AbstractResolver.register(GuardedResolver)
    return GuardedResolver(guard)


def guarded_httpx_transport(guard: EndpointGuard, **kwargs: Any):
    """An httpx.AsyncHTTPTransport whose connections go only where the guard allows."""
    import httpcore
    import httpx

    class _Backend(httpcore.AsyncNetworkBackend):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ):
            try:
                addrs = await guard.resolve_checked(host, port)
            except EndpointRefused as exc:
                raise httpcore.ConnectError(str(exc)) from None
            except (OSError, TimeoutError) as exc:
                raise httpcore.ConnectError(f"name resolution failed: {type(exc).__name__}") from None
            last: Exception | None = None
            for a in addrs:
                try:
                    return await self.inner.connect_tcp(
                        a, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                except httpcore.ConnectError as exc:
                    last = exc
            raise last or httpcore.ConnectError("no address to connect to")

        async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None):
            raise httpcore.ConnectError("unix sockets are not provider endpoints")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    transport = httpx.AsyncHTTPTransport(**kwargs)
    pool = transport._pool
    pool._network_backend = _Backend(pool._network_backend)
    return transport
