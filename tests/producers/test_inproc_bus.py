"""In-process bus: delivery, batching, fan-out, retries, restart without loss."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from producers.publisher.base import EventPublisher
from producers.publisher.inproc import InProcessBus
from producers.publisher.spool import SpoolLockedError
from schemas.events import RequestEvent
from schemas.records import Record
from core import metrics

TOPIC = "tollgate.requests.v1"


def _event(key: str, i: int) -> RequestEvent:
    return RequestEvent(gateway_id="gw", request_id=f"{key}:{i}", org_id="o", workspace_id="w",
                        repo_id="r", repo_ai_api_key_id=key, tokens_in=i)


class Collector:
    def __init__(self) -> None:
        self.batches: list[list[Record]] = []

    async def __call__(self, records: list[Record]) -> None:
        self.batches.append(records)

    @property
    def records(self) -> list[Record]:
        return [r for b in self.batches for r in b]


async def test_delivers_everything_in_order_with_offsets(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    assert isinstance(bus, EventPublisher)
    got = Collector()
    bus.subscribe(TOPIC, got, max_batch=64, max_wait_ms=5, name="metering")
    await bus.start()
    try:
        sent = []
        for i in range(1000):
            ev = _event(f"k{i % 4}", i)
            bus.emit(TOPIC, ev.repo_ai_api_key_id, ev)
            sent.append(ev)
            if i % 100 == 0:
                await asyncio.sleep(0)
        assert await bus.drain(20)
    finally:
        await bus.stop()
    recs = got.records
    assert [r.offset for r in recs] == list(range(1000))
    assert {r.partition for r in recs} == {0} and {r.topic for r in recs} == {TOPIC}
    assert [RequestEvent.from_wire(r.value).event_id for r in recs] == [e.event_id for e in sent]
    assert [r.key for r in recs] == [e.repo_ai_api_key_id.encode() for e in sent]
    assert all(len(b) <= 64 for b in got.batches)
    assert all(r.timestamp_ms > 0 for r in recs)


async def test_batches_fill_up_to_max_batch_within_max_wait(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    got = Collector()
    bus.subscribe(TOPIC, got, max_batch=50, max_wait_ms=500, name="batcher")
    await bus.start()
    try:
        for i in range(120):
            bus.emit(TOPIC, "k", _event("k", i))
        await asyncio.sleep(0)
        assert await bus.drain(10)
    finally:
        await bus.stop()
    sizes = [len(b) for b in got.batches]
    assert sum(sizes) == 120
    assert sizes[:2] == [50, 50]    # full batches did not wait for max_wait


async def test_every_subscription_gets_every_record(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    a, b = Collector(), Collector()
    bus.subscribe(TOPIC, a, name="metering")
    bus.subscribe(TOPIC, b, name="policy")
    with pytest.raises(ValueError):
        bus.subscribe(TOPIC, b, name="policy")
    await bus.start()
    try:
        for i in range(200):
            bus.emit(TOPIC, "k", _event("k", i))
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert [r.offset for r in a.records] == list(range(200))
    assert [r.offset for r in b.records] == list(range(200))


async def test_failing_handler_is_retried_never_skipped(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path, retry_backoff_s=(0.01, 0.05))
    calls = {"n": 0}
    handled: list[int] = []

    async def flaky(records: list[Record]) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("warehouse unavailable")
        handled.extend(r.offset for r in records)

    errors_before = metrics.BUS_HANDLER_ERRORS.labels(TOPIC, "flaky")._value.get()
    bus.subscribe(TOPIC, flaky, max_batch=10, max_wait_ms=0, name="flaky")
    await bus.start()
    try:
        for i in range(35):
            bus.emit(TOPIC, "k", _event("k", i))
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert handled == list(range(35))
    assert metrics.BUS_HANDLER_ERRORS.labels(TOPIC, "flaky")._value.get() - errors_before == 3


async def test_restart_replays_unhandled_records_without_loss(tmp_path: Path) -> None:
    # Run 1: the handler handles 40 records, then its backend "dies" before 60 more are handled.
    bus = InProcessBus(tmp_path, drain_timeout_s=0.3, retry_backoff_s=(0.01, 0.05))
    handled_1: list[int] = []
    broken = asyncio.Event()

    async def first(records: list[Record]) -> None:
        if broken.is_set():
            raise ConnectionError("backend down")
        handled_1.extend(r.offset for r in records)

    bus.subscribe(TOPIC, first, max_batch=20, max_wait_ms=0, name="metering")
    await bus.start()
    for i in range(40):
        bus.emit(TOPIC, "k", _event("k", i))
    assert await bus.drain(10)
    broken.set()
    for i in range(40, 100):
        bus.emit(TOPIC, "k", _event("k", i))
    await asyncio.sleep(0.2)
    await bus.stop()
    assert handled_1 == list(range(40))

    # Run 2: a new bus on the same data dir delivers exactly what was not handled, then new ones.
    bus2 = InProcessBus(tmp_path)
    got = Collector()
    bus2.subscribe(TOPIC, got, max_batch=500, max_wait_ms=0, name="metering")
    await bus2.start()
    try:
        assert await bus2.drain(10)
        assert [r.offset for r in got.records] == list(range(40, 100))
        assert [RequestEvent.from_wire(r.value).request_id for r in got.records] == \
            [f"k:{i}" for i in range(40, 100)]
        bus2.emit(TOPIC, "k", _event("k", 100))
        assert await bus2.drain(10)
        assert got.records[-1].offset == 100      # offsets keep growing across restarts
    finally:
        await bus2.stop()


async def test_one_process_per_data_dir(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    bus.subscribe(TOPIC, Collector(), name="m")
    await bus.start()
    other = InProcessBus(tmp_path)
    other.subscribe(TOPIC, Collector(), name="m")
    try:
        with pytest.raises(SpoolLockedError):
            await other.start()
    finally:
        await bus.stop()


async def test_unrouted_and_stopped_emits_are_counted_not_raised(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    unrouted = metrics.BUS_UNROUTED.labels("nobody.listens")._value.get()
    stopped = metrics.PUBLISHER_DROPPED.labels("stopped")._value.get()
    await bus.start()
    bus.emit("nobody.listens", None, _event("k", 1))
    assert await bus.drain(5)
    await bus.stop()
    bus.emit(TOPIC, "k", _event("k", 2))            # after stop: counted, no exception
    assert metrics.BUS_UNROUTED.labels("nobody.listens")._value.get() - unrouted == 1
    assert metrics.PUBLISHER_DROPPED.labels("stopped")._value.get() - stopped == 1
    assert not (tmp_path / "bus" / "nobody.listens").exists()


async def test_subscribe_after_start_and_retention(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path, spool_kwargs={"segment_bytes": 4096})
    await bus.start()
    got = Collector()
    bus.subscribe(TOPIC, got, max_batch=100, max_wait_ms=0, name="late")
    await asyncio.sleep(0.05)
    try:
        for i in range(300):
            bus.emit(TOPIC, "k", _event("k", i))
        assert await bus.drain(10)
        assert len(got.records) == 300
        assert bus.lag(TOPIC) == 0
        # everything handled: consumed segments are gone
        log_dir = tmp_path / "bus" / TOPIC
        assert sum(p.stat().st_size for p in log_dir.glob("*.seg")) < 4096
    finally:
        await bus.stop()


_CRASHING_CHILD = r"""
import asyncio, os, sys
from producers.publisher.inproc import InProcessBus
from schemas.events import RequestEvent

async def main():
    bus = InProcessBus(sys.argv[1])
    handled = []
    async def handler(records):
        if len(handled) >= 40:
            await asyncio.sleep(3600)       # stuck mid-batch when the process dies
        handled.extend(r.offset for r in records)
    bus.subscribe("tollgate.requests.v1", handler, max_batch=20, max_wait_ms=0, name="metering")
    await bus.start()
    for i in range(100):
        bus.emit("tollgate.requests.v1", "k", RequestEvent(
            gateway_id="gw", request_id=f"k:{i}", org_id="o", workspace_id="w", repo_id="r",
            repo_ai_api_key_id="k"))
    for _ in range(500):
        if len(handled) >= 40 and bus.lag("tollgate.requests.v1") == 60 and not bus._queue:
            break
        await asyncio.sleep(0.01)
    print(len(handled), bus.lag("tollgate.requests.v1"), flush=True)
    os._exit(9)

asyncio.run(main())
"""


@pytest.mark.integration
async def test_crash_loses_nothing_that_was_stored(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _CRASHING_CHILD, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert proc.stdout.split() == ["40", "60"]
    bus = InProcessBus(tmp_path)
    got = Collector()
    bus.subscribe(TOPIC, got, max_batch=1000, max_wait_ms=0, name="metering")
    await bus.start()
    try:
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert [r.offset for r in got.records] == list(range(40, 100))


async def test_unsubscribe_catches_up_then_resumes_from_cursor(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path)
    first = Collector()
    sub = bus.subscribe(TOPIC, first, max_batch=10, max_wait_ms=0, name="metering")
    await bus.start()
    try:
        for i in range(25):
            bus.emit(TOPIC, "k", _event("k", i))
        await bus.unsubscribe(sub, drain_timeout_s=5)
        assert [r.offset for r in first.records] == list(range(25))
        for i in range(25, 30):
            bus.emit(TOPIC, "k", _event("k", i))     # no subscriber when written -> unrouted
        assert await bus.drain(5)
        second = Collector()
        bus.subscribe(TOPIC, second, max_batch=10, max_wait_ms=0, name="metering")
        bus.emit(TOPIC, "k", _event("k", 30))
        bus.publish(TOPIC, b'{"raw": true}', key=b"k")
        assert await bus.drain(10)
        assert [r.offset for r in second.records] == [25, 26]
        assert second.records[-1].value == b'{"raw": true}'
    finally:
        await bus.stop()


async def test_volatile_subscription_leaves_no_cursor_and_starts_where_asked(tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path, spool_kwargs={"segment_bytes": 4096})
    durable = Collector()
    bus.subscribe(TOPIC, durable, max_wait_ms=0, name="metering")
    await bus.start()
    for i in range(50):
        bus.emit(TOPIC, "k", _event("k", i))
    assert await bus.drain(5)
    await bus.stop()

    bus2 = InProcessBus(tmp_path, spool_kwargs={"segment_bytes": 4096})
    bus2.subscribe(TOPIC, Collector(), max_wait_ms=0, name="metering")
    from_end = Collector()
    bus2.subscribe(TOPIC, from_end, max_wait_ms=0, name="decisions-host-123", durable=False,
                   start="end")
    with pytest.raises(ValueError):
        bus2.subscribe(TOPIC, Collector(), name="x", start="middle")
    await bus2.start()
    try:
        for i in range(50, 60):
            bus2.emit(TOPIC, "k", _event("k", i))
        assert await bus2.drain(5)
        assert [r.offset for r in from_end.records] == list(range(50, 60))
    finally:
        await bus2.stop()
    cursors = sorted(p.name for p in (tmp_path / "bus" / TOPIC).glob("cursor-*"))
    assert cursors == ["cursor-metering"]


_SIGKILL_CHILD = r"""
import asyncio, os, signal, sys
from producers.publisher.inproc import InProcessBus
from schemas.events import RequestEvent

async def main():
    bus = InProcessBus(sys.argv[1], spool_kwargs={"segment_bytes": 4096})
    async def stuck(records):
        await asyncio.sleep(3600)           # "metering" never commits: holds retention
    async def noop(records):
        pass                                # "other" reads and commits concurrently
    bus.subscribe("tollgate.requests.v1", stuck, max_batch=10, max_wait_ms=0, name="metering")
    bus.subscribe("tollgate.requests.v1", noop, max_batch=7, max_wait_ms=0, name="other")
    await bus.start()
    n = int(sys.argv[2])
    for i in range(n):
        bus.emit("tollgate.requests.v1", "k", RequestEvent(
            gateway_id="gw", request_id=f"k:{i}", org_id="o", workspace_id="w", repo_id="r",
            repo_ai_api_key_id="k"))
        if i % 37 == 0:
            await asyncio.sleep(0)          # let the writer fsync and "other" read meanwhile
    os.kill(os.getpid(), signal.SIGKILL)    # right after the last emit returned

asyncio.run(main())
"""


@pytest.mark.integration
async def test_sigkill_right_after_emit_loses_nothing(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    n = 300
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _SIGKILL_CHILD, str(tmp_path), str(n)],
        capture_output=True, text=True, timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    segments = list((tmp_path / "bus" / TOPIC).glob("*.seg"))
    assert len(segments) > 3        # rotation happened while emitting
    bus = InProcessBus(tmp_path, spool_kwargs={"segment_bytes": 4096})
    got = Collector()
    bus.subscribe(TOPIC, got, max_batch=1000, max_wait_ms=0, name="metering")
    await bus.start()
    try:
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert [r.offset for r in got.records] == list(range(n))
    assert [RequestEvent.from_wire(r.value).request_id for r in got.records] == \
        [f"k:{i}" for i in range(n)]
