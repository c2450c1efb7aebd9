"""The local event log shipped to a real broker: delivery, order per key, outage, restart, crash."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from core import metrics
from eventlog.bus import EventLogBus
from producers.publisher.base import EventPublisher
from schemas.events import RequestEvent
from tests.support.kafka import create_topics

pytestmark = pytest.mark.kafka

DEAD_BOOTSTRAP = "127.0.0.1:1"  # nothing listens there


def _event(key: str, i: int) -> RequestEvent:
    return RequestEvent(
        gateway_id="gw-test",
        request_id=f"{key}:{i}",
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id=key,
        tokens_in=i,
        tokens_out=1,
    )


def _emit(pub: EventPublisher, topic: str, keys: list[str], start: int, n: int, sent: dict[str, list[str]]) -> None:
    for i in range(start, start + n):
        key = keys[i % len(keys)]
        ev = _event(key, i)
        pub.emit(topic, key, ev)
        sent[key].append(ev.event_id)


async def _consume(bootstrap: str, topic: str, expected_ids: set[str], timeout_s: float = 60.0):
    """All records until every expected eventId was seen (bounded by time)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
    )
    await consumer.start()
    records = []
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + timeout_s
        while not expected_ids <= seen and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp in sorted(batch, key=lambda tp: tp.partition):
                for m in batch[tp]:
                    ev = RequestEvent.from_wire(m.value)
                    records.append((m.partition, m.offset, m.key, ev))
                    seen.add(ev.event_id)
        # anything still in flight that should not be there (extra events)
        for msgs in (await consumer.getmany(timeout_ms=300)).values():
            for m in msgs:
                records.append((m.partition, m.offset, m.key, RequestEvent.from_wire(m.value)))
    finally:
        await consumer.stop()
    return records


def _check_delivery(records, sent: dict[str, list[str]], *, allow_duplicates: bool) -> None:
    """Exactly the emitted events, keyed right, in emit order per key (first occurrences)."""
    all_ids = {i for ids in sent.values() for i in ids}
    got_ids = [ev.event_id for *_, ev in records]
    assert set(got_ids) == all_ids
    if not allow_duplicates:
        where = defaultdict(list)
        for partition, offset, _key, ev in records:
            where[ev.event_id].append((partition, offset))
        twice = {i: w for i, w in where.items() if len(w) > 1}
        assert not twice, f"{len(twice)} event(s) read twice (partition, offset): {sorted(twice.values())[:50]}"
    per_key_first: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for partition, _offset, key, ev in sorted(records, key=lambda r: (r[0], r[1])):
        assert key == ev.repo_ai_api_key_id.encode()
        partitions[key].add(partition)
        if ev.event_id not in seen:
            seen.add(ev.event_id)
            per_key_first[ev.repo_ai_api_key_id].append(ev.event_id)
    assert all(len(p) == 1 for p in partitions.values()), "a key must stay on one partition"
    for key, ids in sent.items():
        assert per_key_first[key] == ids, f"order broken for key {key}"


def _pub(data_dir: Path, bootstrap: str, **kw) -> EventLogBus:
    return EventLogBus(
        data_dir,
        max_bytes=kw.pop("max_bytes", 50_000_000),
        kafka_bootstrap=bootstrap,
        shipper_kwargs=dict(connect_timeout_s=2.0, backoff_s=(0.1, 0.5)),
        **kw,
    )


async def test_publishes_all_events_keyed_and_in_order(kafka_bootstrap: str, kafka_topic, tmp_path: Path) -> None:
    topic = await kafka_topic(partitions=3)
    pub = _pub(tmp_path, kafka_bootstrap)
    assert isinstance(pub, EventPublisher)
    await pub.start()
    sent: dict[str, list[str]] = defaultdict(list)
    keys = [f"key-{k}" for k in range(7)]
    before = metrics.PUBLISHER_SENT.labels(topic)._value.get()
    try:
        _emit(pub, topic, keys, 0, 1000, sent)
        raw = _event("key-raw", 1000)
        assert pub.publish(topic, raw.to_wire(), key=b"key-raw")  # pre-encoded bytes path
        sent["key-raw"].append(raw.event_id)
        assert await pub.shipper.wait_shipped(30)
    finally:
        await pub.stop()
    assert metrics.PUBLISHER_SENT.labels(topic)._value.get() - before == 1001
    records = await _consume(kafka_bootstrap, topic, {i for v in sent.values() for i in v})
    _check_delivery(records, sent, allow_duplicates=False)


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
async def test_broker_outage_waits_in_the_log_and_ships_once(private_kafka, tmp_path: Path, hard: bool, caplog) -> None:
    bootstrap = private_kafka.bootstrap
    topic = "outage.requests"
    await create_topics(bootstrap, [topic], partitions=3)
    pub = _pub(tmp_path, bootstrap)
    await pub.start()
    sent: dict[str, list[str]] = defaultdict(list)
    keys = [f"key-{k}" for k in range(5)]
    n = 0
    try:
        _emit(pub, topic, keys, n, 300, sent)
        n += 300
        assert await pub.shipper.wait_shipped(30)

        stop = asyncio.create_task(private_kafka.astop(hard=hard))
        while not stop.done():  # keep emitting while the broker goes away
            _emit(pub, topic, keys, n, 20, sent)
            n += 20
            await asyncio.sleep(0.05)
        await stop
        with caplog.at_level(logging.WARNING):
            for _ in range(60):  # broker is down: events wait in the log
                _emit(pub, topic, keys, n, 20, sent)
                n += 20
                await asyncio.sleep(0.05)
            waiting = await asyncio.to_thread(pub.shipper.pending)
            assert waiting >= 1200
            start = asyncio.create_task(private_kafka.astart())
            while not start.done():  # and while it comes back
                _emit(pub, topic, keys, n, 20, sent)
                n += 20
                await asyncio.sleep(0.05)
            await start
            _emit(pub, topic, keys, n, 200, sent)
            n += 200
            assert await pub.shipper.wait_shipped(90), "the log was not shipped after the outage"
    finally:
        await pub.stop()
    outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert 1 <= len(outage_lines) <= 3, "the outage is logged once per interval, not per record"
    records = await _consume(bootstrap, topic, {i for v in sent.values() for i in v})
    twice = len(records) - len({ev.event_id for *_, ev in records})
    print(f"\nbroker {'SIGKILL' if hard else 'SIGTERM'}: {n} emitted, {len(records)} read, {twice} twice")
    _check_delivery(records, sent, allow_duplicates=False)


async def test_started_while_kafka_is_down_ships_later(kafka_bootstrap: str, kafka_topic, tmp_path: Path) -> None:
    topic = await kafka_topic(partitions=3)
    sent: dict[str, list[str]] = defaultdict(list)
    keys = ["a", "b", "c"]
    down = _pub(tmp_path, DEAD_BOOTSTRAP, drain_timeout_s=0.5)
    t0 = time.monotonic()
    await down.start()
    assert time.monotonic() - t0 < 2.0, "start must not wait for Kafka"
    _emit(down, topic, keys, 0, 500, sent)
    await down.stop()  # "process exits": everything stays in the log

    up = _pub(tmp_path, kafka_bootstrap)
    await up.start()
    try:
        _emit(up, topic, keys, 500, 100, sent)
        assert await up.shipper.wait_shipped(30)
    finally:
        await up.stop()
    records = await _consume(kafka_bootstrap, topic, {i for v in sent.values() for i in v})
    _check_delivery(records, sent, allow_duplicates=False)
    again = _pub(tmp_path, kafka_bootstrap)  # nothing is shipped twice by a third start
    await again.start()
    try:
        assert await asyncio.to_thread(again.shipper.pending) == 0
    finally:
        await again.stop()


_CRASHING_CHILD = r"""
import asyncio, json, os, sys
from pathlib import Path
from eventlog.bus import EventLogBus
from schemas.events import RequestEvent

async def main():
    pub = EventLogBus(Path(sys.argv[1]), kafka_bootstrap="127.0.0.1:1")
    await pub.start()
    ids = []
    for i in range(300):
        key = "abc"[i % 3]
        ev = RequestEvent(gateway_id="gw", request_id=f"{key}:{i}", org_id="o", workspace_id="w",
                          repo_id="r", repo_ai_api_key_id=key)
        assert pub.emit(sys.argv[2], key, ev)
        ids.append((key, ev.event_id))
    print(json.dumps(ids), flush=True)
    os._exit(9)          # crash right after the last emit returned: no stop, no close

asyncio.run(main())
"""


async def test_crashed_process_log_is_shipped(kafka_bootstrap: str, kafka_topic, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    topic = await kafka_topic(partitions=3)
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _CRASHING_CHILD, str(tmp_path), topic],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    sent: dict[str, list[str]] = defaultdict(list)
    for key, event_id in json.loads(proc.stdout.strip().splitlines()[-1]):
        sent[key].append(event_id)

    pub = _pub(tmp_path, kafka_bootstrap)
    await pub.start()
    try:
        assert await asyncio.to_thread(pub.shipper.pending) == 300
        assert await pub.shipper.wait_shipped(30)
    finally:
        await pub.stop()
    records = await _consume(kafka_bootstrap, topic, {i for v in sent.values() for i in v})
    _check_delivery(records, sent, allow_duplicates=False)


_KILLED_IN_A_TRANSACTION = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from aiokafka import AIOKafkaProducer
from eventlog.shipper import KafkaShipper
from eventlog.store import EventLog
from schemas.events import RequestEvent

async def main():
    data_dir, bootstrap, topic, when = sys.argv[1:5]
    log = EventLog(Path(data_dir) / "eventlog.db")
    ids = []
    for i in range(300):
        key = "abc"[i % 3]
        ev = RequestEvent(gateway_id="gw", request_id=f"{key}:{i}", org_id="o", workspace_id="w",
                          repo_id="r", repo_ai_api_key_id=key)
        log.append(topic, key.encode(), ev.to_wire())
        ids.append((key, ev.event_id))
    print(json.dumps(ids), flush=True)
    if when == "before-commit":   # every record sent and acknowledged, the commit never asked
        AIOKafkaProducer.commit_transaction = lambda self: os._exit(9)
    else:                         # committed to Kafka, the local cursor never written
        commit = KafkaShipper._commit
        async def then_die(self):
            await commit(self)
            os._exit(9)
        KafkaShipper._commit = then_die
    shipper = KafkaShipper(log, bootstrap, chunk=100)
    shipper.start()
    await asyncio.sleep(60)
    os._exit(3)  # never reached a transaction

asyncio.run(main())
"""


@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
async def test_killed_inside_a_transaction_ships_once(
    kafka_bootstrap: str, kafka_topic, tmp_path: Path, when: str, caplog
) -> None:
    """A shipper SIGKILLed with a transaction open (sent, not committed) or right after its
    commit (before the local cursor moved): the next one fences it and ships each event once."""
    import json
    import subprocess
    import sys

    topic = await kafka_topic(partitions=3)
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _KILLED_IN_A_TRANSACTION, str(tmp_path), kafka_bootstrap, topic, when],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    sent: dict[str, list[str]] = defaultdict(list)
    for key, event_id in json.loads(proc.stdout.strip().splitlines()[-1]):
        sent[key].append(event_id)

    pub = _pub(tmp_path, kafka_bootstrap)
    with caplog.at_level(logging.WARNING, logger="tollgate.eventlog.shipper"):
        await pub.start()
        try:
            assert await pub.shipper.wait_shipped(60)
        finally:
            await pub.stop()
    records = await _consume(kafka_bootstrap, topic, {i for v in sent.values() for i in v})
    _check_delivery(records, sent, allow_duplicates=False)
    skipped = [r for r in caplog.records if "not sent again" in r.getMessage()]
    # All 100 records of the first transaction reached the broker either way; a reader that
    # also reads uncommitted data sees the aborted copies (so the abort really happened).
    raw = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await raw.start()
    try:
        n_raw, deadline = 0, time.monotonic() + 10
        while n_raw < 300 + (100 if when == "before-commit" else 0) and time.monotonic() < deadline:
            n_raw += sum(len(m) for m in (await raw.getmany(timeout_ms=300)).values())
    finally:
        await raw.stop()
    if when == "before-commit":
        assert not skipped
        assert n_raw == 400, n_raw
    else:
        assert len(skipped) == 1 and "100 record(s)" in skipped[0].getMessage()
        assert n_raw == 300, n_raw


async def test_publish_rate(kafka_bootstrap: str, kafka_topic, tmp_path: Path) -> None:
    """Measures sustained events/s to the real broker (printed; a low floor is asserted)."""
    topic = await kafka_topic(partitions=3)
    quiet = logging.getLogger("aiokafka")
    old_level = quiet.level
    quiet.setLevel(logging.INFO)
    pub = _pub(tmp_path, kafka_bootstrap, max_bytes=200_000_000)
    await pub.start()
    n = 20_000
    events = [_event(f"key-{i % 50}", i) for i in range(n)]
    try:
        t0 = time.perf_counter()
        for i, ev in enumerate(events):
            pub.emit(topic, ev.repo_ai_api_key_id, ev)
            if i % 2000 == 1999:
                await asyncio.sleep(0)  # let the shipper run, as a live server would
        assert await pub.shipper.wait_shipped(120)
        elapsed = time.perf_counter() - t0
    finally:
        await pub.stop()
        quiet.setLevel(old_level)
    rate = n / elapsed
    print(f"\nevent log -> Kafka: {n} events acked in {elapsed:.2f}s = {rate:,.0f} events/s")
    assert rate > 500
