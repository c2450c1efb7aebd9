"""Reading the workers' logs in the main process and the main log in a worker (`up --workers`):
real SQLite logs in tmp_path, no services."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from eventlog.bus import LOG_FILE, EventLogBus
from eventlog.logreader import MainLogTail, WorkerLogs, worker_log_paths
from schemas.records import Record


async def _until(cond, what: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_main_reads_every_worker_log_once_and_workers_trim_below_its_cursors(tmp_path: Path) -> None:
    main = EventLogBus(tmp_path, trim_interval_s=0.05)
    got: list[Record] = []
    fail_once = [True]

    async def handler(records: list[Record]) -> None:
        if fail_once[0] and any(r.partition == 2 for r in records):
            fail_once[0] = False
            raise RuntimeError("insert failed")  # retried, never skipped or doubled
        got.extend(records)

    main.subscribe("t", handler, name="metering", max_wait_ms=5)
    workers = {k: EventLogBus(tmp_path / "workers" / str(k), trim_interval_s=0.05) for k in (1, 2)}
    tails = {k: MainLogTail(tmp_path / LOG_FILE, k, poll_s=0.01) for k in (1, 2)}
    await main.start()
    for k, w in workers.items():
        w.trim_bound = tails[k].trim_bound
        await w.start()
        await tails[k].start()
    assert list(worker_log_paths(tmp_path, 2)) == [1, 2]
    readers = WorkerLogs(main, worker_log_paths(tmp_path, 2), poll_s=0.01)
    await readers.start()
    try:
        for i in range(30):
            assert workers[1 + i % 2].publish("t", f"v{i}".encode())
            assert workers[1].publish("other", b"nobody reads this")
        main.publish("t", b"main")
        await _until(lambda: len(got) == 31, "31 records")
        by_part = {p: sorted(r.value for r in got if r.partition == p) for p in (0, 1, 2)}
        assert by_part[0] == [b"main"]
        assert by_part[1] == sorted(f"v{i}".encode() for i in range(0, 30, 2))
        assert by_part[2] == sorted(f"v{i}".encode() for i in range(1, 30, 2))
        # cursors live in the main log; each worker trims its own log below them (unrouted too)
        for k, w in workers.items():
            await _until(lambda w=w: w.log.read("t", 0, 100) == [], f"worker {k} trimmed")
        await _until(lambda: workers[1].log.read("other", 0, 100) == [], "unrouted topic trimmed")
        assert main.log.cursor("t@w1", "metering") == workers[1].log.state("t").next
    finally:
        await readers.stop()
        for k, w in workers.items():
            await tails[k].stop()
            await w.stop()
        await main.stop()
    # a new reader resumes from the committed cursors: nothing is delivered twice
    main2 = EventLogBus(tmp_path)
    again: list[Record] = []

    async def h2(records: list[Record]) -> None:
        again.extend(records)

    main2.subscribe("t", h2, name="metering")
    await main2.start()
    r2 = WorkerLogs(main2, worker_log_paths(tmp_path, 1), poll_s=0.01)
    await r2.start()
    await asyncio.sleep(0.2)
    await r2.stop()
    await main2.stop()
    assert again == []


async def test_worker_tails_the_main_log_from_the_earliest_record(tmp_path: Path) -> None:
    main = EventLogBus(tmp_path)
    await main.start()
    main.publish("d", b"before", key=b"s1")
    tail = MainLogTail(tmp_path / LOG_FILE, 1, poll_s=0.01)
    seen: list[bytes] = []

    async def on(records: list[Record]) -> None:
        seen.extend(r.value for r in records)

    tail.subscribe("d", on, name="decisions")
    await tail.start()
    try:
        main.publish("d", b"after", key=b"s2")
        await _until(lambda: seen == [b"before", b"after"], "both decisions")
        assert tail.trim_bound("d") is None  # nothing read this worker's log yet: never trim
    finally:
        await tail.stop()
        await main.stop()
