"""Test support for the config/repository/key API tests.

`env` (module fixture, once per backend through `live_app`): the real app over real
HTTP, with one user per role made through the API — `owner` (org OWNER), `orgadmin`
(ADMINISTRATORS), `admin`/`writer`/`reader` (ADMIN/WRITE/READ in `ws`), `outsider` (same org,
no membership) and `stranger` (OWNER of another org). `ws2` is a second workspace only the
org-wide users see. Every secret goes to the suite-wide secret registry; in addition the client fails
the request at once when a registered secret shows up in an answer (`SecretLeak`). The one
answer that must carry a secret (creating a repository API key) goes through `env.raw`, which
is not scanned; the secret is registered right after, so any later appearance is a hit.
`provider` (module fixture): the fake upstream (`fakeupstream.FakeUpstream`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fakeupstream import FakeUpstream
from store.epoch import current_epoch
from tests.support.api import UserFactory, bearer, create_workspace
from tests.support.live import LiveApp, scanning_async_client, scanning_client
from tests.support.secrets import REGISTRY, register_secret


class SecretLeak(AssertionError):
    pass


@dataclass
class Who:
    user_id: str
    headers: dict[str, str]

    @property
    def h(self) -> dict[str, str]:
        return self.headers


@dataclass
class ApiEnv:
    live: LiveApp
    client: httpx.AsyncClient
    raw: httpx.AsyncClient | None = None  # NOT scanned: only for answers that carry a new secret
    org_id: str = ""
    ws: str = ""  # the role users below are members here
    ws2: str = ""  # a second workspace of the same org; only org-wide users see it
    users: dict[str, Who] = field(default_factory=dict)
    canaries: set[str] = field(default_factory=set)  # local-only markers (see the guard test)

    @property
    def settings(self):
        return self.live.settings

    def secret(self, value: str) -> str:
        """Register a secret: it must never show up in an answer, a log record or an event."""
        register_secret(value)
        return value

    def __getattr__(self, name: str) -> Who:  # env.owner, env.writer, ...
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)

    async def db(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run `await fn(session)` on the server's loop and config store; returns its result."""

        async def run(rt: Any) -> Any:
            async with rt.sessionmaker() as session:
                return await fn(session)

        return await asyncio.to_thread(self.live.call, run)

    async def epoch(self) -> int:
        return await self.db(current_epoch)


def _check_no_secret(env: ApiEnv, resp: httpx.Response) -> None:
    body = resp.content.decode(errors="replace")
    for s in list(REGISTRY.secrets) + list(env.canaries):
        if s and s in body:
            raise SecretLeak(
                f"a registered secret appeared in the answer to {resp.request.method} {resp.request.url.path}"
            )


def build_env(live: LiveApp, admin_headers: dict[str, str]) -> ApiEnv:
    """Users and workspaces through the real API (blocks: sync HTTP to the live server)."""
    with scanning_client(live.url) as c:
        me = c.get("/user/me", headers=admin_headers)
        assert me.status_code == 200, me.text
        owner = me.json()["user"]
        ws = create_workspace(c, admin_headers)["id"]
        ws2 = create_workspace(c, admin_headers)["id"]
        make = UserFactory(live, c, admin_headers)
        users = {
            "owner": Who(owner["id"], admin_headers),
            "orgadmin": make(org_role="ADMINISTRATORS"),
            "admin": make(workspaces={ws: "ADMIN"}),
            "writer": make(workspaces={ws: "WRITE"}),
            "reader": make(workspaces={ws: "READ"}),
            "outsider": make(),
            "stranger": make(org_role="OWNER", new_org=True),
        }
    users = {k: v if isinstance(v, Who) else Who(v.id, bearer(v.token)) for k, v in users.items()}
    return ApiEnv(live=live, client=None, org_id=owner["orgId"], ws=ws, ws2=ws2, users=users)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def env(live_app: LiveApp, admin_headers: dict[str, str]):
    e = await asyncio.to_thread(build_env, live_app, admin_headers)

    async def hook(resp: httpx.Response) -> None:
        await resp.aread()
        _check_no_secret(e, resp)

    async with (
        scanning_async_client(live_app.url) as client,
        httpx.AsyncClient(base_url=live_app.url, timeout=30) as raw,
    ):
        client.event_hooks["response"].append(hook)
        e.client, e.raw = client, raw
        yield e


@pytest.fixture(scope="module")
def provider():
    with FakeUpstream() as fake:
        for v in (fake.creds.openai_key, fake.creds.anthropic_key, fake.creds.google_key, fake.creds.aws_secret_key):
            register_secret(v)
        yield fake


# ---- network helpers for validation tests ---------------------------------------------------


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SilentServer:
    """Accepts TCP connections and never answers: the 'timeout' failure mode."""

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._conns: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentServer:
        async def on_conn(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self._conns.append(w)

        self.server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        for w in self._conns:
            w.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class HtmlServer:
    """Answers every request with 200 text/html: the 'not JSON' failure mode."""

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def __aenter__(self) -> HtmlServer:
        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
                body = b"<html><body>hello</body></html>"
                w.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\nconnection: close\r\n\r\n"
                    + body
                )
                await w.drain()
            finally:
                w.close()

        self.server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
