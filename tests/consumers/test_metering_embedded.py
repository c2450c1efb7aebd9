"""Embedded metering path (no Kafka): in-process bus -> MeteringConsumer -> embedded ClickHouse.

The bus redelivers from its durable cursor after a crash, so a batch that reached ClickHouse
but whose cursor was not yet committed comes back in a new process, possibly in a different
batch shape. These tests "crash" between the insert and the cursor commit (and between the
ingest-log intent and the insert), restart with a fresh bus + consumer on the same data dir,
and require exact totals: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from consumers.kafka_runner import MeteringConsumer
from consumers.metering import predecode, reference_rows
from eventlog.bus import EventLogBus
from schemas import topics
from schemas.events import RequestEvent
from schemas.records import Record
from tests.warehouse.support import ch_settings, warehouse  # noqa: F401

pytestmark = pytest.mark.clickhouse


class CrashingWarehouse:
    """Wraps a Warehouse. After `crash_after` successful request inserts, every call raises:
    `mode="after_insert"` lets the insert land first, `mode="before_insert"` fails it (the
    ingest-log intent was already written)."""

    def __init__(self, inner, crash_after: int, mode: str):
        self.inner, self.crash_after, self.mode = inner, crash_after, mode
        self.inserted = 0
        self.crashed = 0
        self.landed = 0  # rows that reached ClickHouse (a replayed slice lands once)
        self.crash_rows = 0

    async def insert_requests(self, rows, dedup_token):
        if self.inserted >= self.crash_after:
            if self.mode == "after_insert":
                await self.inner.insert_requests(rows, dedup_token)
            if not self.crashed:
                self.crash_rows = len(rows)
                self.landed += len(rows) if self.mode == "after_insert" else 0
            self.crashed += 1
            raise ConnectionError("simulated crash")
        await self.inner.insert_requests(rows, dedup_token)
        self.inserted += 1
        self.landed += len(rows)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _events(ws: str, llm: str, n: int, start: int = 0) -> list[RequestEvent]:
    return [
        RequestEvent(
            gateway_id="gw",
            request_id=f"r{i}",
            org_id="o",
            workspace_id=ws,
            repo_id="r",
            repo_ai_api_key_id=f"k{i % 3}",
            ai_llm_id=llm,
            model="m",
            tokens_in=i % 5 + 1,
            tokens_out=2,
        )
        for i in range(start, start + n)
    ]


async def _totals(wh, ws: str, llm: str) -> tuple[int, int]:
    t = (await wh.llm_stats([ws], [llm], None, None)).get(llm, {})
    raw = await wh.query("SELECT count(), uniqExact(event_id) FROM requests WHERE workspace_id = {w:String}", {"w": ws})
    assert raw[0][0] == raw[0][1] == t.get("api_calls", 0), "raw rows, distinct events and rollup disagree"
    return t.get("api_calls", 0), t.get("tokens_in", 0)


async def _run(data_dir: Path, wh, events: list[RequestEvent], *, settle: bool, emit_gap: int = 0) -> None:
    """One 'process': bus + metering consumer on `data_dir`; emit, then stop (1 s drain)."""
    bus = EventLogBus(data_dir, drain_timeout_s=1.0, retry_backoff_s=(0.01, 0.05))
    comp = MeteringConsumer(ch_settings(), wh, bus=bus)
    assert comp.handler.exactly_once, "the embedded bus has durable offsets: the ingest log must be used"
    await comp.start()
    await bus.start()
    try:
        for i, e in enumerate(events):
            bus.emit(topics.REQUESTS, e.repo_ai_api_key_id, e)
            if emit_gap and i % emit_gap == emit_gap - 1:
                await asyncio.sleep(0.08)  # let the bus cut a batch here
        if settle:
            assert await bus.drain(30)
        else:
            for _ in range(300):
                if getattr(wh, "crashed", 0):
                    break
                await asyncio.sleep(0.02)
    finally:
        await comp.stop()  # stops retrying: the failing batch stays uncommitted on the bus
        await bus.stop()


@pytest.mark.parametrize("mode", ["after_insert", "before_insert"])
async def test_crash_between_insert_and_cursor_commit_counts_once_after_restart(
    tmp_path: Path, warehouse, mode: str
) -> None:  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    first, second = _events(ws, llm, 120), _events(ws, llm, 80, start=120)
    crashing = CrashingWarehouse(warehouse, crash_after=1, mode=mode)
    # process 1: small batches (a pause every 40 events); the 2nd batch crashes
    await _run(tmp_path, crashing, first, settle=False, emit_gap=40)
    assert crashing.inserted == 1 and crashing.crashed >= 1 and crashing.crash_rows > 0
    counted, _ = await _totals(warehouse, ws, llm)
    assert counted == crashing.landed < 120 + (crashing.crash_rows if mode == "after_insert" else 0)
    # process 2: same data dir, fresh handler; batches re-formed (everything at once)
    await _run(tmp_path, warehouse, second, settle=True)
    want = (200, sum(e.tokens_in for e in first + second))
    assert await _totals(warehouse, ws, llm) == want
    # process 3: nothing new; a restart must not replay anything
    await _run(tmp_path, warehouse, [], settle=True)
    assert await _totals(warehouse, ws, llm) == want


async def test_predecode_matches_the_reference_path_and_keeps_validation() -> None:
    good = _events("w", "l", 5)
    recs = [Record(topics.REQUESTS, 0, i, None, e.to_wire(), 0) for i, e in enumerate(good)]
    recs.append(Record(topics.REQUESTS, 0, 5, None, b'{"eventId": "x", "occurredAt": "2024-01-01T00:00:00"}', 0))
    recs.append(Record(topics.REQUESTS, 0, 6, None, b"not json", 0))
    decoded = await predecode(list(reversed(recs)), chunk=2)
    d = decoded[(topics.REQUESTS, 0)]
    assert (d.first, d.last, d.count) == (0, 6, 7)
    reqs, viols, dead = reference_rows(recs)
    assert d.requests.rows() == [tuple(r) for r in reqs] and len(reqs) == 5 and viols == []
    assert [(x.offset, x.reason, x.payload) for x in d.dead] == [(x.offset, x.reason, x.payload) for x in dead]
    assert [x.offset for x in d.dead] == [5, 6] and all(x.reason.startswith("invalid event") for x in d.dead)
