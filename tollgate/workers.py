"""`tollgate gateway --workers N`: N gateway processes on one port, each with its own runtime.

The parent migrates the config store once, reserves the port (a bound, never-listening
SO_REUSEPORT socket, so port 0 resolves once and nobody else takes it), then starts N spawned
workers. Each worker binds its own SO_REUSEPORT listening socket on that port (the kernel
spreads connections over them; a shared accept queue leaves one worker with most of them) and
runs a full gateway runtime: its own config snapshot, upstream pool, policy hooks and event log.

Event publishing stays exactly-once per worker: worker 0 keeps the usual log (data dir or
``TOLLGATE_EVENTLOG_DIR``), worker k > 0 its own log in ``<that dir>/workers/<k>`` with its
own shipper (no SQLite write lock shared between processes, whose busy wait would stall an
event loop). Request events name their worker: ``TOLLGATE_GATEWAY_ID`` gets ``-w<k>``
appended (unset: hostname-pid, already distinct), so each worker's budget ledger tells its
own usage from the others' in the decisions feed.

The parent forwards SIGINT/SIGTERM to the workers and waits for their graceful stop; a worker
that dies is restarted (its log is shipped by its successor); a worker that cannot start stops
them all. Blocks.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import socket
import time
from collections.abc import Iterable
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Any

from core.settings import Settings

log = logging.getLogger("tollgate.workers")

STARTUP_FAILED = 3  # a worker's exit code when its server did not start (runtime.serve)
STOP_TIMEOUT_S = 30.0
RESTARTS_PER_MINUTE = 5


def worker_settings(settings: Settings, index: int, port: int) -> Settings:
    """The settings of worker ``index``: the resolved port, its own event log and gateway id."""
    update: dict[str, Any] = {"port": port, "workers": 1}
    if index > 0:
        update["eventlog_dir"] = Path(settings.eventlog_dir or settings.data_dir) / "workers" / str(index)
    if settings.gateway_id:
        update["gateway_id"] = f"{settings.gateway_id}-w{index}"
    return settings.model_copy(update=update)


def reuseport_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound with SO_REUSEADDR + SO_REUSEPORT (listening when ``listen``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
        sock.set_inheritable(True)
    return sock


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGTERM this process when its parent dies (Linux), so a killed parent
    leaves no worker serving its port."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(settings: Settings, index: int, port: int, log_level: str, parent: int, up: Any = None) -> None:
    """One worker process (spawned): build the gateway app and serve it on a reuseport socket.
    ``up``: (main socket path, main log path) of `tollgate up --workers` (see tollgate.upworkers)."""
    from tollgate.cli import _setup_logging
    from tollgate.runtime import build_gateway_app, serve

    die_with_parent(parent)
    _setup_logging(log_level)
    ws = worker_settings(settings, index, port)
    if up is None:
        app = build_gateway_app(ws)
    else:
        from tollgate.upworkers import build_up_worker_app

        app = build_up_worker_app(ws, index, *up)
    socks = [reuseport_socket(ws.host, port, listen=True)]
    if up is not None:  # the main process scrapes this worker's /metrics here
        from tollgate.upmetrics import worker_socket
        from tollgate.upworkers import unix_listener

        socks.append(unix_listener(worker_socket(up[0], index)))
    serve(app, ws, log_level=log_level.lower(), sockets=socks)


class Pool:
    """Spawns, restarts (within RESTARTS_PER_MINUTE) and stops the worker processes."""

    def __init__(self, settings: Settings, indexes: Iterable[int], log_level: str = "info", up: Any = None) -> None:
        self.settings, self.indexes, self.log_level, self.up = settings, list(indexes), log_level, up
        self.ctx = mp.get_context("spawn")
        self.procs: dict[int, Any] = {}
        self.stopping = False
        self.failed = False
        self.port = settings.port
        self.restarts: list[float] = []
        self.reserve: socket.socket | None = None

    def reserve_port(self) -> None:
        """Hold the port (bound, never listening), so port 0 resolves once."""
        self.reserve = reuseport_socket(self.settings.host, self.settings.port, listen=False)
        self.port = self.reserve.getsockname()[1]

    def _spawn(self, index: int) -> None:
        p = self.ctx.Process(
            target=_worker_main,
            name=f"tollgate-gateway-w{index}",
            args=(self.settings, index, self.port, self.log_level, os.getpid(), self.up),
        )
        p.start()
        self.procs[index] = p

    def on_exit(self, i: int) -> bool:
        """Worker ``i`` exited: restart it (True), or decide that the pool fails (False)."""
        code = self.procs[i].exitcode
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 60.0] + [now]
        if code == STARTUP_FAILED or len(self.restarts) > RESTARTS_PER_MINUTE:
            log.error("gateway worker %d could not start or keeps exiting (exit %s); stopping", i, code)
            self.failed = self.stopping = True
            return False
        log.warning("gateway worker %d exited (%s); restarting it", i, code)
        self._spawn(i)
        return True

    def stop_all(self) -> None:
        """SIGTERM every worker (uvicorn's graceful stop, then the runtime's), SIGKILL after
        STOP_TIMEOUT_S. Blocks."""
        self.stopping = True
        for p in self.procs.values():
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p in self.procs.values():
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        if self.reserve is not None:
            self.reserve.close()
            self.reserve = None


class Supervisor(Pool):
    """`tollgate gateway --workers N`: the pool in the foreground (see the module docstring)."""

    def __init__(self, settings: Settings, n: int, log_level: str = "info") -> None:
        super().__init__(settings, range(n), log_level)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stopping = True

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; returns the exit code. Blocks."""
        self.reserve_port()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for i in self.indexes:
                self._spawn(i)
            while not self.stopping:
                by_sentinel = {p.sentinel: i for i, p in self.procs.items()}
                for s in wait_any(list(by_sentinel), timeout=0.5):
                    if self.stopping or not self.on_exit(by_sentinel[s]):  # type: ignore[index]
                        break
        finally:
            self.stop_all()
            for s, h in old.items():
                signal.signal(s, h)
        return 1 if self.failed else 0


def serve_workers(settings: Settings, n: int, log_level: str = "INFO") -> int:
    """Migrate the config store, then run ``n`` gateway workers until stopped. Blocks."""
    import asyncio

    from store.migrate import upgrade

    asyncio.run(upgrade(settings))  # once, before the workers race to do it
    return Supervisor(settings, n, log_level).run()
