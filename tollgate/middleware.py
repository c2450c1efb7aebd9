"""ASGI wrappers every Tollgate HTTP process gets: metrics by route template, body limit,
lifespan that starts/stops the Runtime, and the `/v1` dispatch used by `tollgate up`.

Pure ASGI (no BaseHTTPMiddleware): a few microseconds per request on the gateway hot path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.routing import Mount

from core import metrics

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("tollgate.http")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GATEWAY_PREFIX = "/v1"


def is_gateway_path(path: str) -> bool:
    return path == GATEWAY_PREFIX or path.startswith(GATEWAY_PREFIX + "/")


# Gateway paths are few and fixed; a raw-ASGI gateway has no Starlette route in the scope.
GATEWAY_ROUTES = frozenset({"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/completions"})


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded cardinality), or "<unmatched>".

    An app without Starlette routing may name its template in `scope["tollgate.route"]`."""
    named = scope.get("tollgate.route")
    if named:
        return named
    route = scope.get("route")
    if route is None:
        path = scope.get("path", "")
        if is_gateway_path(path):
            return path if path in GATEWAY_ROUTES else "/v1/*"
        return "<unmatched>"
    prefix = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
    if isinstance(route, Mount):
        return prefix + "/*"
    return prefix + getattr(route, "path", "/*")


def error_body(path: str, status: int, message: str) -> bytes:
    """Contract error shape for the management API, OpenAI's shape under /v1."""
    if is_gateway_path(path):
        code = "request_too_large" if status == 413 else None
        return orjson.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        )
    return orjson.dumps({"success": False, "message": message})


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies above `max_bytes` with 413 before the app sees them.

    A declared Content-Length is checked up front; a chunked body is buffered up to the
    limit (at most `max_bytes` in memory) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        metrics.HTTP_BODY_REJECTED.inc()
        await send_json(
            send, 413, error_body(scope.get("path", ""), 413, f"Request body too large (limit {self.max_bytes} bytes)")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    await send_json(send, 400, error_body(scope.get("path", ""), 400, "Invalid Content-Length"))
                    return
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if length is not None:
            if length > self.max_bytes:
                await self._reject(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        # Chunked: buffer up to the limit, then replay as one message.
        parts: list[bytes] = []
        total = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._reject(scope, send)
                return
            parts.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(parts)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class MetricsMiddleware:
    """Count requests and observe latency by (method, route template, status).

    Labelled children are cached (bounded: methods x route templates x statuses), which
    halves the per-request cost compared with calling `.labels()` each time."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _child(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = (
                metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                metrics.HTTP_LATENCY.labels(method, route),
            )
            self._children[key] = child
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            counter, histogram = self._child(scope.get("method", "GET"), route_template(scope), status)
            counter.inc()
            histogram.observe(time.perf_counter() - start)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not recorded:
                record()  # before the last byte leaves: a client's next request sees it counted
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not recorded:
                record()


class GatewayDispatch:
    """`/v1...` goes to the gateway app, everything else to the management app (no prefix strip)."""

    def __init__(self, api: ASGIApp, gateway: ASGIApp | None):
        self.api = api
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.gateway is not None
            and scope["type"] in ("http", "websocket")
            and is_gateway_path(scope.get("path", ""))
        ):
            await self.gateway(scope, receive, send)
        else:
            await self.api(scope, receive, send)


class LifespanMiddleware:
    """Answers the ASGI lifespan protocol by starting/stopping the Runtime (the inner apps'
    own lifespans are not run: components carry start/stop instead)."""

    def __init__(self, app: ASGIApp, runtime: Runtime):
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except BaseException as exc:  # noqa: BLE001 - reported to the server
                    reason = self.runtime.redact(f"{type(exc).__name__}: {exc}")
                    log.error("start-up failed: %s", reason)
                    try:
                        await self.runtime.stop()
                    finally:
                        await send({"type": "lifespan.startup.failed", "message": f"start-up failed: {reason}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.runtime.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def wrap_process_app(inner: ASGIApp, runtime: Runtime) -> ASGIApp:
    """The outer layers of every HTTP process, outermost first: lifespan, metrics, body limit."""
    app: ASGIApp = BodyLimitMiddleware(inner, runtime.settings.max_body_bytes)
    app = MetricsMiddleware(app)
    return LifespanMiddleware(app, runtime)
