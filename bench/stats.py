"""Stats latency benchmark: `/ai/llm/stats` and `/aistats/minute` over N stored events.

    .venv/bin/python -m bench.stats [--rows 10000000] [--data-dir DIR] [--keep]

No Kafka. A `tollgate up` subprocess on a fresh data dir gets its ids through the API
(1 workspace, 10 configs, 50 repositories, 200 keys, 8 models); N request events over the
last 30 days are bulk generated into the raw table (`INSERT ... SELECT FROM numbers(N)`, so the
materialized views fill every rollup); then p50/p99 of each query through HTTP (200 sequential
requests after 20 warm-up) and of the same warehouse read alone (50 after 5), in one run.
`--data-dir` reuses a data dir kept by an earlier run (`--keep`; its ids are in
`<dir>/bench-stats-ids.json`): no generation, and a newer schema migrates it at start (that is
how an upgrade over 10M events is timed). `python -m bench.metering --stats-rows N` runs this too.

Everything that opens the embedded engine runs in its own subprocess (chdb admits one data dir
per process): `python -m bench.stats _generate|_sqltime ...` are internal modes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
GOALS = {"/ai/llm/stats": 20.0, "/aistats/minute": 50.0}  # p99 ms (issue 9)
MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4-20250514",
    "claude-3-5-haiku-20241022",
    "gemini-2.0-flash",
    "gemini-1.5-pro",
    "anthropic.claude-3-haiku",
    "llama-3.1-70b",
)
AI_TYPES = ("OPENAI", "OPENAI", "ANTHROPIC", "ANTHROPIC", "GOOGLE", "GOOGLE", "AWS", "OTHER", "OPENAI", "ANTHROPIC")
ADMIN_EMAIL, ADMIN_PASSWORD = "bench@tollgate.test", "bench-password-1"
IDS_FILE = "bench-stats-ids.json"


def log(msg: str) -> None:
    print(f"[bench.stats {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Ids:
    """Key k belongs to repo k % 50; repo r is served by configs r % 10 and (r + 3) % 10."""

    org: str
    workspace: str
    configs: list[str]
    repos: list[str]
    keys: list[str]

    def repo_configs(self, r: int) -> list[int]:
        return [r % 10, (r + 3) % 10]


def run_mode(args: list[str]) -> dict:
    p = subprocess.run([PY, "-m", "bench.stats", *args], capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"bench.stats {args[0]} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


class Up:
    """`tollgate up` as a subprocess on a data dir and a free port."""

    def __init__(self, data_dir: Path, logs: Path):
        self.data_dir, self.logs = data_dir, logs
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start and wait for /health; returns the seconds it took (migrations included)."""
        import httpx

        env = dict(
            os.environ,
            TOLLGATE_DATA_DIR=str(self.data_dir),
            TOLLGATE_PORT=str(self.port),
            TOLLGATE_HOST="127.0.0.1",
            TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
            TOLLGATE_ADMIN_EMAIL=ADMIN_EMAIL,
            TOLLGATE_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TOLLGATE_LOG_LEVEL="WARNING",
        )
        for k in ("TOLLGATE_KAFKA_BOOTSTRAP", "TOLLGATE_CLICKHOUSE_URL", "TOLLGATE_DATABASE_URL"):
            env.pop(k, None)
        t0 = time.monotonic()
        with open(self.logs / "up.log", "a") as out:
            self.proc = subprocess.Popen(
                [PY, "-m", "tollgate.cli", "up"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = t0 + 1800
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tollgate up exited; see {self.logs / 'up.log'}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("tollgate up did not become healthy")

    def client(self) -> Any:
        import httpx

        c = httpx.Client(base_url=self.url, timeout=60)
        tok = c.post("/user/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
        c.headers["Authorization"] = f"Bearer {tok}"
        return c

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def create_universe(c: Any) -> Ids:
    """1 workspace, 10 configs, 50 repos (2 configs each), 200 keys, through the API."""

    def ok(r: Any) -> dict:
        if r.status_code not in (200, 201) or not r.json().get("success", True):
            raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}")
        return r.json()

    ws = ok(c.post("/workspace", json={"name": "bench"}))["workspace"]
    configs = []
    for i in range(10):
        body = {
            "name": f"cfg-{i}",
            "aiType": AI_TYPES[i],
            "endpoint": "http://127.0.0.1:9/v1",
            "secret": f"bench-not-a-secret-{i:04d}",
            "workspaceId": ws["id"],
        }
        if AI_TYPES[i] == "AWS":
            body.update(key="AKIABENCHBENCHBENCH", region="us-east-1")
        configs.append(ok(c.post("/ai/llm", json=body))["aiLlmId"])
    ids = Ids(org=ws["orgId"], workspace=ws["id"], configs=configs, repos=[], keys=[])
    for r in range(50):
        body = {
            "name": f"repo-{r}",
            "workspaceId": ws["id"],
            "repoAiLlms": [{"aiLlmId": configs[j]} for j in ids.repo_configs(r)],
        }
        ids.repos.append(ok(c.post("/repo", json=body))["repoId"])
    for k in range(200):
        body = {"name": f"key-{k}", "aiType": "OPENAI"}
        ids.keys.append(ok(c.post(f"/repo/{ids.repos[k % 50]}/ai/apikey", json=body))["id"])
    return ids


GENERATE_SQL = """
INSERT INTO requests (event_id, schema_version, occurred_at, org_id, workspace_id, repo_id,
    repo_ai_api_key_id, ai_llm_id, ai_type, model, provider_model, endpoint, stream, status,
    http_status, error_type, latency_ms, ttft_ms, gateway_overhead_ms, tokens_in, tokens_out,
    cached_tokens, usage_source, attempt_count, attempt_ai_llm_ids, attempt_statuses,
    attempt_http_statuses, attempt_latencies_ms, user_id, conversation_id, policy_ids,
    gateway_id, request_id, kafka_topic, kafka_partition, kafka_offset)
SELECT generateUUIDv4(number), 1,
    toDateTime64({now:UInt32} - (cityHash64(number, 1) % (30 * 86400)), 3, 'UTC'),
    {org:String}, {ws:String}, {repos:Array(String)}[k % 50 + 1],
    {keys:Array(String)}[k + 1], {configs:Array(String)}[c + 1], {types:Array(String)}[c + 1],
    {models:Array(String)}[(c + (cityHash64(number, 3) % 2)) % 8 + 1],
    {models:Array(String)}[(c + (cityHash64(number, 3) % 2)) % 8 + 1], 'chat.completions',
    number % 3 = 0, if(number % 50 = 0, 'error', 'ok'), if(number % 50 = 0, 502, 200),
    if(number % 50 = 0, 'upstream_error', ''), 80 + cityHash64(number, 4) % 2400, NULL, 0.8,
    10 + cityHash64(number, 5) % 4000, 1 + cityHash64(number, 6) % 1500, 0, 'provider',
    1, [{configs:Array(String)}[c + 1]], ['ok'], [200], [100],
    concat('user-', toString(number % 1000)), '', [], concat('gw-', toString(number % 4)),
    toString(number), 'bench.generated', 0, number
FROM (SELECT number, cityHash64(number, 2) % 200 AS k,
             if(cityHash64(number, 7) % 2 = 0, (k % 50) % 10, ((k % 50) + 3) % 10) AS c
      FROM numbers({rows:UInt64}))
"""


def _client(data_dir: Path) -> Any:
    from core.settings import Settings
    from warehouse.client import make_client

    return make_client(Settings(data_dir=data_dir, clickhouse_url=None, kafka_bootstrap=None))


def mode_generate(a: argparse.Namespace) -> None:
    """Bulk-generate rows into the raw table of `tollgate up`'s warehouse (its data dir)."""
    ids = Ids(**json.loads(Path(a.ids).read_text()))
    client = _client(Path(a.data_dir))
    t0 = time.perf_counter()
    params = {"now": int(time.time()), "org": ids.org, "ws": ids.workspace, "repos": ids.repos, "keys": ids.keys}
    params.update(configs=ids.configs, types=list(AI_TYPES), models=list(MODELS), rows=a.rows)
    client.command(GENERATE_SQL, parameters=params)
    gen_s = time.perf_counter() - t0
    print(json.dumps({"generate_s": gen_s, **table_sizes(client)}))
    client.close()


def table_sizes(client: Any) -> dict:
    q = lambda sql: int(client.query(sql).result_rows[0][0])  # noqa: E731
    out = {"raw_rows": q("SELECT count() FROM requests"), "minute_rows": q("SELECT count() FROM usage_minute")}
    out["daily_rows"] = q("SELECT count() FROM usage_daily")
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    for t in ("usage_llm_hourly", "usage_llm_daily"):
        if t in tables:
            out[f"{t}_rows"] = q(f"SELECT count() FROM {t}")
    return out


def stats_cases(ids: Ids) -> dict[str, tuple[str, dict, tuple]]:
    """name -> (API path, query params, (warehouse read, args) the API runs for it)."""
    from warehouse.queries import SeriesFilter

    now = datetime.now(UTC)
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    ws = [ids.workspace]
    f = lambda start, **kw: SeriesFilter(workspace_ids=ws, start=start, end=now, limit=10_001, **kw)  # noqa: E731
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    cfg = ids.configs[3]
    return {
        "/ai/llm/stats (all configs, all time)": ("/ai/llm/stats", {}, ("llm", (ws, None, None, None))),
        "/ai/llm/stats?aiLlmId= (one config, all time)": (
            "/ai/llm/stats",
            {"aiLlmId": cfg},
            ("llm", (ws, [cfg], None, None)),
        ),
        "/ai/llm/stats?from=&to= (all configs, ragged 24h)": (
            "/ai/llm/stats",
            {"from": iso(day_ago), "to": iso(now)},
            ("llm", (ws, None, day_ago.replace(microsecond=0), now.replace(microsecond=0))),
        ),
        "/aistats/minute?repoId= (one repo, default 24h)": (
            "/aistats/minute",
            {"repoId": ids.repos[7]},
            ("series", ("minute", f(day_ago, repo_ids=[ids.repos[7]]))),
        ),
        "/aistats/minute?repoAiApiKeyId= (one key, 24h)": (
            "/aistats/minute",
            {"repoAiApiKeyId": ids.keys[11]},
            ("series", ("minute", f(day_ago, key_ids=[ids.keys[11]]))),
        ),
        "/aistats/minute (workspace, last 1h)": (
            "/aistats/minute",
            {"startDate": iso(hour_ago)},
            ("series", ("minute", f(hour_ago))),
        ),
        "/aistats/minute (workspace, default 24h)": ("/aistats/minute", {}, ("series", ("minute", f(day_ago)))),
    }


def proc_cpu_ms(pid: int) -> float:
    """utime + stime of a process (all its threads), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def measure(c: Any, path: str, params: dict, n: int = 200, warm: int = 20, pid: int | None = None) -> dict:
    for _ in range(warm):
        r = c.get(path, params=params)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
    lat = []
    cpu0 = proc_cpu_ms(pid) if pid else 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path, params=params)
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    cpu = (proc_cpu_ms(pid) - cpu0) / n if pid else 0.0
    body = r.json()
    lat.sort()
    return {
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[int(0.99 * (len(lat) - 1))],
        "rows": len(body.get("stats") or body.get("data") or []),
        "truncated": body.get("truncated", False),
        "bytes": len(r.content),
        "server_cpu_ms": cpu,
    }


def mode_sqltime(a: argparse.Namespace) -> None:
    """The warehouse read alone: the same call the API makes for each case, `--rows` (50) times
    after 5."""
    from warehouse import client as wc
    from warehouse import queries

    ids = Ids(**json.loads(Path(a.ids).read_text()))
    client = _client(Path(a.data_dir))
    out = {}
    for name, (_p, _q, (kind, args)) in stats_cases(ids).items():
        lat = []
        for i in range((a.rows or 50) + 5):
            t0 = time.perf_counter()
            if kind == "llm":
                sql, params = queries.llm_stats_query(*args)
                client.query(sql, parameters=params)
            else:
                read = getattr(wc, "read_series_json", None)
                if read is not None:
                    read(client, *args)
                else:
                    sql, params = queries.series_json_query(*args)
                    client.raw_query(sql, parameters=params)
            if i >= 5:
                lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        out[name] = {"sql_p50_ms": statistics.median(lat), "sql_p99_ms": lat[-1]}
    print(json.dumps(out))


def stats_bench(tmp: Path, logs: Path, rows: int, data_dir: Path | None = None, requests: int = 200) -> dict:
    """Generate (or reuse `data_dir`) and time every case through HTTP and the read alone."""
    data = data_dir or tmp / "stats-data"
    up = Up(data, logs)
    out: dict[str, Any] = {}
    ids_path = data / IDS_FILE
    try:
        if data_dir is None:
            up.start()
            with contextlib.closing(up.client()) as c:
                ids = create_universe(c)
            up.stop()
            ids_path.write_text(json.dumps(asdict(ids)))
            log(f"generating {rows:,} events into the raw table (the views fill the rollups)")
            out.update(run_mode(["_generate", "--data-dir", str(data), "--ids", str(ids_path), "--rows", str(rows)]))
            log(f"generated in {out['generate_s']:.1f}s: {out}")
        ids = Ids(**json.loads(ids_path.read_text()))
        out["start_s"] = up.start()
        log(f"tollgate up healthy after {out['start_s']:.1f}s")
        with contextlib.closing(up.client()) as c:
            total = sum(int(s["totalApiCalls"]) for s in c.get("/ai/llm/stats").json()["stats"])
            out["total_calls"] = total
            if data_dir is None and total != rows:
                raise RuntimeError(f"/ai/llm/stats sums to {total}, expected {rows}")
            out["queries"] = {}
            for name, (path, params, _read) in stats_cases(ids).items():
                out["queries"][name] = measure(
                    c, path, params, requests, max(5, requests // 10), up.proc.pid if up.proc else None
                )
                log(f"{name}: {out['queries'][name]}")
        up.stop()
        out.update(run_mode(["_sizes", "--data-dir", str(data), "--ids", str(ids_path)]))
        sql = run_mode(["_sqltime", "--data-dir", str(data), "--ids", str(ids_path), "--rows", str(min(50, requests))])
        for name, q in out["queries"].items():
            q.update(sql.get(name, {}))
    finally:
        up.stop()
    return out


def report(r: dict, label: str = "") -> str:
    sizes = ", ".join(f"{k.removesuffix('_rows')} {v:,}" for k, v in r.items() if k.endswith("_rows"))
    load = os.getloadavg()[0]
    L = [
        f"{label}Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {r.get('total_calls', 0):,} events "
        f"(rows: {sizes}); `tollgate up` healthy {r.get('start_s', 0):.1f}s after start; "
        f"{os.cpu_count()} cores, load average {load:.1f} at the end.",
        "",
        "| query | p50 | p99 | server CPU / request | read alone p50 / max | rows | goal p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, q in r.get("queries", {}).items():
        goal = GOALS["/ai/llm/stats" if name.startswith("/ai/llm/stats") else "/aistats/minute"]
        sql = f"{q['sql_p50_ms']:.1f} / {q['sql_p99_ms']:.1f} ms" if "sql_p50_ms" in q else "n/a"
        ok = "meets" if q["p99_ms"] <= goal else "MISSES"
        rows = f"{q['rows']:,}{' (truncated)' if q['truncated'] else ''}"
        cpu = f"{q.get('server_cpu_ms', 0):.1f} ms"
        L.append(
            f"| `{name}` | {q['p50_ms']:.1f} ms | {q['p99_ms']:.1f} ms | {cpu} | {sql} | {rows} | <= {goal:.0f} ms {ok} |"
        )
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_generate", "_sqltime", "_sizes"):
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("--data-dir", required=True)
        p.add_argument("--ids", required=True)
        p.add_argument("--rows", type=int, default=0)
        a = p.parse_args(argv)
        if a.mode == "_sizes":
            print(json.dumps(table_sizes(_client(Path(a.data_dir)))))
        else:
            {"_generate": mode_generate, "_sqltime": mode_sqltime}[a.mode](a)
        return 0
    p = argparse.ArgumentParser(prog="bench.stats", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--data-dir", type=Path, help=f"reuse a kept data dir (with {IDS_FILE}); no generation")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (and its data dir)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per query (after 10%% warm-up)")
    p.add_argument("--label", default="", help="prefix of the report's first line, e.g. 'Before: '")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-bench-stats-"))
    (tmp / "logs").mkdir()
    try:
        r = stats_bench(tmp, tmp / "logs", args.rows, args.data_dir, args.requests)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(r, args.label))
    last = Path(tempfile.gettempdir()) / "tollgate-bench-stats-last.json"
    last.write_text(json.dumps(r, default=str, indent=1))
    log(f"raw numbers: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
