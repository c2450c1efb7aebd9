"""PostgreSQL for tests: a fresh database per request on the server named by
TOLLGATE_TEST_POSTGRES_URL (scripts/postgres.sh starts one), dropped at session end.

When `CI=true` and the variable is missing, PostgreSQL tests FAIL instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "TOLLGATE_TEST_POSTGRES_URL"
_SESSION_TAG = uuid.uuid4().hex[:8]
_created: list[str] = []


def base_url_or_skip() -> str:
    """The server URL; pytest.fail under CI, pytest.skip otherwise, when it is not set."""
    url = os.environ.get(ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{ENV} is not set but CI=true: PostgreSQL tests must run in CI")
    pytest.skip(f"{ENV} not set (run scripts/postgres.sh start, or make test)")


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _run(coro) -> object:
    """Run a coroutine to completion in a private thread (safe inside a running loop)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["v"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001
            box["e"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(60)
    if "e" in box:
        raise box["e"]  # type: ignore[misc]
    return box.get("v")


async def _exec(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=15)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(base_url: str, label: str = "db") -> str:
    """CREATE DATABASE tg_<session>_<label>_<n> and return its URL (blocks ~100 ms)."""
    safe = "".join(c for c in label.lower() if c.isalnum())[:20] or "db"
    name = f"tg_{_SESSION_TAG}_{safe}_{uuid.uuid4().hex[:6]}"
    _run(_exec(base_url, f'CREATE DATABASE "{name}"'))
    _created.append(name)
    return _with_db(base_url, name)


def drop_created(base_url: str) -> None:
    """Drop every database this session created (FORCE closes leftover connections)."""
    while _created:
        name = _created.pop()
        try:
            _run(_exec(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
