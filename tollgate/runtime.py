"""Composition root: builds one process (settings -> engine -> components -> ASGI app).

A `Runtime` holds what a process shares: settings, the config-store engine and session
factory, and slots the other parts fill (`publisher`, `bus`, `warehouse`, `gateway`...).
Components (anything with `name`, `async start()` and `async stop()`) are started in the
order they were added, after migrations and the first-OWNER bootstrap, and stopped in reverse.

Where other parts plug in (small edits here, nowhere else):
- `wire_events(rt)`     B: set `rt.bus` / `rt.publisher`, add their components.
- `wire_warehouse(rt)`  C: set `rt.warehouse`, add its component.
- `wire_consumers(rt)`  C/F: add the metering/policy consumer components (embedded `up`).
- `wire_gateway(rt)`    E: set `rt.gateway` to the ASGI app serving `/v1/...` (paths are NOT
                        stripped: it sees `/v1/chat/completions`) and add its component(s).
- `wire_policies(rt)`   F: anything the policy engine needs in-process.
Tests pass extra callbacks to `build_up_app` / `build_api_app` / `build_gateway_app`:
`prepare` runs BEFORE the standard wiring (pre-fill a slot, e.g. `rt.warehouse`, and the hook
leaves it alone), `configure` runs AFTER it (replace slots, add components).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, runtime_checkable
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.db import make_engine, make_sessionmaker
from tollgate import metrics
from tollgate.settings import Settings

log = logging.getLogger("tollgate.runtime")


@runtime_checkable
class Component(Protocol):
    """A long-lived part of a process. `start` may block until it is ready; `stop` drains."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Configurator = Callable[["Runtime"], None]


@dataclass
class Runtime:
    settings: Settings
    role: str  # "up" | "api" | "gateway" | "consume-metering" | "consume-policy"
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Slots filled by the wiring hooks below (None = not in this process).
    publisher: Any = None  # producers.publisher EventPublisher (B)
    bus: Any = None  # in-process bus (B), embedded mode only
    warehouse: Any = None  # warehouse facade (C)
    gateway: Any = None  # ASGI app for /v1 (E)
    extras: dict[str, Any] = field(default_factory=dict)  # anything else, by name
    components: list[Component] = field(default_factory=list)
    run_migrations: bool = True
    bootstrap_admin: bool = True
    ready: bool = False
    _started: list[Component] = field(default_factory=list)

    def add(self, component: Component) -> Component:
        """Register a component; it starts after the ones added before it."""
        self.components.append(component)
        return component

    async def start(self) -> None:
        """Migrate, create the first OWNER if needed, start components in order."""
        from store.bootstrap import ensure_first_owner
        from store.migrate import upgrade_engine

        if self.engine.dialect.name == "sqlite":
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_migrations:
            await upgrade_engine(self.engine)
        if self.bootstrap_admin:
            await ensure_first_owner(self.sessionmaker, self.settings)
        for comp in self.components:
            t0 = time.perf_counter()
            await comp.start()
            self._started.append(comp)
            metrics.COMPONENT_START_SECONDS.labels(comp.name).set(time.perf_counter() - t0)
            log.info("started %s", comp.name)
        self.ready = True
        metrics.READY.set(1)

    async def stop(self) -> None:
        """Stop started components in reverse order (errors logged, never skipped), then the engine."""
        self.ready = False
        metrics.READY.set(0)
        while self._started:
            comp = self._started.pop()
            try:
                await comp.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                log.error("stopping %s failed: %s", comp.name, self.redact(f"{type(exc).__name__}: {exc}"))
        await self.engine.dispose()

    def redact(self, text: str) -> str:
        """Remove configured secrets (passwords, keys, DB password) from a message."""
        s = self.settings
        secrets = [s.admin_password, s.secret_key, s.jwt_secret]
        for url in (s.database_url, s.clickhouse_url):
            if url:
                try:
                    secrets.append(urlsplit(url).password)
                except ValueError:
                    pass
        for value in secrets:
            if value:
                text = text.replace(value, "***")
        return text


def build_runtime(settings: Settings, role: str) -> Runtime:
    """A Runtime with the config store opened lazily (no I/O here)."""
    engine = make_engine(settings.sqlalchemy_url)
    return Runtime(settings=settings, role=role, engine=engine, sessionmaker=make_sessionmaker(engine))


# ---- wiring hooks (one per part; each a small edit by its owner) --------------------------

def wire_events(rt: Runtime) -> None:
    """HOOK(B): event bus / publisher. Kafka when settings.kafka_bootstrap, else in-process."""
    from producers.publisher import wire

    wire(rt)


def wire_warehouse(rt: Runtime) -> None:
    """HOOK(C): ClickHouse server when settings.clickhouse_url, else the embedded engine."""
    from warehouse.client import Warehouse

    if rt.warehouse is None:  # a `prepare` callback (tests) may have provided one
        rt.warehouse = rt.add(Warehouse(rt.settings))


def wire_consumers(rt: Runtime) -> None:
    """HOOK(C/F): metering and policy consumers running inside `tollgate up`."""
    from consumers.kafka_runner import MeteringConsumer

    if rt.warehouse is not None and (rt.settings.kafka_bootstrap or rt.bus is not None):
        rt.extras["metering"] = rt.add(MeteringConsumer(rt.settings, rt.warehouse, bus=rt.bus))
    if rt.settings.kafka_bootstrap or rt.bus is not None:   # H: policy consumer (limits + async judge)
        from tollgate.policy_wiring import policy_consumer

        consumer, snap = policy_consumer(rt.settings, rt.sessionmaker, rt.bus)
        rt.add(snap)
        rt.extras["policy_consumer"] = rt.add(consumer)


def wire_gateway(rt: Runtime) -> None:
    """HOOK(E): set rt.gateway (ASGI, sees full `/v1/...` paths) and add its components."""
    from producers.gateway.app import wire

    wire(rt)


def wire_policies(rt: Runtime) -> None:
    """HOOK(F): the gateway's policy hooks (in-memory pre-checks, budgets, violation events)."""
    from tollgate.policy_wiring import decisions_component, make_hooks

    hooks = rt.extras.setdefault("gateway_hooks", make_hooks(rt))   # rules + NL judge (H)
    if rt.role in ("up", "gateway"):
        rt.extras["policy_decisions"] = rt.add(decisions_component(rt, hooks))


def _apply(rt: Runtime, configure: Iterable[Configurator]) -> None:
    for fn in configure:
        fn(rt)


# ---- process apps -----------------------------------------------------------------------

def build_up_app(settings: Settings, configure: Iterable[Configurator] = (),
                 prepare: Iterable[Configurator] = ()) -> Any:
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
    _apply(rt, configure)
    app = wrap_process_app(GatewayDispatch(create_api_app(rt), rt.gateway), rt)
    return app


def build_api_app(settings: Settings, configure: Iterable[Configurator] = (),
                  prepare: Iterable[Configurator] = ()) -> Any:
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


def build_gateway_app(settings: Settings, configure: Iterable[Configurator] = (),
                      prepare: Iterable[Configurator] = ()) -> Any:
    """`tollgate gateway`: `/v1` plus `/health` and `/metrics`. `.runtime.gateway` is None
    until E wires it (the CLI then refuses to start)."""
    from api.app import create_ops_app
    from tollgate.middleware import GatewayDispatch, wrap_process_app

    rt = build_runtime(settings, "gateway")
    _apply(rt, prepare)
    wire_events(rt)
    wire_policies(rt)
    wire_gateway(rt)
    _apply(rt, configure)
    return wrap_process_app(GatewayDispatch(create_ops_app(rt), rt.gateway), rt)


def serve(app: Any, settings: Settings, *, log_level: str = "info") -> None:
    """Run an app with uvicorn (uvloop + httptools) on settings.host:port. Blocks."""
    import uvicorn

    config = uvicorn.Config(app, host=settings.host, port=settings.port, loop="uvloop",
                            http="httptools", lifespan="on", log_level=log_level,
                            access_log=False, server_header=False)
    server = uvicorn.Server(config)
    server.run()
    if getattr(server, "started", True) is False:
        raise SystemExit(3)
