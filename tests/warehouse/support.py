"""Fixtures for tests that touch the embedded ClickHouse engine (import them into the module).

chdb admits one data directory per process, so the session shares one directory and every
test gets its own database in it (isolation without re-opening the engine).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from warehouse.client import Warehouse, open_embedded_data_dir

_DIR: Path | None = None


def ch_data_dir() -> Path:
    """The engine already open in this process (e.g. a live app's), else a session temp dir."""
    global _DIR
    live = open_embedded_data_dir()
    if live is not None:
        return live
    if _DIR is None:
        _DIR = Path(tempfile.mkdtemp(prefix="tollgate-ch-"))
    return _DIR


def ch_settings(**kw) -> Settings:
    return Settings(data_dir=ch_data_dir(), clickhouse_url=None, kafka_bootstrap=None, **kw)


def _engines() -> list[Any]:
    """The embedded engine always; a ClickHouse server too when the run has one (containers)."""
    engines = [pytest.param("embedded", id="embedded")]
    if os.environ.get("TOLLGATE_TEST_CLICKHOUSE_URL"):
        engines.append(pytest.param("server", id="clickhouse-server"))
    return engines


@pytest.fixture(params=_engines())
async def warehouse(request: pytest.FixtureRequest) -> AsyncIterator[Warehouse]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "server":
        settings = Settings(
            data_dir=ch_data_dir(), clickhouse_url=os.environ["TOLLGATE_TEST_CLICKHOUSE_URL"], kafka_bootstrap=None
        )
    else:
        settings = ch_settings()
    wh = Warehouse(settings, database=database)
    await wh.start()
    try:
        yield wh
    finally:
        if request.param == "server":
            await wh._run(wh.client.command, f"DROP DATABASE IF EXISTS `{database}`")
        await wh.stop()


class FlakyWarehouse:
    """Wraps a Warehouse; the next `fail_inserts` data inserts raise (ClickHouse outage)."""

    def __init__(self, inner: Warehouse, fail_inserts: int = 0):
        self.inner = inner
        self.fail_inserts = fail_inserts
        self.failures = 0

    def _maybe_fail(self) -> None:
        if self.fail_inserts > 0:
            self.fail_inserts -= 1
            self.failures += 1
            raise ConnectionError("injected ClickHouse failure")

    async def insert_requests(self, rows, dedup_token):
        self._maybe_fail()
        await self.inner.insert_requests(rows, dedup_token)

    async def insert_violations(self, rows, dedup_token):
        self._maybe_fail()
        await self.inner.insert_violations(rows, dedup_token)

    def __getattr__(self, name):
        return getattr(self.inner, name)
