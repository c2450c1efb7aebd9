"""A live gateway for tests: uvicorn in a background thread serving `GatewayApp` on 127.0.0.1.

The store (SQLite in a temp dir) is seeded straight through `store.models` (sealed secrets,
hashed keys), so the gateway tests do not depend on the management API. `LiveGateway.run(coro)`
runs a coroutine on the server's loop (store edits with the gateway's own sessionmaker).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import delete, update

from core.settings import Settings
from producers.gateway.app import GatewayApp, GatewayComponent
from store import apikeys
from store.db import make_engine, make_sessionmaker
from store.epoch import bump_epoch
from store.models import AiLlm, Base, Org, Repo, RepoAiLlm, RepoApiKey, Workspace, new_id
from store.sealing import seal
from tests.support.secrets import register_secret


class RecordingPublisher:
    """EventPublisher test double: keeps (topic, key, event) in memory (thread-safe append)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | None, Any]] = []
        self.accepting = True  # False: as a full event log (the gateway answers 503)
        self.refuse = False  # True: emit() reports the event as not stored

    def emit(self, topic: str, key: str | None, event: Any) -> bool:
        if self.refuse:
            return False
        self.items.append((topic, key, event))
        return True

    def events_for(self, request_id: str) -> list[Any]:
        return [e for _, _, e in self.items if e.request_id == request_id]

    def wait_for(self, request_id: str, timeout: float = 5.0) -> list[Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.events_for(request_id)
            if got:
                time.sleep(0.05)  # a duplicate would arrive right after
                return self.events_for(request_id)
            time.sleep(0.01)
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Rt:
    """The slice of core.runtime.Runtime the gateway component reads."""

    settings: Settings
    sessionmaker: Any
    publisher: Any
    gateway_hooks: Any = None
    gateway_component: Any = None
    on_store_change: list = field(default_factory=list)
    components: list = field(default_factory=list)

    def add(self, c: Any) -> Any:
        self.components.append(c)
        return c


class _Lifespan:
    def __init__(self, app: GatewayApp, on_start, on_stop) -> None:
        self.app, self.on_start, self.on_stop = app, on_start, on_stop

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await self.on_start()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await self.on_stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


class LiveGateway:
    def __init__(
        self, data_dir: Path, publisher: Any = None, transport_kind: str = "aiohttp", **settings_kw: Any
    ) -> None:
        self.port = free_port()
        settings_kw.setdefault("allow_private_endpoints", "127.0.0.0/8")  # fakeupstream on loopback
        self.settings = Settings(
            data_dir=data_dir,
            port=self.port,
            snapshot_poll_s=0.1,
            gateway_id="gw-test",
            secret_key=None,
            **settings_kw,
        )
        self.engine = make_engine(self.settings.sqlalchemy_url)
        self.sm = make_sessionmaker(self.engine)
        self.publisher = publisher if publisher is not None else RecordingPublisher()
        self.rt = _Rt(self.settings, self.sm, self.publisher)
        self.component = GatewayComponent(self.rt, transport_kind)
        self.app = _Lifespan(GatewayApp(self.component), self._start, self._stop)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.seed_fn = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def gateway(self):
        return self.component.gateway

    async def _start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        if self.seed_fn is not None:
            await self.seed_fn(self)
        await self.component.start()

    async def _stop(self) -> None:
        await self.component.stop()
        await self.engine.dispose()

    def start(self, seed_fn=None) -> LiveGateway:
        self.seed_fn = seed_fn
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._server.serve())

        self._thread = threading.Thread(target=run, daemon=True, name="live-gateway")
        self._thread.start()
        end = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > end or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def run(self, coro: Coroutine, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # ---------------------------------------------------------------- store edits
    async def add_org_ws(self) -> tuple[str, str]:
        async with self.sm() as s, s.begin():
            org = Org(name="org")
            s.add(org)
            await s.flush()
            ws = Workspace(org_id=org.id, name=f"ws-{new_id()[:8]}")
            s.add(ws)
            await bump_epoch(s)
        return org.id, ws.id

    async def add_config(
        self,
        org_id: str,
        ws_id: str,
        name: str,
        ai_type: str,
        endpoint: str,
        secret: str | None,
        key: str | None = None,
        region: str | None = None,
    ) -> str:
        cid = new_id()
        for value in (secret, key if ai_type == "AWS" else None):
            if value:
                register_secret(value)
        k = self.settings.secret_key_bytes
        async with self.sm() as s, s.begin():
            s.add(
                AiLlm(
                    id=cid,
                    org_id=org_id,
                    workspace_id=ws_id,
                    name=name,
                    ai_type=ai_type,
                    endpoint=endpoint,
                    region=region,
                    key_sealed=seal(k, key, cid) if key else None,
                    secret_sealed=seal(k, secret, cid) if secret else None,
                )
            )
            await bump_epoch(s)
        return cid

    async def add_repo(self, org_id: str, ws_id: str, name: str, config_ids: list[str]) -> str:
        rid = new_id()
        async with self.sm() as s, s.begin():
            s.add(Repo(id=rid, org_id=org_id, workspace_id=ws_id, name=name))
            await s.flush()
            for i, c in enumerate(config_ids):
                s.add(RepoAiLlm(repo_id=rid, ai_llm_id=c, position=i))
            await bump_epoch(s)
        return rid

    async def add_key(self, repo_id: str, name: str = "k") -> tuple[str, str]:
        prefix, secret = apikeys.generate()
        register_secret(secret)
        kid = new_id()
        async with self.sm() as s, s.begin():
            s.add(
                RepoApiKey(
                    id=kid, repo_id=repo_id, name=name, key_prefix=prefix, secret_hash=apikeys.hash_secret(secret)
                )
            )
            await bump_epoch(s)
        return kid, secret

    async def delete_key(self, key_id: str) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(RepoApiKey).where(RepoApiKey.id == key_id).values(deleted_at=datetime.now(UTC)))
            await bump_epoch(s)

    async def set_repo_disabled(self, repo_id: str, disabled: bool) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(Repo).where(Repo.id == repo_id).values(disabled=disabled))
            await bump_epoch(s)

    async def delete_repo(self, repo_id: str) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(delete(RepoApiKey).where(RepoApiKey.repo_id == repo_id))
            await s.execute(delete(RepoAiLlm).where(RepoAiLlm.repo_id == repo_id))
            await s.execute(delete(Repo).where(Repo.id == repo_id))
            await bump_epoch(s)

    async def key_last_used(self, key_id: str):
        async with self.sm() as s:
            row = await s.get(RepoApiKey, key_id)
            return row.last_used_at
