"""Metering benchmark: Kafka -> one metering consumer process -> ClickHouse, and stats latency.

    .venv/bin/python -m bench.metering [--events 500000] [--stats-rows 10000000]
                                       [--skip-e2e] [--skip-stats] [--write-results]

One command, bounded (a few minutes on 2 cores). It starts its own Kafka broker
(`scripts/kafka.sh start --dir <tmp>`, stopped at the end) and works in a temp dir. Printed
side by side, from the same run:

1. publish rate of N request events through the gateway's publisher (event log -> Kafka);
2. end-to-end rate: ONE `python -m consumers.kafka_runner` subprocess (embedded ClickHouse
   engine in its own data dir) consuming the N events; "confirmed" = the consumer group's
   committed offsets, which the consumer commits only after ClickHouse confirmed the insert;
   the row counts in the raw table and the minute rollup are checked afterwards;
3. raw rates of the same events: a plain aiokafka `getmany` loop (no decoding), and inserts of
   the same decoded columns into the same tables with the same batch size (Arrow, the
   warehouse's path, and JSONCompactColumns, the previous one), plus the pure decode rates
   (`decode_batch`, msgspec into columns, and `reference_rows`, the pydantic reference); wall
   and CPU-time rates (the machine is shared: CPU time is the steadier number); the ratio of
   end-to-end to the slowest stage alone;
4. the consumer's peak RSS (VmHWM from /proc) and its CPU time per event (all threads);
5. p50/p99 of `/ai/llm/stats` and `/aistats/minute` through the real HTTP API of a
   `tollgate up` subprocess over `--stats-rows` stored events: `bench.stats` (which also runs
   alone, without Kafka: `python -m bench.stats --rows N`).

Everything that opens the embedded engine runs in its own subprocess (chdb admits one data
dir per process): `python -m bench.metering _raw ...` and `_generate ...` are internal modes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stats import AI_TYPES, MODELS  # the same configurations as the stats bench

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
RESULTS = ROOT / "bench" / "RESULTS.md"
MARK_START, MARK_END = "<!-- metering:start -->", "<!-- metering:end -->"
MARK_NOTES = "<!-- metering:notes -->"
GOALS = {"e2e_eps": 100_000, "ratio": 0.5, "rss_mb": 600, "p99_ms": 50}
RAW_BATCH = 20_000  # = MeteringConsumer.max_records (one getmany batch)
ADMIN_EMAIL, ADMIN_PASSWORD = "bench@tollgate.test", "bench-password-1"


def log(msg: str) -> None:
    print(f"[bench.metering {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the data: one id universe, deterministic events -----------------------------------------


@dataclass
class Ids:
    """Who the events belong to. Key k belongs to repo k % 50; repo r is served by configs
    r % 10 and (r + 3) % 10; config c serves models c % 8 and (c + 1) % 8."""

    org: str
    workspace: str
    configs: list[str]
    repos: list[str]
    keys: list[str]

    @classmethod
    def random(cls, rng: random.Random) -> Ids:
        u = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
        return cls(u(), u(), [u() for _ in range(10)], [u() for _ in range(50)], [u() for _ in range(200)])

    def repo_configs(self, r: int) -> list[int]:
        return [r % 10, (r + 3) % 10]


def event_dicts(ids: Ids, n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    """Pure: events [start, start + n) of the stream, as camelCase wire dicts (one attempt each)."""
    rng = random.Random(seed * 1_000_003 + start)
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(start, start + n):
        k = rng.randrange(200)
        r = k % 50
        c = ids.repo_configs(r)[rng.randrange(2)]
        model = MODELS[(c + rng.randrange(2)) % 8]
        lat = rng.uniform(80, 2500)
        ok = rng.random() > 0.02
        out.append(
            {
                "eventId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "schemaVersion": 1,
                "occurredAt": (now - timedelta(milliseconds=rng.randrange(3_600_000))).isoformat(),
                "gatewayId": f"gw-{i % 4}",
                "requestId": f"req-{seed}-{i}",
                "orgId": ids.org,
                "workspaceId": ids.workspace,
                "repoId": ids.repos[r],
                "repoAiApiKeyId": ids.keys[k],
                "aiLlmId": ids.configs[c],
                "aiType": AI_TYPES[c],
                "model": model,
                "providerModel": model,
                "endpoint": "chat.completions",
                "stream": bool(i % 3 == 0),
                "status": "ok" if ok else "error",
                "httpStatus": 200 if ok else 502,
                "errorType": None if ok else "upstream_error",
                "latencyMs": round(lat, 3),
                "ttftMs": round(lat / 4, 3),
                "gatewayOverheadMs": 0.8,
                "tokensIn": rng.randrange(10, 4000),
                "tokensOut": rng.randrange(1, 1500),
                "cachedTokens": 0,
                "usageSource": "provider",
                "attempts": [
                    {
                        "aiLlmId": ids.configs[c],
                        "aiType": AI_TYPES[c],
                        "providerModel": model,
                        "status": "ok" if ok else "error",
                        "httpStatus": 200 if ok else 502,
                        "latencyMs": round(lat, 3),
                    }
                ],
                "userId": f"user-{rng.randrange(1000)}",
                "conversationId": f"conv-{rng.randrange(10**6)}",
                "policyIds": [],
            }
        )
    return out


# ---- Kafka -----------------------------------------------------------------------------------


class Broker:
    """scripts/kafka.sh in a temp dir; `stop()` removes it."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.bootstrap = ""

    def start(self) -> str:
        out = subprocess.run(
            [
                "bash",
                str(ROOT / "scripts" / "kafka.sh"),
                "start",
                "--dir",
                str(self.dir),
                "--watch-pid",
                str(os.getpid()),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        m = re.search(r"KAFKA_BOOTSTRAP=(\S+)", out)
        if not m:
            raise RuntimeError("kafka.sh printed no bootstrap")
        self.bootstrap = m.group(1)
        return self.bootstrap

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", "--dir", str(self.dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()
    await asyncio.sleep(1.0)


async def publish(bootstrap: str, topic: str, ids: Ids, n: int, seed: int, spool: Path) -> dict:
    """Emit N events through the gateway's publisher (local event log shipped to Kafka); returns
    rates (with and without building)."""
    from eventlog.bus import EventLogBus
    from schemas.events import RequestEvent

    pub = EventLogBus(spool, max_bytes=8 << 30, kafka_bootstrap=bootstrap, client_id="bench")
    await pub.start()
    chunk, build_s = 10_000, 0.0
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        b0 = time.perf_counter()
        evs = [RequestEvent.model_validate(d) for d in event_dicts(ids, min(chunk, n - start), seed, start)]
        build_s += time.perf_counter() - b0
        for e in evs:
            pub.emit(topic, e.repo_ai_api_key_id, e)
        await asyncio.sleep(0)
    if not await pub.shipper.wait_shipped(300):
        raise RuntimeError("publisher did not drain")
    total = time.perf_counter() - t0
    spooled = False
    await pub.stop()
    return {
        "publish_s": total,
        "build_s": build_s,
        "publish_eps": n / total,
        "publish_eps_excl_build": n / max(1e-9, total - build_s),
        "spooled_at_end": spooled,
    }


async def raw_consume(bootstrap: str, topic: str, n: int) -> dict:
    """Plain aiokafka getmany loop over the same events, same fetch settings, no decoding."""
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_min_bytes=1_000_000,
        fetch_max_wait_ms=200,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await c.start()
    got, nbytes = 0, 0
    try:
        t0 = time.perf_counter()
        deadline = t0 + 120
        while got < n and time.perf_counter() < deadline:
            batch = await c.getmany(timeout_ms=500, max_records=RAW_BATCH)
            for msgs in batch.values():
                got += len(msgs)
                nbytes += sum(len(m.value) for m in msgs)
        dt = time.perf_counter() - t0
    finally:
        await c.stop()
    return {
        "raw_consume_eps": got / dt,
        "raw_consume_s": dt,
        "raw_consumed": got,
        "avg_event_bytes": nbytes / max(1, got),
    }


async def committed(admin: Any, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on `topic` (committed only after the insert)."""
    offs = await admin.list_consumer_group_offsets(group)
    return sum(m.offset for tp, m in offs.items() if tp.topic == topic and m.offset > 0)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def e2e(
    bootstrap: str,
    topic: str,
    vtopic: str,
    n: int,
    data_dir: Path,
    logs: Path,
    profile: bool,
    consumer_args: list[str] = (),
) -> dict:
    """One consumer subprocess; rate from its readiness until every offset is committed."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        TOLLGATE_DATA_DIR=str(data_dir),
        TOLLGATE_KAFKA_BOOTSTRAP=bootstrap,
        TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
    )
    env.pop("TOLLGATE_CLICKHOUSE_URL", None)
    errf = open(logs / "consumer.log", "w")
    cmd = [PY]
    if profile:
        cmd += ["-m", "cProfile", "-o", str(logs / "consumer.prof")]
    cmd += [
        "-m",
        "consumers.kafka_runner",
        "--requests-topic",
        topic,
        "--violations-topic",
        vtopic,
        "--group",
        group,
        "--database",
        "bench",
        *consumer_args,
    ]
    spawn = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=errf, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        ready = None
        while ready is None:
            if proc.poll() is not None:
                raise RuntimeError(f"consumer exited early; see {logs / 'consumer.log'}")
            if "metering consumer running" in (logs / "consumer.log").read_text():
                ready = time.perf_counter()
                cpu0 = cpu_s(proc.pid)
            elif time.perf_counter() - spawn > 120:
                raise RuntimeError("consumer did not become ready")
            else:
                await asyncio.sleep(0.05)
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        series: list[tuple[float, int]] = []
        done = 0
        while done < n:
            done = await committed(admin, group, topic)
            series.append((time.perf_counter(), done))
            if proc.poll() is not None:
                raise RuntimeError("consumer died")
            if time.perf_counter() - ready > 300:
                raise RuntimeError(f"e2e did not finish: {done}/{n}")
            await asyncio.sleep(0.2)
        await admin.close()
        t_done = series[-1][0]
        first = next(t for t, d in series if d > 0)
        rss = vm_hwm_mb(proc.pid)
        cpu = cpu_s(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        errf.close()
    return {
        "e2e_eps": n / (t_done - ready),
        "e2e_s": t_done - ready,
        "startup_s": ready - spawn,
        "e2e_eps_after_first_commit": n / max(1e-9, t_done - first) if t_done > first else None,
        "consumer_rss_mb": rss,
        "consumer_cpu_s": cpu,
        "consumer_cpu_us_per_event": cpu / n * 1e6,
        "load_avg_after_e2e": os.getloadavg()[0],
        "e2e_progress": [(round(t - ready, 2), d) for t, d in series][:: max(1, len(series) // 20)],
    }


# ---- internal subprocess modes (own the embedded engine) --------------------------------------


def mode_raw(a: argparse.Namespace) -> None:
    """Verify the e2e counts, then time decode (the consumer's msgspec column path and the
    pydantic reference path) and inserts of the same events (same batch size, same dedup
    settings): Arrow columns (the warehouse's path) and JSONCompactColumns (the previous one).
    Wall and CPU time (CPU: the decoding thread; for inserts the whole process, engine included)."""
    import orjson

    from consumers.metering import decode_batch, reference_rows
    from core.settings import Settings
    from schemas.records import Record
    from warehouse.client import DEDUP_SETTINGS, make_client
    from warehouse.columnar import arrow_schema, to_arrow
    from warehouse.migrate import migrate
    from warehouse.tables import REQUEST_COLUMNS, REQUESTS_TABLE

    ids = Ids(**json.loads(Path(a.ids).read_text()))
    settings = Settings(data_dir=Path(a.data_dir), clickhouse_url=None, kafka_bootstrap=None)
    out: dict[str, Any] = {}
    client = make_client(settings, "bench")
    if a.verify:
        out["e2e_raw_rows"] = int(client.query("SELECT count() FROM requests").result_rows[0][0])
        out["e2e_rollup_calls"] = int(client.query("SELECT sum(api_calls) FROM usage_minute").result_rows[0][0])
        out["e2e_distinct_events"] = int(client.query("SELECT uniqExact(event_id) FROM requests").result_rows[0][0])
    clients = {}
    for name in ("arrow", "json"):
        clients[name] = make_client(settings, f"bench_raw_{name}")
        migrate(clients[name], settings.raw_ttl_days)
    schema = arrow_schema((r[0], r[1]) for r in clients["arrow"].query(f"DESCRIBE TABLE {REQUESTS_TABLE}").result_rows)
    wall = {"decode": 0.0, "reference": 0.0, "arrow": 0.0, "json": 0.0}
    cpu = dict.fromkeys(wall, 0.0)
    kinds = {"bench.requests": "requests"}
    for start in range(0, a.events, RAW_BATCH):
        m = min(RAW_BATCH, a.events - start)
        recs = [
            Record("bench.requests", 0, start + j, None, orjson.dumps(d), 0)
            for j, d in enumerate(event_dicts(ids, m, a.seed, start))
        ]
        t0, c0 = time.perf_counter(), time.thread_time()
        d = decode_batch(recs, kinds)
        wall["decode"] += time.perf_counter() - t0
        cpu["decode"] += time.thread_time() - c0
        assert not d.dead and len(d.requests) == m
        if start < a.events // 4 or a.events <= RAW_BATCH:  # the slow reference path on a quarter
            t0, c0 = time.perf_counter(), time.thread_time()
            rows, _v, dead = reference_rows(recs, kinds)
            wall["reference"] += time.perf_counter() - t0
            cpu["reference"] += time.thread_time() - c0
            out["reference_events"] = out.get("reference_events", 0) + m
        token = f"raw:{start}"
        t0, c0 = time.perf_counter(), time.process_time()
        clients["arrow"].insert_arrow(
            REQUESTS_TABLE,
            to_arrow(d.requests, schema),
            settings=dict(DEDUP_SETTINGS, insert_deduplication_token=token),
        )
        wall["arrow"] += time.perf_counter() - t0
        cpu["arrow"] += time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        body = orjson.dumps(d.requests.data)
        clients["json"].raw_insert(
            REQUESTS_TABLE,
            list(REQUEST_COLUMNS),
            body,
            fmt="JSONCompactColumns",
            settings=dict(DEDUP_SETTINGS, insert_deduplication_token=token, date_time_input_format="best_effort"),
        )
        wall["json"] += time.perf_counter() - t0
        cpu["json"] += time.process_time() - c0
    for name, c in clients.items():
        got = int(c.query("SELECT sum(api_calls) FROM usage_minute").result_rows[0][0])
        assert got == a.events, f"raw insert {name}: rollup has {got}"
    ref_n = out.get("reference_events", a.events)
    out.update(
        decode_eps=a.events / wall["decode"],
        decode_eps_cpu=a.events / cpu["decode"],
        reference_decode_eps=ref_n / wall["reference"],
        reference_decode_eps_cpu=ref_n / cpu["reference"],
        raw_insert_arrow_eps=a.events / wall["arrow"],
        raw_insert_arrow_eps_cpu=a.events / cpu["arrow"],
        raw_insert_json_eps=a.events / wall["json"],
        raw_insert_json_eps_cpu=a.events / cpu["json"],
        raw_insert_rss_mb=vm_hwm_mb(os.getpid()),
    )
    print(json.dumps(out))


def mode_generate(a: argparse.Namespace) -> None:
    """Bulk-generate rows into the raw table (the stats bench's; see `bench.stats`)."""
    from bench import stats

    stats.mode_generate(a)


def mode_baseline(a: argparse.Namespace) -> None:
    """Peak RSS of a process that only opens the embedded engine and applies the migrations:
    the part of the consumer's RSS that a ClickHouse server deployment does not have."""
    from core.settings import Settings
    from warehouse.client import make_client
    from warehouse.migrate import migrate

    settings = Settings(data_dir=Path(a.data_dir), clickhouse_url=None, kafka_bootstrap=None)
    client = make_client(settings, "bench_baseline")
    migrate(client, settings.raw_ttl_days)
    client.query("SELECT count() FROM requests")
    print(json.dumps({"engine_baseline_rss_mb": vm_hwm_mb(os.getpid())}))


def run_mode(args: list[str]) -> dict:
    p = subprocess.run([PY, "-m", "bench.metering", *args], capture_output=True, text=True, cwd=ROOT, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"bench.metering {args[0]} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- stats latency through the HTTP API: `bench.stats` (runnable alone, no Kafka) ---------------


def stats_bench(tmp: Path, logs: Path, rows: int) -> dict:
    from bench import stats

    return stats.stats_bench(tmp, logs, rows)


def mode_sqltime(a: argparse.Namespace) -> None:
    from bench import stats

    stats.mode_sqltime(a)


# ---- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report(r: dict, args: argparse.Namespace) -> str:
    L = [
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, `python -m bench.metering "
        f"--events {args.events} --stats-rows {args.stats_rows}`, {os.cpu_count()} cores "
        f"(shared with other work), Kafka 3.9 single broker, {args.partitions} partitions, "
        f"embedded ClickHouse engine (chdb).",
        "",
    ]
    if "e2e_eps" in r:
        ins = r["raw_insert_arrow_eps"]
        slower = min(r["raw_consume_eps"], ins, r["decode_eps"])
        ratio = r["e2e_eps"] / slower
        per_cpu = 1e6 / r["consumer_cpu_us_per_event"]
        L += [
            f"Load average when the consumer finished: {r['load_avg_after_e2e']:.1f} on {os.cpu_count()} cores "
            "(wall rates shrink with it; the CPU-time rates below do much less).",
            "",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| publish (local event log shipped to Kafka, incl. building events) | {r['publish_eps']:,.0f} ev/s | |",
            f"| publish, excl. event construction | {r['publish_eps_excl_build']:,.0f} ev/s | |",
            f"| **end to end** (1 consumer process, Kafka -> ClickHouse, confirmed) | **{r['e2e_eps']:,.0f} ev/s** "
            f"({args.events:,} in {r['e2e_s']:.1f}s) | >= {GOALS['e2e_eps']:,} ({verdict(r['e2e_eps'] >= GOALS['e2e_eps'])}) |",
            f"| consumer CPU per event (all threads: loop, warehouse thread, engine) | "
            f"{r['consumer_cpu_us_per_event']:.1f} us ({per_cpu:,.0f} ev per CPU-second) | |",
            f"| raw aiokafka getmany (no decode) | {r['raw_consume_eps']:,.0f} ev/s | |",
            f"| decode, msgspec -> columns (`decode_batch`, the consumer's path) | {r['decode_eps']:,.0f} ev/s "
            f"({r['decode_eps_cpu']:,.0f} per CPU-s) | |",
            f"| decode, pydantic -> rows (`reference_rows`, the previous path) | {r['reference_decode_eps']:,.0f} ev/s "
            f"({r['reference_decode_eps_cpu']:,.0f} per CPU-s) | |",
            f"| raw insert, Arrow columns (warehouse path), {RAW_BATCH:,}/batch | {ins:,.0f} ev/s "
            f"({r['raw_insert_arrow_eps_cpu']:,.0f} per CPU-s) | |",
            f"| raw insert, JSONCompactColumns (previous path), {RAW_BATCH:,}/batch | {r['raw_insert_json_eps']:,.0f} ev/s "
            f"({r['raw_insert_json_eps_cpu']:,.0f} per CPU-s) | |",
            f"| e2e / slowest stage alone ({slower:,.0f}) | {ratio:.0%} | >= 50% ({verdict(ratio >= GOALS['ratio'])}) |",
            f"| consumer peak RSS (VmHWM) | {r['consumer_rss_mb']:.0f} MB | <= {GOALS['rss_mb']} MB "
            f"({verdict(r['consumer_rss_mb'] <= GOALS['rss_mb'])}) |",
            f"| embedded engine alone (open + migrate, no events) | {r['engine_baseline_rss_mb']:.0f} MB | |",
            f"| raw-insert process (engine + {args.events:,} rows inserted twice, no Kafka, no pipeline) | {r['raw_insert_rss_mb']:.0f} MB | |",
            f"| consumer start-up (spawn -> subscribed) | {r['startup_s']:.1f} s | |",
            f"| rows after e2e: raw / rollup api_calls / distinct eventIds | {r['e2e_raw_rows']:,} / {r['e2e_rollup_calls']:,} / {r['e2e_distinct_events']:,} | = {args.events:,} |",
            "",
        ]
        r["ratio"] = ratio
    if "queries" in r:
        L += [
            f"Stats over {r['raw_rows']:,} stored events (minute rollup {r['minute_rows']:,} rows, day rollup "
            f"{r['daily_rows']:,} rows; generated in {r['generate_s']:.0f}s), via `tollgate up` HTTP, "
            "200 sequential requests after 20 warm-up:",
            "",
            "| query | p50 | p99 | SQL alone p50 / max (of 50) | rows returned | goal p99 <= 50 ms |",
            "|---|---|---|---|---|---|",
        ]
        for name, q in r["queries"].items():
            sql = f"{q['sql_p50_ms']:.1f} / {q['sql_p99_ms']:.1f} ms" if "sql_p50_ms" in q else "n/a"
            L.append(
                f"| `{name}` | {q['p50_ms']:.1f} ms | {q['p99_ms']:.1f} ms | {sql} | {q['rows']:,}"
                f"{' (truncated)' if q['truncated'] else ''} | {verdict(q['p99_ms'] <= GOALS['p99_ms'])} |"
            )
        L.append("")
    return "\n".join(L)


def write_results(text: str) -> None:
    """Replace the generated part of the metering section; hand-written notes (after
    MARK_NOTES, inside the section) and other sections are kept."""
    notes = ""
    cur = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    if MARK_START in cur and MARK_END in cur:
        a, rest = cur.split(MARK_START, 1)
        old, b = rest.split(MARK_END, 1)
        if MARK_NOTES in old:
            notes = MARK_NOTES + old.split(MARK_NOTES, 1)[1]
    block = f"{MARK_START}\n## Metering (`python -m bench.metering`)\n\n{text}\n{notes}{MARK_END}"
    if MARK_START in cur and MARK_END in cur:
        cur = a + block + b
    else:
        cur = cur.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(cur)


async def main_async(args: argparse.Namespace, tmp: Path) -> dict:
    r: dict[str, Any] = {}
    logs = tmp / "logs"
    logs.mkdir()
    if not args.skip_e2e:
        broker = Broker(tmp / "kafka")
        try:
            log("starting Kafka")
            bootstrap = broker.start()
            topic, vtopic = f"bench.requests.{uuid.uuid4().hex[:6]}", f"bench.violations.{uuid.uuid4().hex[:6]}"
            await create_topics(bootstrap, [topic, vtopic], args.partitions)
            ids = Ids.random(random.Random(args.seed))
            (tmp / "ids.json").write_text(json.dumps(asdict(ids)))
            log(f"publishing {args.events:,} events")
            r.update(await publish(bootstrap, topic, ids, args.events, args.seed, tmp / "spool"))
            log(f"published: {r['publish_eps']:,.0f} ev/s")
            n = args.events
            r.update(await raw_consume(bootstrap, topic, n))
            if r["raw_consumed"] != n:
                raise RuntimeError(f"topic holds {r['raw_consumed']} events, expected {n}")
            log(f"raw consume: {r['raw_consume_eps']:,.0f} ev/s")
            r.update(
                await e2e(bootstrap, topic, vtopic, n, tmp / "e2e-data", logs, args.profile, args.consumer_args.split())
            )
            log(f"e2e: {r['e2e_eps']:,.0f} ev/s, rss {r['consumer_rss_mb']:.0f} MB")
        finally:
            broker.stop()
        r.update(
            run_mode(
                [
                    "_raw",
                    "--data-dir",
                    str(tmp / "e2e-data"),
                    "--ids",
                    str(tmp / "ids.json"),
                    "--events",
                    str(args.events),
                    "--seed",
                    str(args.seed),
                    "--verify",
                ]
            )
        )
        r.update(run_mode(["_baseline", "--data-dir", str(tmp / "baseline-data"), "--ids", str(tmp / "ids.json")]))
        log(
            f"raw insert arrow {r['raw_insert_arrow_eps']:,.0f}, json {r['raw_insert_json_eps']:,.0f}, "
            f"decode {r['decode_eps']:,.0f} (reference {r['reference_decode_eps']:,.0f}) ev/s"
        )
        if args.profile:
            import pstats

            st = pstats.Stats(str(logs / "consumer.prof"))
            st.sort_stats("cumulative").print_stats(25)
    if not args.skip_stats:
        r.update(stats_bench(tmp, logs, args.stats_rows))
    return r


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_raw", "_generate", "_baseline", "_sqltime"):
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("--data-dir", required=True)
        p.add_argument("--ids", required=True)
        p.add_argument("--events", type=int, default=0)
        p.add_argument("--rows", type=int, default=0)
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--verify", action="store_true")
        a = p.parse_args(argv)
        {"_raw": mode_raw, "_generate": mode_generate, "_baseline": mode_baseline, "_sqltime": mode_sqltime}[a.mode](a)
        return 0
    p = argparse.ArgumentParser(prog="bench.metering", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--stats-rows", type=int, default=10_000_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--skip-stats", action="store_true")
    p.add_argument("--profile", action="store_true", help="run the consumer under cProfile and print the top")
    p.add_argument("--write-results", action="store_true", help=f"update the metering section of {RESULTS}")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--consumer-args", default="", help="extra consumers.kafka_runner flags, e.g. '--max-records 5000'")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-bench-metering-"))
    t0 = time.perf_counter()
    try:
        r = asyncio.run(main_async(args, tmp))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")
    text = report(r, args)
    print(text)
    print(f"(total bench time {time.perf_counter() - t0:.0f}s)")
    last = Path(tempfile.gettempdir()) / "tollgate-bench-metering-last.json"
    last.write_text(json.dumps(r, default=str, indent=1))
    log(f"raw numbers: {last}")
    if args.write_results:
        write_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
