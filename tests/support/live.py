"""Run the real Tollgate app under uvicorn (uvloop + httptools) in a background thread.

    from tests.support.live import start_live_app
    with start_live_app(tmp_path, database_url=None, configure=[my_hook], env={...}) as live:
        live.url          # "http://127.0.0.1:PORT"
        live.runtime      # core.runtime.Runtime of that server (slots, components)
        live.settings     # its Settings
        live.call(coro_fn)  # run `await coro_fn(runtime)` on the server's loop, return result

`configure` callbacks run after the standard wiring (see tollgate.runtime): use them to add
components or replace slots (`rt.publisher = ...`, `rt.add(component)`); `prepare` callbacks
run before it. `kind` picks the process: "up" (default), "api" or "gateway". Start-up
failures raise at once with the reason.

ClickHouse: the embedded engine (chdb) admits ONE engine path per process, so every in-process
live app shares one engine directory (`shared_clickhouse_dir()`: the one already open in this
process, else a per-session temp dir) and gets its own database in it (`live.clickhouse_database`).
Pass `clickhouse_url=...` to use a server instead, or `shared_clickhouse=False` to opt out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from tests.support.secrets import capture_text

TEST_SECRET_KEY = "dG9sbGdhdGUtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE="  # base64 of 32 bytes, tests only


_SESSION_CH_DIR: Path | None = None


def shared_clickhouse_dir() -> Path:
    """The data dir whose chdb engine this process uses (opened already, or a session temp dir)."""
    global _SESSION_CH_DIR
    from warehouse.client import open_embedded_data_dir

    opened = open_embedded_data_dir()
    if opened is not None:
        return opened
    if _SESSION_CH_DIR is None:
        import atexit
        import shutil
        import tempfile

        _SESSION_CH_DIR = Path(tempfile.mkdtemp(prefix="tollgate-test-chdb-"))
        atexit.register(shutil.rmtree, _SESSION_CH_DIR, True)
    return _SESSION_CH_DIR


def _shared_warehouse(database: str) -> Callable[[Any], None]:
    """A `prepare` step: the live app's warehouse uses the shared engine, in its own database."""

    def prepare(rt: Any) -> None:
        if rt.settings.clickhouse_url:
            return
        from warehouse.client import Warehouse

        ch_settings = rt.settings.model_copy(update={"data_dir": shared_clickhouse_dir()})
        rt.warehouse = rt.add(Warehouse(ch_settings, database=database))

    return prepare


@dataclass
class LiveApp:
    url: str
    settings: Settings
    runtime: Any
    admin_email: str
    admin_password: str
    clickhouse_database: str | None
    _server: Any
    _thread: threading.Thread
    _loop: asyncio.AbstractEventLoop | None = None

    def call(self, fn: Callable[[Any], Awaitable[Any]], timeout: float = 30.0) -> Any:
        """Run `await fn(runtime)` on the server's event loop (blocks the caller; thread-safe)."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(fn(self.runtime), self._loop)
        return fut.result(timeout)

    def stop(self, timeout: float = 20.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def live_settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a test server: temp data dir, fixed test keys, a known admin."""
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        jwt_secret="test-jwt-secret-for-the-suite-only",
        admin_email="owner@tollgate.test",
        admin_password="owner-password-1",
        host="127.0.0.1",
        port=0,
        allow_private_endpoints="127.0.0.0/8",  # fakeupstream listens on loopback
    )
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def start_live_app(
    data_dir: Path,
    database_url: str | None = None,
    *,
    kind: str = "up",
    configure: Iterable[Callable[[Any], None]] = (),
    prepare: Iterable[Callable[[Any], None]] = (),
    shared_clickhouse: bool = True,
    start_timeout: float = 60.0,
    **settings_overrides: Any,
) -> Iterator[LiveApp]:
    """Start a server; yield a LiveApp once `/health` answers 200; stop it afterwards."""
    import uvicorn

    from tollgate import runtime as rtmod

    settings = live_settings(data_dir, database_url, **settings_overrides)
    builder = {"up": rtmod.build_up_app, "api": rtmod.build_api_app, "gateway": rtmod.build_gateway_app}[kind]
    prepare = list(prepare)
    ch_db: str | None = None
    if shared_clickhouse and not settings.clickhouse_url and kind != "gateway":
        import uuid

        ch_db = f"tg_{uuid.uuid4().hex[:12]}"
        prepare.insert(0, _shared_warehouse(ch_db))
    app = builder(settings, configure=list(configure), prepare=prepare)
    sock = _free_socket()
    port = sock.getsockname()[1]
    from tollgate.http_guard import uvicorn_options

    config = uvicorn.Config(
        app,
        loop="uvloop",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    holder: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            holder["loop"] = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        try:
            with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
                runner.run(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced to the starter below
            holder["error"] = exc

    thread = threading.Thread(target=run, name=f"tollgate-live-{port}", daemon=True)
    thread.start()
    live = LiveApp(
        url=f"http://127.0.0.1:{port}",
        settings=settings,
        runtime=app.runtime,
        admin_email=settings.admin_email or "",
        admin_password=settings.admin_password or "",
        clickhouse_database=ch_db,
        _server=server,
        _thread=thread,
    )
    deadline = time.monotonic() + start_timeout
    try:
        while True:
            if not thread.is_alive() or "error" in holder:
                raise RuntimeError(f"live app failed to start: {holder.get('error')!r} (see log)")
            try:
                if httpx.get(live.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("live app did not become healthy in time")
            time.sleep(0.05)
        live._loop = holder["loop"]
        yield live
    finally:
        live.stop()
        sock.close()


# ---- HTTP clients whose response bodies go through the secret scan -------------------------


def _scan_response(response: httpx.Response) -> None:
    response.read()
    capture_text(response.content, f"HTTP {response.request.method} {response.request.url.path}")


async def _ascan_response(response: httpx.Response) -> None:
    await response.aread()
    capture_text(response.content, f"HTTP {response.request.method} {response.request.url.path}")


def scanning_client(base_url: str, **kw: Any) -> httpx.Client:
    """Sync httpx client; every response body is handed to the secret scan."""
    kw.setdefault("timeout", 30)
    return httpx.Client(base_url=base_url, event_hooks={"response": [_scan_response]}, **kw)


def scanning_async_client(base_url: str, **kw: Any) -> httpx.AsyncClient:
    kw.setdefault("timeout", 30)
    return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [_ascan_response]}, **kw)
