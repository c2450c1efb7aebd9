"""The `/v1` route table (raw ASGI, no framework on the hot path) and the process component.

`GatewayApp` sees full paths (`/v1/chat/completions`); a `root_path` set by a mounting
framework is stripped first. `GatewayComponent` builds and owns the long-lived parts (snapshot
refresher, pooled transport, lastUsedAt writer) in `start()` and drains them in `stop()`.
`wire(rt)` plugs both into the process Runtime (`tollgate up` and `tollgate gateway`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uuid_utils

from core.endpoints import EndpointGuard
from pricing import table as price_table
from producers.gateway.errors import error_body
from producers.gateway.handlers import Gateway
from producers.gateway.lastused import LastUsedWriter
from producers.gateway.transport import make_transport
from store.refresher import SnapshotRefresher

log = logging.getLogger(__name__)

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/models"): "models",
    ("GET", "/models/{model}"): "models.get",
    ("POST", "/chat/completions"): "chat.completions",
    ("POST", "/embeddings"): "embeddings",
    ("POST", "/responses"): "responses",
    ("POST", "/messages"): "messages",
    ("POST", "/messages/count_tokens"): "messages.count_tokens",
}
_PATHS = {p for _, p in ROUTES}
_MODEL_PREFIX = "/models/"


async def _plain(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", str(uuid_utils.uuid4()).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GatewayApp:
    """ASGI callable for `/v1/...`. Answers 503 until its component has started."""

    def __init__(self, component: GatewayComponent) -> None:
        self.component = component

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        if path.startswith("/v1/"):
            path = path[3:]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        endpoint = ROUTES.get((scope["method"], path))
        if endpoint is None and path.startswith(_MODEL_PREFIX) and len(path) > len(_MODEL_PREFIX):
            # `/models/{model}`: ids may hold slashes (`bedrock/...`); the id rides on the scope
            scope = dict(scope, **{"tollgate.model_id": path[len(_MODEL_PREFIX) :]})
            path = "/models/{model}"
            endpoint = ROUTES.get((scope["method"], path))
        if endpoint is None:
            if path in _PATHS:
                await _plain(
                    send, 405, error_body(405, f"Method {scope['method']} not allowed here", "method_not_allowed")
                )
            else:
                await _plain(send, 404, error_body(404, f"Unknown gateway path {scope['path']}", "unknown_url"))
            return
        gw = self.component.gateway
        if gw is None:
            await _plain(send, 503, error_body(503, "gateway is starting", "not_ready"))
            return
        await gw.handle(endpoint, scope, receive, send)


class _NullPublisher:
    """Used only when no publisher was wired (events are dropped, loudly, once)."""

    warned = False

    def emit(self, topic: str, key: str | None, event: Any) -> None:
        if not self.warned:
            log.error("no event publisher wired: request events are being dropped")
            self.warned = True


class GatewayComponent:
    """Owns the gateway's long-lived parts; `start` loads the first snapshot (blocks on DB)."""

    name = "gateway"

    def __init__(self, runtime: Any, transport_kind: str | None = None, hooks: Any = None) -> None:
        self.runtime = runtime
        self.transport_kind = transport_kind
        self.hooks = hooks
        self.gateway: Gateway | None = None
        self._parts: list[Any] = []

    async def start(self) -> None:
        rt = self.runtime
        s = rt.settings
        await asyncio.to_thread(price_table.load)  # the offline price table, off the loop (~1 s once)
        kind = self.transport_kind or getattr(s, "upstream_transport", "h1")
        transport = make_transport(
            kind, connect_timeout=min(10.0, s.upstream_timeout_s), guard=EndpointGuard.from_settings(s)
        )
        await transport.start()
        gw_holder: list[Gateway] = []

        def on_change(snap) -> None:
            if gw_holder:
                gw_holder[0].models.prefetch(snap)

        refresher = SnapshotRefresher(rt.sessionmaker, s.secret_key_bytes, s.snapshot_poll_s, on_change)
        last_used = LastUsedWriter(rt.sessionmaker)
        publisher = rt.publisher if rt.publisher is not None else _NullPublisher()
        hooks = self.hooks or rt.gateway_hooks
        gw = Gateway(
            refresher,
            transport,
            publisher,
            gateway_id=s.resolved_gateway_id,
            upstream_timeout_s=s.upstream_timeout_s,
            max_body_bytes=s.max_body_bytes,
            hooks=hooks,
            last_used=last_used,
        )
        gw_holder.append(gw)
        await refresher.start()
        gw.models.prefetch(refresher.snapshot)
        await last_used.start()
        self._parts = [transport, refresher, last_used]
        self.gateway = gw

    async def catch_up(self) -> None:
        """Reload the snapshot now if the store changed (the API calls this before answering)."""
        gw = self.gateway
        if gw is not None:
            await gw.refresher.catch_up()

    async def stop(self) -> None:
        self.gateway = None
        for part in reversed(self._parts):
            try:
                await part.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping gateway part failed")
        self._parts = []


def wire(rt: Any, transport_kind: str | None = None) -> GatewayComponent:
    """Runtime hook: `rt.gateway` serves `/v1/...`; the component starts with the process."""
    if rt.publisher is None:
        # Fallback until/unless `wire_events` sets one: never serve unmetered. A no-op as soon
        # as the events wiring provides a publisher.
        from producers.publisher import wire as wire_events

        wire_events(rt)
    comp = GatewayComponent(rt, transport_kind)
    rt.gateway = GatewayApp(comp)
    rt.add(comp)
    rt.gateway_component = comp
    rt.on_store_change.append(comp.catch_up)
    return comp
