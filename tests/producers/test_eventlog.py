"""The local event log and the embedded bus over it (no services: SQLite in tmp_path)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import metrics
from eventlog.bus import LOG_FILE, EventLogBus
from eventlog.store import EventLog, LogFull
from producers.publisher.base import EventPublisher
from schemas import topics
from schemas.events import Decision, RequestEvent

REPO = Path(__file__).resolve().parents[2]


def _event(i: int, key: str = "k") -> RequestEvent:
    return RequestEvent(
        gateway_id="gw",
        request_id=f"r{i}",
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id=key,
        tokens_in=i,
        tokens_out=1,
    )


def test_offsets_grow_across_trim_and_reopen(tmp_path: Path) -> None:
    lg = EventLog(tmp_path / "l.db")
    offs = [lg.append("t", b"k", f"v{i}".encode()) for i in range(10)]
    assert offs == sorted(offs) and len(set(offs)) == 10
    assert [r.value for r in lg.read("t", offs[3], 3)] == [b"v3", b"v4", b"v5"]
    lg.commit("t", "reader", offs[-1] + 1)
    assert lg.trim("t", lg.min_cursor("t")) == 10
    assert lg.read("t", 0, 100) == [] and lg.bytes == 0
    lg.close()
    lg = EventLog(tmp_path / "l.db")
    nxt = lg.append("t", None, b"after")
    assert nxt > offs[-1], "an offset is never handed out twice"
    assert lg.cursor("t", "reader") == offs[-1] + 1
    lg.close()


def test_full_log_refuses_then_accepts_after_trim(tmp_path: Path) -> None:
    lg = EventLog(tmp_path / "l.db", max_bytes=2_000)
    stored = 0
    with pytest.raises(LogFull):
        for _ in range(100):
            lg.append("t", b"k", b"x" * 100)
            stored += 1
    assert 5 < stored < 20
    lg.commit("t", "r", lg.state("t").next)
    lg.trim("t", lg.min_cursor("t"))
    lg.append("t", b"k", b"x" * 100)
    lg.close()


def test_compacted_topic_keeps_the_newest_record_per_key(tmp_path: Path) -> None:
    lg = EventLog(tmp_path / "l.db")
    for i in range(6):
        lg.append("d", f"s{i % 2}".encode(), f"{i}".encode())
    lg.trim("d", lg.state("d").next, compact=True)
    assert sorted(r.value for r in lg.read("d", 0, 100)) == [b"4", b"5"]
    lg.close()


_CHILD = r"""
import asyncio, os, sys
from pathlib import Path
from eventlog.bus import EventLogBus
from schemas.events import RequestEvent

async def main():
    bus = EventLogBus(Path(sys.argv[1]))
    await bus.start()
    for i in range(500):
        ev = RequestEvent(gateway_id="gw", request_id=f"r{i}", org_id="o", workspace_id="w", repo_id="r",
                          repo_ai_api_key_id="k")
        assert bus.emit("tollgate.requests.v1", "k", ev)
    print("emitted", flush=True)
    os.kill(os.getpid(), 9)

asyncio.run(main())
"""


@pytest.mark.integration
def test_emitted_events_survive_sigkill(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -9 and "emitted" in proc.stdout, proc.stderr[-2000:]
    lg = EventLog(tmp_path / LOG_FILE)
    got = [json.loads(r.value)["requestId"] for r in lg.read(topics.REQUESTS, 0, 10_000)]
    lg.close()
    assert got == [f"r{i}" for i in range(500)]


async def test_bus_delivers_in_order_retries_and_resumes(tmp_path: Path) -> None:
    seen: list[int] = []
    fail = {"left": 2}

    async def handler(records) -> None:
        if fail["left"]:
            fail["left"] -= 1
            raise RuntimeError("insert failed")
        seen.extend(json.loads(r.value)["tokensIn"] for r in records)

    bus = EventLogBus(tmp_path, retry_backoff_s=(0.01, 0.02))
    assert isinstance(bus, EventPublisher)
    bus.subscribe(topics.REQUESTS, handler, name="meter", max_batch=50, max_wait_ms=5)
    await bus.start()
    try:
        for i in range(300):
            assert bus.emit(topics.REQUESTS, "k", _event(i))
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert seen == list(range(300)), "every record once, in order, after the retried failures"

    again: list[int] = []

    async def handler2(records) -> None:
        again.extend(json.loads(r.value)["tokensIn"] for r in records)

    bus = EventLogBus(tmp_path)
    bus.subscribe(topics.REQUESTS, handler2, name="meter")
    await bus.start()
    try:
        assert bus.emit(topics.REQUESTS, "k", _event(300))
        assert await bus.drain(10)
    finally:
        await bus.stop()
    assert again == [300], "a restart resumes after the committed cursor"


async def test_unsubscribed_topics_are_trimmed_and_full_log_refuses(tmp_path: Path) -> None:
    bus = EventLogBus(tmp_path, max_bytes=50_000, trim_interval_s=0.05)
    await bus.start()
    before = metrics.PUBLISHER_DROPPED.labels("log_full")._value.get()
    try:
        assert bus.emit(topics.PROMPTS, None, _event(0))
        for _ in range(200):
            if bus.log.read(topics.PROMPTS, 0, 10) == []:
                break
            await asyncio.sleep(0.02)
        assert bus.log.read(topics.PROMPTS, 0, 10) == [], "a topic nobody reads does not pile up"
        bus.subscribe(topics.REQUESTS, _never, name="stuck")  # a reader that never commits
        await asyncio.sleep(0.05)
        results = [bus.emit(topics.REQUESTS, "k", _event(i)) for i in range(500)]
        assert results[0] and not results[-1]
        assert not bus.accepting
        assert metrics.PUBLISHER_DROPPED.labels("log_full")._value.get() - before == results.count(False)
    finally:
        bus.drain_timeout_s = 0.2
        await bus.stop()


async def _never(records) -> None:
    raise RuntimeError("never done")


async def test_decisions_reader_sees_the_newest_decision_per_subject(tmp_path: Path) -> None:
    got: list[tuple[str, bool]] = []

    async def on(records) -> None:
        got.extend((r.key.decode(), Decision.from_wire(r.value).blocked) for r in records)

    bus = EventLogBus(tmp_path, trim_interval_s=0.05)
    await bus.start()
    try:
        for i in range(4):
            d = Decision(subject="s", policy_id="p", blocked=i % 2 == 0)
            bus.emit(topics.DECISIONS, "s", d)
        await asyncio.sleep(0.3)  # trimmed: nobody reads yet, the newest stays
        bus.subscribe(topics.DECISIONS, on, name="late", durable=False, max_wait_ms=0)
        assert await bus.drain(5)
    finally:
        await bus.stop()
    assert got == [("s", False)]
