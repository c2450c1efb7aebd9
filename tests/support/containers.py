"""Services from containers when a Docker engine is reachable (testcontainers), else none.

`scripts/test.sh` asks `python -m tests.support.containers probe`; on success it skips the
local PostgreSQL and Kafka scripts and sets ``TOLLGATE_TEST_SERVICES=containers``, and this
plugin starts PostgreSQL, Apache Kafka (KRaft) and a ClickHouse server once per run, exporting
the same variables the local scripts give (``TOLLGATE_TEST_POSTGRES_URL``,
``TOLLGATE_TEST_KAFKA_BOOTSTRAP``) plus ``TOLLGATE_TEST_CLICKHOUSE_URL``, which adds a
ClickHouse-server variant to the warehouse tests. Starting blocks until every service answers.
"""

from __future__ import annotations

import os
import sys
from typing import Any

POSTGRES_IMAGE = "postgres:16-alpine"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.1"
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:24.8"
_RUNNING: list[Any] = []


def docker_reachable() -> bool:
    """Whether a Docker engine answers a ping within 3 s (never raises)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no SDK, no socket, no permission: all mean "no engine"
        return False


def _module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"testcontainers.community.{name}")
    except ImportError:
        return importlib.import_module(f"testcontainers.{name}")


def start_services() -> dict[str, str]:
    """Start the three containers; the variables the suite reads, by name."""
    pg = _module("postgres").PostgresContainer(POSTGRES_IMAGE, driver=None).start()
    _RUNNING.append(pg)
    kafka = _module("kafka").KafkaContainer(KAFKA_IMAGE).with_kraft().start()
    _RUNNING.append(kafka)
    ch = _module("clickhouse").ClickHouseContainer(CLICKHOUSE_IMAGE).start()
    _RUNNING.append(ch)
    ch_url = f"http://{ch.username}:{ch.password}@{ch.get_container_host_ip()}:{ch.get_exposed_port(8123)}/{ch.dbname}"
    return {
        "TOLLGATE_TEST_POSTGRES_URL": pg.get_connection_url(driver=None),
        "TOLLGATE_TEST_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
        "TOLLGATE_TEST_CLICKHOUSE_URL": ch_url,
    }


def pytest_configure(config: Any) -> None:
    if os.environ.get("TOLLGATE_TEST_SERVICES") == "containers" and not _RUNNING:
        os.environ.update(start_services())
        print("test services: containers (testcontainers)", file=sys.stderr)


def pytest_unconfigure(config: Any) -> None:
    while _RUNNING:
        try:
            _RUNNING.pop().stop()
        except Exception:  # noqa: BLE001 - the reaper removes what is left
            pass


if __name__ == "__main__":
    if sys.argv[1:] == ["probe"]:
        raise SystemExit(0 if docker_reachable() else 1)
    raise SystemExit("usage: python -m tests.support.containers probe")
