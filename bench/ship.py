"""Shipper throughput: how fast the local event log drains to a real broker.

    .venv/bin/python -m bench.ship --kafka BOOTSTRAP [--events 200000] [--steady-rate 5000]

Backlog: fills a fresh log with N request events (what a gateway logged during an outage),
then starts ``eventlog.shipper.KafkaShipper`` and times until Kafka confirmed all of them:
events/s shipped. Steady (``--steady-rate``): emits at that rate through ``EventLogBus`` for
``--steady-s`` seconds and reports p50/p99 of the time from emit to confirmed (the cursor
passing the event's offset). Each run writes to a fresh topic (3 partitions).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from bench.emit import _event as emit_event
from schemas.events import RequestEvent


def _event(i: int) -> RequestEvent:
    return emit_event(i, keys=50)  # 50 keys: records spread over every partition


async def _topic(bootstrap: str) -> str:
    from tests.support.kafka import create_topics

    topic = f"bench.ship.{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic], partitions=3)
    return topic


async def backlog(bootstrap: str, n: int) -> dict:
    from eventlog.shipper import CURSOR, KafkaShipper
    from eventlog.store import EventLog

    topic = await _topic(bootstrap)
    with tempfile.TemporaryDirectory(prefix="tollgate-ship-") as tmp:
        log = EventLog(Path(tmp) / "eventlog.db", max_bytes=4 << 30)
        ts = int(time.time() * 1000)
        for lo in range(0, n, 10_000):
            items = []
            for i in range(lo, min(n, lo + 10_000)):
                ev = _event(i)
                items.append((ev.repo_ai_api_key_id.encode(), ev.to_wire(), ts))
            log.append_many(topic, items)
        first = log.state(topic).first
        log.commit(topic, CURSOR, first)
        shipper = KafkaShipper(log, bootstrap, client_id="bench-ship")
        t0 = time.perf_counter()
        shipper.start()
        try:
            ok = await shipper.wait_shipped(600)
            elapsed = time.perf_counter() - t0
        finally:
            await shipper.stop(5)
            log.close()
    return {"events": n, "seconds": elapsed, "rate": n / elapsed, "complete": ok}


async def steady(bootstrap: str, rate: float, seconds: float) -> dict:
    from eventlog.bus import EventLogBus
    from eventlog.shipper import CURSOR

    topic = await _topic(bootstrap)
    with tempfile.TemporaryDirectory(prefix="tollgate-ship-") as tmp:
        bus = EventLogBus(tmp, max_bytes=1 << 30, kafka_bootstrap=bootstrap, client_id="bench-ship")
        await bus.start()
        emitted: list[tuple[int, float]] = []  # (log offset, emit time)
        lat: list[float] = []
        n = int(rate * seconds)
        done = asyncio.Event()

        async def watch() -> None:
            i = 0
            while i < n or not done.is_set():
                pos = bus.log.cursor(topic, CURSOR) if bus.log.topics() else None
                now = time.perf_counter()
                while pos is not None and i < len(emitted) and emitted[i][0] < pos:
                    lat.append(now - emitted[i][1])
                    i += 1
                if i >= n:
                    return
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch())
        t0 = time.perf_counter()
        try:
            for i in range(n):
                due = t0 + i / rate
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                ev = _event(i)
                bus.emit(topic, ev.repo_ai_api_key_id, ev)
                emitted.append((bus._next[topic] - 1, time.perf_counter()))
            done.set()
            await asyncio.wait_for(watcher, 60)
        finally:
            await bus.stop()
    lat.sort()
    return {
        "events": n,
        "rate": rate,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.ship")
    ap.add_argument("--kafka", required=True, help="bootstrap of a running broker")
    ap.add_argument("--events", type=int, default=200_000, help="backlog size")
    ap.add_argument("--steady-rate", type=float, default=0.0, help="also emit at this rate (events/s)")
    ap.add_argument("--steady-s", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    for _ in range(a.repeat):
        r = asyncio.run(backlog(a.kafka, a.events))
        print(
            f"backlog: {r['events']} events shipped in {r['seconds']:.2f}s = {r['rate']:,.0f} events/s"
            + ("" if r["complete"] else " (INCOMPLETE)")
        )
        if a.steady_rate:
            s = asyncio.run(steady(a.kafka, a.steady_rate, a.steady_s))
            print(
                f"steady {s['rate']:.0f}/s: {s['events']} events, emit -> confirmed p50 {s['p50_ms']:.1f} ms, "
                f"p99 {s['p99_ms']:.1f} ms"
            )


if __name__ == "__main__":
    main()
