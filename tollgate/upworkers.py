"""`tollgate up --workers N` (TOLLGATE_WORKERS): N gateway worker processes on the public port,
one main process for everything else.

Design (every URL keeps working on the one public port):

- The main process runs the usual `up` runtime (config store, embedded ClickHouse engine,
  metering + policy consumers, management API, stats, dashboard), but listens only on a
  private Unix socket (owner-only, ``<data dir>/main.sock``, or a private temp dir when that
  path is too long for a socket). It reads every worker's event log (``eventlog.logreader.
  WorkerLogs``) and supervises the workers (``WorkerPool``: spawned, restarted when they die,
  stopped first on shutdown). The embedded engine admits one process, so only it opens chdb.
- Each worker binds the public port with SO_REUSEPORT (``tollgate.workers``' machinery) and
  serves ``/v1`` itself: its own config snapshot, upstream pool and policy hooks, appending to
  its own log (``<eventlog dir>/workers/<k>``). Every other path (management, stats, dashboard,
  ``/health``) is forwarded over the Unix socket to the main process (``MainProxy``), so
  logins, throttling, stats and the dashboard behave as with one process. The main process
  trusts the caller address the worker forwards (only workers reach it). ``/metrics`` is
  answered by the main process for all of them (``tollgate.upmetrics``).
- Decisions (budgets, rate limits) are published by the policy consumer into the main log;
  every worker tails that log (``MainLogTail``), as a `gateway` tails the Kafka topic.

With TOLLGATE_KAFKA_BOOTSTRAP set the workers ship their logs to Kafka (as `gateway --workers`
does) and read decisions from it; only the forwarding of non-`/v1` paths stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from core.settings import Settings
from eventlog.logreader import LOG_FILE
from tollgate.workers import Pool

log = logging.getLogger("tollgate.workers")

CLIENT_HEADER = b"x-tollgate-client"
HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
MAX_SOCKET_PATH = 100


def eventlog_base(settings: Settings) -> Path:
    return Path(settings.eventlog_dir or settings.data_dir)


def main_socket_path(settings: Settings) -> Path:
    """Where the main process listens (owner-only), short enough for a Unix socket."""
    p = Path(settings.data_dir) / "main.sock"
    if len(os.fsencode(p)) <= MAX_SOCKET_PATH:
        return p
    return Path(tempfile.mkdtemp(prefix="tollgate-")) / "main.sock"  # 0700


def unix_listener(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(2048)
    return sock


# ---- main process ------------------------------------------------------------------------


class WorkerPool(Pool):
    """Component of the main process: spawns workers 1..N after everything else started,
    restarts one that dies, stops them first (their logs are then read to the end)."""

    name = "gateway-workers"

    def __init__(self, settings: Settings, n: int, log_level: str, main_socket: Path) -> None:
        super().__init__(settings, range(1, n + 1), log_level, up=(str(main_socket), str(main_log_path(settings))))
        self._watch: asyncio.Task | None = None

    async def start(self) -> None:
        self.stopping = False
        if self.reserve is None:
            self.reserve_port()
        for i in self.indexes:
            self._spawn(i)
        self._watch = asyncio.create_task(self._watch_loop(), name="gateway-workers")

    async def _watch_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(0.1)
            for i, p in list(self.procs.items()):
                if p.exitcode is not None and not self.stopping and not self.on_exit(i):
                    import signal

                    os.kill(os.getpid(), signal.SIGTERM)  # the main process stops too (exit 1)
                    return

    async def stop(self) -> None:
        self.stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(BaseException):
                await self._watch
        await asyncio.to_thread(self.stop_all)


def main_log_path(settings: Settings) -> Path:
    return eventlog_base(settings) / LOG_FILE


class MainFront:
    """ASGI of the main process: takes the caller address a worker forwarded, and answers
    `/metrics` for every process (``tollgate.upmetrics``)."""

    def __init__(self, app: Any, main_socket: Path, workers: list[int]) -> None:
        self.app, self.main_socket, self.workers = app, main_socket, workers

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope.get("path") == "/metrics" and scope.get("method") == "GET":
                from tollgate.upmetrics import all_metrics, send_metrics

                await send_metrics(send, await all_metrics(self.main_socket, self.workers))
                return
            for k, v in scope.get("headers", ()):
                if k == CLIENT_HEADER:
                    scope = dict(scope, client=(v.decode("latin-1"), 0))
                    break
        await self.app(scope, receive, send)


def serve_up(settings: Settings, n: int, log_level: str = "INFO") -> int:
    """`tollgate up --workers n`: the main process on its Unix socket, n workers on the port."""
    from tollgate.runtime import build_up_app, serve

    settings = settings.model_copy(update={"workers": n})
    sock_path = main_socket_path(settings)
    listener = unix_listener(sock_path)
    pool = WorkerPool(settings, n, log_level, sock_path)
    pool.reserve_port()  # fail now (port taken) rather than in every worker
    app = build_up_app(settings, configure=[lambda rt: rt.add(pool)])
    try:
        serve(MainFront(app, sock_path, pool.indexes), settings, log_level=log_level.lower(), sockets=[listener])
    finally:
        if pool.reserve is not None:
            pool.reserve.close()
        with contextlib.suppress(OSError):
            sock_path.unlink()
    return 1 if pool.failed else 0


# ---- worker process ----------------------------------------------------------------------


class MainProxy:
    """ASGI app + component of a worker: forwards a request to the main process's Unix socket
    and streams the answer back (503 in the contract's shape while the main process is away)."""

    name = "main-proxy"

    def __init__(self, socket_path: str, timeout_s: float = 120.0) -> None:
        self.socket_path, self.timeout_s = socket_path, timeout_s
        self.client: Any = None

    async def start(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.socket_path),
            base_url="http://tollgate-main",
            timeout=httpx.Timeout(self.timeout_s, connect=5.0),
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        import httpx

        from tollgate.middleware import error_body, send_json

        scope["tollgate.route"] = "<main process>"  # the route label of /metrics
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
            return
        parts = []
        while True:  # the body limit was checked already (BodyLimitMiddleware)
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            parts.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                break
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in HOP and k not in (CLIENT_HEADER, b"content-length", b"expect")
        ]
        client = scope.get("client")
        headers.append((CLIENT_HEADER, (client[0] if client else "unknown").encode("latin-1")))
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        try:
            req = self.client.build_request(
                scope["method"], target.decode("latin-1"), headers=headers, content=b"".join(parts)
            )
            resp = await self.client.send(req, stream=True)
        except httpx.HTTPError:
            path = scope.get("path", "")
            await send_json(send, 503, error_body(path, 503, "The management process is not available; retry"))
            return
        try:
            out = [(k.lower(), v) for k, v in resp.headers.raw if k.lower() not in HOP]
            await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
            async for chunk in resp.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError:
            return  # the main process went away mid-answer: the connection is closed unfinished
        finally:
            await resp.aclose()


def build_up_worker_app(settings: Settings, index: int, main_socket: str, main_log: str) -> Any:
    """Worker ``index`` of `tollgate up --workers`: `/v1` here, everything else forwarded."""
    from eventlog.logreader import MainLogTail
    from tollgate.middleware import GatewayDispatch, wrap_process_app
    from tollgate.runtime import build_runtime, wire_events, wire_gateway, wire_policies
    from tollgate.upmetrics import ProcessMetrics

    rt = build_runtime(settings, "gateway")
    wire_events(rt)
    wire_policies(rt)
    wire_gateway(rt)
    if rt.bus is not None:  # embedded: decisions from the main log; trimmed as the main read
        tail = MainLogTail(main_log, index)
        rt.add(tail)
        rt.publisher.trim_bound = tail.trim_bound
        if rt.policy_decisions is not None:
            rt.policy_decisions.bus = tail
    proxy = rt.add(MainProxy(main_socket, settings.upstream_timeout_s))
    return wrap_process_app(GatewayDispatch(ProcessMetrics(proxy), rt.gateway), rt)
