"""Two lanes: the whole suite (`make test`) and a unit lane (`make test-unit`, no Kafka,
ClickHouse, PostgreSQL or child processes, under a minute).

A test is `integration` when it is marked so (or `kafka` / `clickhouse` / `postgres`), or when
it uses a fixture that opens a real service. The unit lane (``TOLLGATE_TEST_LANE=unit``) runs
only the others and enforces it: importing the ClickHouse engine, connecting to PostgreSQL or
starting a child process fails the test with a message telling its author to mark it.
"""

from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys

import pytest

UNIT = os.environ.get("TOLLGATE_TEST_LANE") == "unit"
SERVICE_MARKS = ("integration", "kafka", "clickhouse", "postgres")
SERVICE_FIXTURES = frozenset(
    {
        "kafka_bootstrap",
        "private_kafka",
        "kafka_topic",
        "db_backend",
        "db_url",
        "live_app",
        "live_app_factory",
        "client",
        "aclient",
        "admin_token",
        "admin_headers",
        "make_user",
        "make_workspace",
        "tollgate_up",
        "warehouse",
    }
)
_HINT = "the unit lane opens no services: mark this test `@pytest.mark.integration`"


class _NoEngine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001 - importlib's protocol
        if name == "chdb" or name.startswith("chdb."):
            raise ImportError(f"chdb: {_HINT}")
        return None


def _refuse(what: str):
    def refused(*args, **kwargs):  # noqa: ANN002, ANN003
        pytest.fail(f"{what}: {_HINT}", pytrace=False)

    return refused


_POPEN_INIT = subprocess.Popen.__init__
_HARMLESS = frozenset({"uname"})  # platform.processor() asks it (the OpenAI SDK's headers)


def _guarded_popen(self, args, *rest, **kwargs):  # noqa: ANN001, ANN002, ANN003
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    program = os.path.basename(os.fsdecode(argv[0]).split()[0]) if argv else ""
    if program not in _HARMLESS:
        pytest.fail(f"a child process ({program}): {_HINT}", pytrace=False)
    _POPEN_INIT(self, args, *rest, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: opens a real service or a child process")
    if UNIT:
        sys.meta_path.insert(0, _NoEngine())
        subprocess.Popen.__init__ = _guarded_popen  # type: ignore[method-assign]
        try:
            import asyncpg

            asyncpg.connect = _refuse("PostgreSQL")  # type: ignore[assignment]
        except ImportError:
            pass


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    keep, drop = [], []
    for item in items:
        needs = any(item.get_closest_marker(m) for m in SERVICE_MARKS) or (
            SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        )
        if needs and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
        (drop if needs else keep).append(item)
    if UNIT:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
