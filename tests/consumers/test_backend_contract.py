"""One contract for the metering consumer on both of its backends.

The same `MeteringConsumer` reads from a real Kafka broker (distributed mode) or from the local
event log (embedded mode). Each case below runs against both and demands the same outcome:
exact totals, malformed records as dead letters, and no loss or double count when a process
dies between the ClickHouse insert and the commit of its position (the next process reads the
batch again, possibly cut differently).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from consumers.kafka_runner import MeteringConsumer
from eventlog.bus import EventLogBus
from schemas import topics
from schemas.events import DeadLetter, RequestEvent
from schemas.records import Record
from tests.support.kafka import create_topics
from tests.warehouse.support import ch_settings, warehouse  # noqa: F401

pytestmark = pytest.mark.clickhouse
BACKENDS = [pytest.param("kafka", marks=pytest.mark.kafka), pytest.param("eventlog")]
MALFORMED = b'{"this is": "not an event"}'


def _event(ws: str, llm: str, i: int) -> bytes:
    return RequestEvent(
        gateway_id="gw",
        request_id=f"r{i}",
        org_id="o",
        workspace_id=ws,
        repo_id="r",
        repo_ai_api_key_id=f"k{i % 5}",
        ai_llm_id=llm,
        model="m",
        tokens_in=i % 7 + 1,
        tokens_out=2,
    ).to_wire()


class Session:
    """One consumer process on a backend: `publish` raw values to the requests topic."""

    def __init__(self, publish: Any, comp: MeteringConsumer) -> None:
        self._publish = publish
        self.comp = comp

    async def publish(self, values: list[bytes]) -> None:
        await self._publish(values)


class KafkaBackend:
    """Topics on the real broker; a session is a consumer in one group, stopped on exit."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.req_topic, self.dlq_topic = (f"contract.{uuid.uuid4().hex[:12]}" for _ in range(2))
        self.group = f"contract-{uuid.uuid4().hex[:8]}"
        self.created = False

    @contextlib.asynccontextmanager
    async def session(self, wh: Any) -> AsyncIterator[Session]:
        if not self.created:
            await create_topics(self.bootstrap, [self.req_topic], 3, None)
            await create_topics(self.bootstrap, [self.dlq_topic], 1, None)
            self.created = True
        settings = ch_settings().model_copy(update={"kafka_bootstrap": self.bootstrap})
        comp = MeteringConsumer(
            settings,
            wh,
            topic_kinds={self.req_topic: "requests"},
            dlq_topic=self.dlq_topic,
            group_id=self.group,
            fetch_max_wait_ms=50,
            retry_budget_s=5.0,
        )
        prod = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await prod.start()

        async def publish(values: list[bytes]) -> None:
            for i, v in enumerate(values):
                await prod.send(self.req_topic, v, key=f"k{i % 5}".encode())
            await prod.flush()

        await comp.start()
        try:
            yield Session(publish, comp)
        finally:
            await comp.stop()
            await prod.stop()

    async def dead_letters(self, want: int) -> list[DeadLetter]:
        dlq = AIOKafkaConsumer(self.dlq_topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest")
        await dlq.start()
        got: list[DeadLetter] = []
        deadline = time.monotonic() + 20
        try:
            while len(got) < want and time.monotonic() < deadline:
                batch = await dlq.getmany(timeout_ms=500)
                got += [DeadLetter.from_wire(m.value) for ms in batch.values() for m in ms]
        finally:
            await dlq.stop()
        return got


class EventLogBackend:
    """The local event log in a data dir; a session is the bus plus the consumer on it."""

    req_topic = topics.REQUESTS
    dlq_topic = topics.DLQ

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.letters: list[DeadLetter] = []

    @contextlib.asynccontextmanager
    async def session(self, wh: Any) -> AsyncIterator[Session]:
        bus = EventLogBus(self.data_dir, drain_timeout_s=1.0, retry_backoff_s=(0.01, 0.05))
        comp = MeteringConsumer(ch_settings(), wh, bus=bus, dlq_topic=self.dlq_topic)

        async def collect(records: list[Record]) -> None:
            self.letters += [DeadLetter.from_wire(r.value) for r in records]

        async def publish(values: list[bytes]) -> None:
            for i, v in enumerate(values):
                assert bus.publish(self.req_topic, v, key=f"k{i % 5}".encode())

        bus.subscribe(self.dlq_topic, collect)
        await comp.start()
        await bus.start()
        try:
            yield Session(publish, comp)
        finally:
            await comp.stop()
            await bus.stop()

    async def dead_letters(self, want: int) -> list[DeadLetter]:
        deadline = time.monotonic() + 20
        while len(self.letters) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return list(self.letters)


class CrashingWarehouse:
    """Lets the first request insert land, then raises: a process that dies after its insert
    and before the commit of its position."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.landed = 0
        self.crashed = 0

    async def insert_requests(self, rows: Any, dedup_token: Any) -> None:
        if not self.landed:
            await self.inner.insert_requests(rows, dedup_token)
            self.landed = len(rows)
        self.crashed += 1
        raise ConnectionError("simulated crash after the insert")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "eventlog":
        return EventLogBackend(tmp_path)
    return KafkaBackend(request.getfixturevalue("kafka_bootstrap"))


async def _counts(wh: Any, ws: str, llm: str) -> tuple[int, int]:
    """(calls, tokens_in) from the rollup, once raw rows = distinct events = rollup calls (the
    three are read one after another, so an insert in between is waited out)."""
    deadline = time.monotonic() + 10
    while True:
        raw = await wh.query(
            "SELECT count(), uniqExact(event_id) FROM requests WHERE workspace_id = {w:String}", {"w": ws}
        )
        t = (await wh.llm_stats([ws], [llm], None, None)).get(llm, {})
        if raw[0][0] == raw[0][1] == t.get("api_calls", 0):
            return t.get("api_calls", 0), t.get("tokens_in", 0)
        assert time.monotonic() < deadline, f"raw rows {raw[0][0]}, distinct events {raw[0][1]}, rollup {t}"
        await asyncio.sleep(0.1)


async def _until(wh: Any, ws: str, llm: str, calls: int, timeout_s: float = 60) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = await _counts(wh, ws, llm)
        if got[0] >= calls or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


def _tokens(n: int) -> int:
    return sum(i % 7 + 1 for i in range(n))


@pytest.mark.parametrize("n", [1500])
async def test_exact_totals_and_malformed_records_become_dead_letters(backend, warehouse, n: int) -> None:  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    values = [_event(ws, llm, i) for i in range(n)]
    values.insert(n // 2, MALFORMED)
    async with backend.session(warehouse) as s:
        await s.publish(values)
        assert await _until(warehouse, ws, llm, n) == (n, _tokens(n))
        letters = await backend.dead_letters(1)
        # one more event after the malformed one: it is counted, and nothing else shows up
        await s.publish([_event(ws, llm, n)])
        assert await _until(warehouse, ws, llm, n + 1) == (n + 1, _tokens(n + 1))
    assert len(letters) == 1 and letters[0].topic == backend.req_topic and "invalid event" in letters[0].reason


async def test_death_between_insert_and_commit_counts_once_after_restart(backend, warehouse) -> None:  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    first = [_event(ws, llm, i) for i in range(300)]
    crashing = CrashingWarehouse(warehouse)
    async with backend.session(crashing) as s:
        await s.publish(first)
        deadline = time.monotonic() + 60
        while not crashing.crashed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert crashing.crashed and 0 < crashing.landed <= 300
    assert (await _counts(warehouse, ws, llm))[0] == crashing.landed  # landed, not committed

    # the next process reads the uncommitted batch again (cut its own way) and 100 new events
    second = [_event(ws, llm, i) for i in range(300, 400)]
    async with backend.session(warehouse) as s:
        await s.publish(second)
        assert await _until(warehouse, ws, llm, 400) == (400, _tokens(400))

    # a third process with one new event: nothing earlier is read again
    async with backend.session(warehouse) as s:
        await s.publish([_event(ws, llm, 400)])
        assert await _until(warehouse, ws, llm, 401) == (401, _tokens(401))
