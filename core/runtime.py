"""The parts one process shares, typed: settings, the config store, and the slots the wiring fills.

A `Runtime` is plain data plus start/stop ordering; it imports nothing above `core`. The
composition root (`tollgate.runtime`) builds one and fills its slots; parts read what they
need from it (the gateway its publisher and hooks, the API its warehouse).
Components (anything with `name`, `async start()` and `async stop()`) start in the order they
were added and stop in reverse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from core import metrics
from core.settings import Settings

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
    """One process's shared parts. Slots are None when the part is not in this process."""

    settings: Settings
    role: str  # "up" | "api" | "gateway" | "consume-metering" | "consume-policy"
    engine: Any  # sqlalchemy AsyncEngine of the config store
    sessionmaker: Any  # async_sessionmaker[AsyncSession] of the config store
    publisher: Any = None  # producers.publisher.EventPublisher: where request events go
    bus: Any = None  # the in-process bus (embedded mode only; the same object as publisher)
    warehouse: Any = None  # warehouse.client.Warehouse: ClickHouse facade for stats routes
    gateway: Any = None  # ASGI app serving `/v1/...`
    gateway_component: Any = None  # producers.gateway.app.GatewayComponent (its live snapshot)
    gateway_hooks: Any = None  # producers.policy hooks the gateway runs per request
    policy_decisions: Any = None  # producers.policy.decisions.DecisionSubscriber
    metering: Any = None  # consumers.kafka_runner.MeteringConsumer (embedded `up`)
    policy_consumer: Any = None  # consumers.policy_runner.PolicyConsumer (embedded `up`)
    on_store_change: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    ready: bool = False
    _started: list[Component] = field(default_factory=list)

    def add(self, component: Component) -> Component:
        """Register a component; it starts after the ones added before it."""
        self.components.append(component)
        return component

    async def start(self) -> None:
        """Start components in order (each may block until ready)."""
        for comp in self.components:
            t0 = time.perf_counter()
            await comp.start()
            self._started.append(comp)
            metrics.COMPONENT_START_SECONDS.labels(comp.name).set(time.perf_counter() - t0)
            log.info("started %s", comp.name)
        self.ready = True
        metrics.READY.set(1)

    async def stop(self) -> None:
        """Stop started components in reverse order; a failing (or cancelled) stop never skips the rest."""
        self.ready = False
        metrics.READY.set(0)
        cancelled = False
        while self._started:
            comp = self._started.pop()
            try:
                await comp.stop()
            except asyncio.CancelledError:  # a part's own cancelled task: the rest still stop
                cancelled = True
                log.error("stopping %s was cancelled", comp.name)
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                log.error("stopping %s failed: %s", comp.name, self.redact(f"{type(exc).__name__}: {exc}"))
        await self.engine.dispose()
        if cancelled:
            raise asyncio.CancelledError

    async def store_changed(self) -> None:
        """Called by the API after a committed config change: parts in this process act on it now."""
        for fn in self.on_store_change:
            await fn()

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
