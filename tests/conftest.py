"""Shared fixtures for the whole suite (real app over real HTTP; SQLite and PostgreSQL).

Backends
- ``db_backend`` (session, params ``sqlite`` / ``postgres``): anything depending on it runs
  once per backend. ``postgres`` needs ``TOLLGATE_TEST_POSTGRES_URL`` (``scripts/postgres.sh
  start`` prints it; ``make test`` sets it); missing -> skip, or FAIL when ``CI=true``.
  Every PostgreSQL app/store gets a fresh database, dropped at session end.
- ``db_url`` (function): an empty, unmigrated config-store URL on the current backend
  (a temp SQLite file or a fresh PostgreSQL database) for store-level tests.

Live app (uvicorn + uvloop + httptools in a background thread, temp data dir)
- ``live_app`` (session, per backend) -> ``tests.support.live.LiveApp`` running ``tollgate up``
  with the first OWNER ``live_app.admin_email`` / ``admin_password``. Attributes: ``url``,
  ``settings``, ``runtime`` (slots/components), ``call(async_fn)`` runs ``await async_fn(runtime)``
  on the server loop. Shared by all tests of a backend: use unique names (``unique()``).
- ``live_app_factory`` (function) -> ``make(backend="sqlite"|"postgres", kind="up"|"api"|"gateway",
  configure=[fn(runtime)], prepare=[fn(runtime)], **settings_overrides) -> LiveApp``: a private
  server, e.g. ``make(kafka_bootstrap=kafka_bootstrap, configure=[lambda rt: rt.add(comp)])``;
  stopped after the test. ``prepare`` runs before the standard wiring, ``configure`` after.
  Embedded ClickHouse: chdb allows one engine path per process, so all in-process live apps
  share one engine dir, each with its own database (``live.clickhouse_database``); pass
  ``clickhouse_url=`` for a server or ``shared_clickhouse=False`` to opt out.
- ``client`` (function) -> ``httpx.Client`` on ``live_app.url``; ``aclient`` the async twin.
  Every response body goes through the secret scan.
- ``admin_token`` / ``admin_headers`` (session, per backend): the org OWNER's access token /
  ``{"Authorization": "Bearer ..."}``.
- ``make_user`` (function) -> ``make_user(org_role="USER", workspaces={ws_id: "READ"|"WRITE"|"ADMIN"},
  new_org=False) -> TestUser`` (``id, email, password, org_id, org_role, token, headers``);
  ``new_org=True`` gives an outsider in another org.
- ``make_workspace`` (function) -> ``make_workspace(headers=None, name=None) -> {id, name, orgId}``
  (default: created by the OWNER).

Secret scan: ``from tests.support.secrets import register_secret``; register every provider
secret / repo key secret you create. Log records (root handler at DEBUG) and response bodies of
the clients above are scanned; ``tests/test_secret_scan.py`` runs last and fails on any hit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import postgres as pg
from tests.support.api import TestUser, UserFactory, bearer, create_workspace, login, unique  # noqa: F401
from tests.support.live import LiveApp, scanning_async_client, scanning_client, start_live_app
from tests.support.secrets import REGISTRY, install_log_capture, register_secret

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.upstream",
    "tests.support.lanes",
    "tests.support.containers",
]  # kafka_bootstrap, private_kafka, kafka_topic; fake_upstream, upstream

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
SECRET_SCAN_NODE = "test_secret_scan.py"


# ---- session hooks -----------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    level = getattr(logging, os.environ.get("TOLLGATE_TEST_LOG_LEVEL", "DEBUG").upper(), logging.DEBUG)
    install_log_capture(level)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # repeats every SQL call; noise only


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """The secret scan must see everything: move its tests to the very end."""
    scan = [i for i in items if i.nodeid.split("::")[0].endswith(SECRET_SCAN_NODE)]
    if scan:
        rest = [i for i in items if i not in scan]
        items[:] = rest + scan


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Backstop: fail the run on leaked secrets even if test_secret_scan.py was not selected."""
    base = os.environ.get(pg.ENV)
    if base:
        pg.drop_created(base)
    if REGISTRY.leaks() and session.exitstatus == 0:
        print("\nSECRET SCAN: registered secrets leaked:\n" + REGISTRY.report())
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---- backends ------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        pg.base_url_or_skip()
    return request.param


def _database_url(backend: str, data_dir: Path, label: str) -> str | None:
    """None = the default SQLite file in the data dir."""
    if backend == "sqlite":
        return None
    return pg.create_database(pg.base_url_or_skip(), label)


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path) -> str:
    """An empty config store URL (async SQLAlchemy form) on the current backend."""
    if db_backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    return pg.create_database(pg.base_url_or_skip(), "store").replace("postgresql://", "postgresql+asyncpg://", 1)


# ---- live app ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_app(db_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    data_dir = tmp_path_factory.mktemp(f"live-{db_backend}")
    register_secret("owner-password-1")
    with start_live_app(data_dir, _database_url(db_backend, data_dir, "live")) as live:
        yield live


@pytest.fixture
def live_app_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveApp]]:
    stack: list[Any] = []

    def make(backend: str = "sqlite", kind: str = "up", configure: Any = (), **overrides: Any) -> LiveApp:
        data_dir = tmp_path_factory.mktemp(f"live-{kind}-{backend}")
        database_url = overrides.pop("database_url", None) or _database_url(backend, data_dir, kind)
        cm = start_live_app(data_dir, database_url, kind=kind, configure=configure, **overrides)
        live = cm.__enter__()
        stack.append(cm)
        return live

    yield make
    while stack:
        stack.pop().__exit__(None, None, None)


@pytest.fixture
def client(live_app: LiveApp) -> Iterator[Any]:
    with scanning_client(live_app.url) as c:
        yield c


@pytest.fixture
async def aclient(live_app: LiveApp) -> Any:
    async with scanning_async_client(live_app.url) as c:
        yield c


@pytest.fixture(scope="session")
def admin_token(live_app: LiveApp) -> str:
    with scanning_client(live_app.url) as c:
        return login(c, live_app.admin_email, live_app.admin_password)["token"]


@pytest.fixture(scope="session")
def admin_headers(admin_token: str) -> dict[str, str]:
    return bearer(admin_token)


@pytest.fixture
def make_user(live_app: LiveApp, client: Any, admin_headers: dict[str, str]) -> UserFactory:
    return UserFactory(live_app, client, admin_headers)


@pytest.fixture
def make_workspace(client: Any, admin_headers: dict[str, str]) -> Callable[..., dict]:
    def make(headers: dict[str, str] | None = None, name: str | None = None) -> dict:
        return create_workspace(client, headers or admin_headers, name)

    return make
