"""Emit latency: how long `rt.publisher.emit(topic, key, event)` holds the gateway's event loop.

    .venv/bin/python -m bench.emit [--events 20000] [--rate 2000] [--kafka BOOTSTRAP]

Builds the publisher `tollgate` wires for these settings (embedded: the local log is the bus
and a metering-like subscriber reads it; `--kafka`: the local log shipped to that broker),
emits N request events at a steady rate (so background work — shipping, reading, trimming —
runs between emits as it would under load) and prints p50/p99/max of the time spent inside
`emit()`, measured with perf_counter_ns around each call, plus what reached the reader.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from schemas import topics
from schemas.events import RequestEvent


def _event(i: int, keys: int = 7) -> RequestEvent:
    return RequestEvent(
        gateway_id="bench",
        request_id=f"r{i}",
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id=f"k{i % keys}",
        ai_llm_id="l",
        model="gpt-4o-mini",
        tokens_in=120 + i % 50,
        tokens_out=40,
        latency_ms=12,
    )


def _publisher(data_dir: Path, kafka: str | None):
    from core.settings import Settings
    from producers.publisher import build_publisher

    return build_publisher(Settings(data_dir=data_dir, kafka_bootstrap=kafka), client_id="bench")


async def run(n: int, rate: float, kafka: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="tollgate-emit-") as tmp:
        pub = _publisher(Path(tmp), kafka)
        got = 0

        async def reader(records) -> None:
            nonlocal got
            got += len(records)

        if kafka is None:
            pub.subscribe(topics.REQUESTS, reader, max_batch=2000, name="bench-reader")
        await pub.start()
        events = [_event(i) for i in range(n)]
        lat: list[int] = []
        t0 = time.perf_counter()
        try:
            for i, ev in enumerate(events):
                due = t0 + i / rate
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                a = time.perf_counter_ns()
                pub.emit(topics.REQUESTS, ev.repo_ai_api_key_id, ev)
                lat.append(time.perf_counter_ns() - a)
            if kafka is None:
                await pub.drain(60)
            elif hasattr(pub, "shipper"):
                await pub.shipper.wait_shipped(60)
            else:
                await pub.wait_drained(60)
        finally:
            await pub.stop()
        lat.sort()
        return {
            "events": n,
            "p50_us": lat[n // 2] / 1000,
            "p99_us": lat[int(n * 0.99)] / 1000,
            "max_us": lat[-1] / 1000,
            "mean_us": statistics.fmean(lat) / 1000,
            "read": got,
            "publisher": type(pub).__name__,
        }


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.emit")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=2000.0, help="emits per second")
    ap.add_argument("--kafka", default=None, help="bootstrap of a running broker (distributed mode)")
    a = ap.parse_args()
    r = asyncio.run(run(a.events, a.rate, a.kafka))
    print(
        f"emit ({r['publisher']}, {'kafka' if a.kafka else 'embedded'}): p50 {r['p50_us']:.1f} µs, "
        f"p99 {r['p99_us']:.1f} µs, max {r['max_us']:.0f} µs, mean {r['mean_us']:.1f} µs "
        f"over {r['events']} events at {a.rate:.0f}/s; reader got {r['read']}"
    )


if __name__ == "__main__":
    main()
