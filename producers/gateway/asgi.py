"""Raw ASGI plumbing for the gateway: read a bounded body, parse it, send JSON or SSE headers.

Every call awaits the ASGI server (non-blocking for the loop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from producers.gateway.errors import GatewayError

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole request body; 413 past `max_bytes`, 400 if the client leaves first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise GatewayError(400, "client disconnected before sending the body", "client_disconnected")
        body = msg.get("body", b"")
        if body:
            size += len(body)
            if size > max_bytes:
                raise GatewayError(413, f"request body larger than {max_bytes} bytes", "request_too_large")
            chunks.append(body)
        if not msg.get("more_body", False):
            break
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


MAX_JSON_DEPTH = 64  # far below orjson's limits (1024 to read, 254 to write); tool schemas fit


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than `limit` (iterative: no recursion). Pure."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return False


def parse_json(raw: bytes) -> dict:
    """A JSON object nested at most MAX_JSON_DEPTH deep, or a 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayError(400, "request body is not valid JSON (or nested too deeply)", "invalid_json") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "request body must be a JSON object", "invalid_json")
    # a body with at most MAX_JSON_DEPTH opening brackets cannot nest deeper (C-speed count)
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and json_depth_exceeds(body):
        raise GatewayError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json")
    return body


async def respond(
    send: Send,
    status: int,
    body: bytes,
    rid: bytes,
    overhead_ms: float | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid),
    ]
    if overhead_ms is not None:
        headers.append((b"x-tollgate-overhead-ms", f"{overhead_ms:.3f}".encode()))
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def start_sse(send: Send, rid: bytes, overhead_ms: float) -> None:
    headers = list(SSE_HEADERS) + [
        (b"x-request-id", rid),
        (b"x-tollgate-overhead-ms", f"{overhead_ms:.3f}".encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
