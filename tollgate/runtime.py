"""Composition root: builds one process (settings -> runtime parts -> ASGI app). Nothing imports it.

`core.runtime.Runtime` holds the parts; the `wire_*` functions here fill its typed slots and
add components in start order (config store first). Tests pass callbacks to `build_up_app` /
`build_api_app` / `build_gateway_app`: `prepare` runs BEFORE the standard wiring (pre-fill a
slot, e.g. `rt.warehouse`, and the wiring leaves it alone), `configure` runs AFTER it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.runtime import Component, Configurator, Runtime
from core.settings import Settings
from store.db import make_engine, make_sessionmaker
from store.lifecycle import ConfigStore

__all__ = [
    "Component",
    "Configurator",
    "Runtime",
    "build_runtime",
    "build_up_app",
    "build_api_app",
    "build_gateway_app",
    "serve",
]


def build_runtime(settings: Settings, role: str) -> Runtime:
    """A Runtime with the config store opened lazily (no I/O here)."""
    engine = make_engine(settings.sqlalchemy_url)
    sessionmaker = make_sessionmaker(engine)
    rt = Runtime(settings=settings, role=role, engine=engine, sessionmaker=sessionmaker)
    rt.add(ConfigStore(engine, sessionmaker, settings))
    return rt


# ---- wiring (one function per part) -------------------------------------------------------


def wire_events(rt: Runtime) -> None:
    """Event publisher: Kafka when settings.kafka_bootstrap, else the in-process bus."""
    from producers.publisher import wire

    wire(rt)


def wire_warehouse(rt: Runtime) -> None:
    """Warehouse: a ClickHouse server when settings.clickhouse_url, else the embedded engine."""
    from warehouse.client import Warehouse

    if rt.warehouse is None:  # a `prepare` callback (tests) may have provided one
        rt.warehouse = rt.add(Warehouse(rt.settings))


def wire_consumers(rt: Runtime) -> None:
    """Metering and policy consumers running inside `tollgate up`."""
    from consumers.kafka_runner import MeteringConsumer
    from tollgate.background import BackgroundStart

    def add(component: Any) -> Any:
        # On Kafka a consumer connects and joins its group in the background: the process
        # serves while the broker is down or the group is still rebalancing after a restart.
        rt.add(BackgroundStart(component) if rt.settings.kafka_bootstrap else component)
        return component

    if rt.warehouse is not None and (rt.settings.kafka_bootstrap or rt.bus is not None):
        rt.metering = add(MeteringConsumer(rt.settings, rt.warehouse, bus=rt.bus))
    if rt.settings.kafka_bootstrap or rt.bus is not None:  # policy consumer (limits + async judge)
        from tollgate.policy_wiring import policy_consumer

        consumer, snap = policy_consumer(rt.settings, rt.sessionmaker, rt.bus)
        rt.add(snap)
        rt.on_store_change.append(snap.refresher.catch_up)
        rt.policy_consumer = add(consumer)


def wire_worker_logs(rt: Runtime) -> None:
    """Embedded `tollgate up`: the consumers also read the logs of the gateway workers
    (`--workers N`, or left by an earlier run with workers). Add after the consumers."""
    from pathlib import Path

    from eventlog.logreader import WorkerLogs, worker_log_paths

    if rt.bus is None:
        return
    paths = worker_log_paths(Path(rt.settings.eventlog_dir or rt.settings.data_dir), rt.settings.workers)
    if paths:
        rt.add(WorkerLogs(rt.bus, paths))


def wire_gateway(rt: Runtime) -> None:
    """Set rt.gateway (ASGI, sees full `/v1/...` paths) and add its components."""
    from producers.gateway.app import wire

    wire(rt)


def wire_policies(rt: Runtime) -> None:
    """The gateway's policy hooks (in-memory pre-checks, budgets, violation events)."""
    from tollgate.policy_wiring import decisions_component, make_hooks

    if rt.gateway_hooks is None:
        rt.gateway_hooks = make_hooks(rt)  # rules + natural-language judge
    if rt.role in ("up", "gateway"):
        rt.policy_decisions = rt.add(decisions_component(rt, rt.gateway_hooks))


def _apply(rt: Runtime, configure: Iterable[Configurator]) -> None:
    for fn in configure:
        fn(rt)


# ---- process apps -----------------------------------------------------------------------


def build_up_app(
    settings: Settings, configure: Iterable[Configurator] = (), prepare: Iterable[Configurator] = ()
) -> Any:
    """`tollgate up`: management API at `/`, gateway at `/v1`, consumers in-process.

    The returned ASGI app has `.runtime`; its lifespan starts/stops the Runtime.
    """
    from api.app import create_api_app
    from tollgate.middleware import GatewayDispatch, wrap_process_app

    rt = build_runtime(settings, "up")
    _apply(rt, prepare)
    wire_events(rt)
    wire_warehouse(rt)
    wire_policies(rt)
    wire_consumers(rt)
    wire_gateway(rt)
    wire_worker_logs(rt)
    _apply(rt, configure)
    app = wrap_process_app(GatewayDispatch(create_api_app(rt), rt.gateway), rt)
    return app


def build_api_app(
    settings: Settings, configure: Iterable[Configurator] = (), prepare: Iterable[Configurator] = ()
) -> Any:
    """`tollgate api`: the management + stats API only (no gateway, no consumers)."""
    from api.app import create_api_app
    from tollgate.middleware import wrap_process_app

    rt = build_runtime(settings, "api")
    _apply(rt, prepare)
    wire_events(rt)
    wire_warehouse(rt)
    wire_policies(rt)
    _apply(rt, configure)
    return wrap_process_app(create_api_app(rt), rt)


def build_gateway_app(
    settings: Settings, configure: Iterable[Configurator] = (), prepare: Iterable[Configurator] = ()
) -> Any:
    """`tollgate gateway`: `/v1` plus `/health` and `/metrics`."""
    from api.app import create_ops_app
    from tollgate.middleware import GatewayDispatch, wrap_process_app

    rt = build_runtime(settings, "gateway")
    _apply(rt, prepare)
    wire_events(rt)
    wire_policies(rt)
    wire_gateway(rt)
    _apply(rt, configure)
    return wrap_process_app(GatewayDispatch(create_ops_app(rt), rt.gateway), rt)


def serve(app: Any, settings: Settings, *, log_level: str = "info", sockets: list[Any] | None = None) -> None:
    """Run an app with uvicorn (uvloop + httptools) on settings.host:port, or on the given
    listening ``sockets`` (a `--workers` process). Blocks."""
    import uvicorn

    from tollgate.http_guard import uvicorn_options

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        server_header=False,
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    if getattr(server, "started", True) is False:
        raise SystemExit(3)
