"""Pytest plugin: a real Kafka broker for tests (started with scripts/kafka.sh).

Fixtures
- ``kafka_bootstrap`` (session) -> ``"127.0.0.1:PORT"``. Uses ``TOLLGATE_TEST_KAFKA_BOOTSTRAP``
  when set (scripts/test.sh starts one broker for the whole suite); otherwise starts a broker
  for this session, so a plain ``pytest tests/x`` works. Never stop this broker in a test.
- ``private_kafka`` (function) -> :class:`KafkaBrokerHandle`: always a fresh broker of the
  test's own, for outage tests (``stop()`` / ``start()`` keep ports and data). Removed after.
- ``kafka_topic`` (function) -> async ``make(partitions=3, *, bootstrap=None, configs=None,
  prefix="t") -> str``: creates a uniquely named topic (default on ``kafka_bootstrap``) and
  waits until every partition has a leader.

Helpers: :func:`create_topics` (aiokafka admin; idempotent), :func:`wait_for_leaders`.
Blocking calls (the script) are offered as ``astart()/astop()`` for async tests so they do not
stall the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"
ENV_BOOTSTRAP = "TOLLGATE_TEST_KAFKA_BOOTSTRAP"


class KafkaBrokerHandle:
    """One broker process run by scripts/kafka.sh in its own directory.

    ``stop()`` keeps ports and data so ``start()`` brings the same broker back (outage tests);
    ``destroy()`` stops it and removes everything. All methods block (seconds).
    """

    def __init__(self, run_dir: Path, partitions: int = 3, watch_pid: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.partitions = partitions
        self.watch_pid = os.getpid() if watch_pid is None else watch_pid
        self.bootstrap: str | None = None
        self._owned_dir = False

    @classmethod
    def fresh(cls, partitions: int = 3) -> KafkaBrokerHandle:
        """A handle on a new temp directory (not started)."""
        handle = cls(Path(tempfile.mkdtemp(prefix="tollgate-kafka-")), partitions)
        handle._owned_dir = True
        return handle

    def _run(self, *args: str, timeout: float = 240.0) -> str:
        proc = subprocess.run(
            ["bash", str(SCRIPT), *args, "--dir", str(self.run_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scripts/kafka.sh {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc.stdout

    def start(self) -> str:
        """Start (or restart on the same ports and data); returns the bootstrap address."""
        out = self._run("start", "--partitions", str(self.partitions), "--watch-pid", str(self.watch_pid))
        for line in out.splitlines():
            if line.startswith("KAFKA_BOOTSTRAP="):
                bootstrap = line.split("=", 1)[1].strip()
                if self.bootstrap is not None and bootstrap != self.bootstrap:
                    raise RuntimeError(f"broker came back on {bootstrap}, was {self.bootstrap}")
                self.bootstrap = bootstrap
                return bootstrap
        raise RuntimeError(f"scripts/kafka.sh start printed no KAFKA_BOOTSTRAP: {out!r}")

    def stop(self, hard: bool = False) -> None:
        """Stop the process, keeping ports and data; ``hard`` = SIGKILL (a crash)."""
        self._run("stop", "--keep-data", *(["--hard"] if hard else []), timeout=60)

    def destroy(self) -> None:
        """Stop and remove the broker's data (and its temp dir if we made it)."""
        try:
            self._run("stop", timeout=60)
        finally:
            if self._owned_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "status", "--dir", str(self.run_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.returncode == 0

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self, hard: bool = False) -> None:
        await asyncio.to_thread(self.stop, hard)


async def create_topics(
    bootstrap: str,
    names: list[str] | tuple[str, ...],
    partitions: int = 3,
    configs: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create topics (existing ones are left alone) and wait until all partitions have leaders."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(n, partitions, 1, topic_configs=dict(configs or {})) for n in names],
            timeout_ms=15000,
        )
        for err in resp.topic_errors:
            name, code = err[0], err[1]
            if code not in (0, 36):  # 36 = TOPIC_ALREADY_EXISTS
                raise RuntimeError(f"create topic {name} failed with error code {code}")
        await wait_for_leaders(admin, list(names), timeout_s)
    finally:
        await admin.close()


async def wait_for_leaders(admin, names: list[str], timeout_s: float = 30.0) -> None:
    """Poll metadata until every partition of ``names`` has a leader (bounded by time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            t.get("error_code", 0) == 0 and t["partitions"] and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leaders after {timeout_s}s")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The suite's shared broker (env) or one started for this session."""
    env = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if env:
        yield env
        return
    handle = KafkaBrokerHandle.fresh()
    try:
        yield handle.start()
    finally:
        handle.destroy()


@pytest.fixture
def private_kafka() -> Iterator[KafkaBrokerHandle]:
    """A fresh broker of the test's own (outage tests may stop/start it)."""
    handle = KafkaBrokerHandle.fresh()
    try:
        handle.start()
        yield handle
    finally:
        handle.destroy()


@pytest.fixture
async def kafka_topic(request) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Factory for uniquely named topics; defaults to the shared ``kafka_bootstrap`` broker."""

    async def make(
        partitions: int = 3,
        *,
        bootstrap: str | None = None,
        configs: dict[str, str] | None = None,
        prefix: str = "t",
    ) -> str:
        target = bootstrap or request.getfixturevalue("kafka_bootstrap")
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        await create_topics(target, [name], partitions, configs)
        return name

    yield make
