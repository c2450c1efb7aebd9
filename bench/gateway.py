"""Gateway benchmark: Tollgate vs the LiteLLM proxy vs the upstream itself, one command.

    .venv/bin/python -m bench.gateway [--duration 10] [--no-litellm] [--no-kafka] [--no-policies] [--profile]
        [--workers 2] [--variants granian,aiohttp-lean,httpx] [--pin]

Starts the fake upstream (`python -m fakeupstream`), a real Kafka broker (`scripts/kafka.sh`),
Tollgate's gateway (`tollgate gateway`, events published to that broker) and the LiteLLM proxy
(in its own venv `bench/.venv-litellm`, created on first run with `pip install 'litellm[proxy]'`),
all on 127.0.0.1 against the same upstream; drives each with `wrk` (Lua script for POST) and
prints, from the same run: req/s at c=64 (non-streaming and streaming), p50/p99 latency added
over calling the upstream directly at c=1 and c=64, peak RSS (VmHWM, summed over a server's
processes) and error counts. A second `tollgate gateway` (own store, same broker) holds ten
active rule policies of mixed types that never fire on the benchmark's prompt (`BENCH_RULES`),
so the cost of in-path policy checks shows as "tollgate +10 policies" next to "tollgate"
(skip with `--no-policies`). `--profile` samples both gateways with py-spy (when installed; else
runs them under cProfile) during a
c=64 cell and prints where the time goes. Every cell is bounded by --duration seconds.
`--workers N` adds a `tollgate gateway --workers N` row; `--variants` adds a row per stack
variant (`VARIANTS`: the same gateway under granian, or with another upstream client);
`--pin` runs wrk and the upstream on CPU 0. The load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
OPENAI_KEY = "sk-fake-openai-0123456789abcdef"  # the fake upstream's default credential
LITELLM_MASTER_KEY = "sk-bench-" + os.urandom(16).hex()  # per run, local only
PROMPT = "hello from the benchmark, please answer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kafka(kafka_dir: Path) -> str:
    """Start the project's local broker in `kafka_dir` (blocks until it answers); its bootstrap."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "kafka.sh"), "start", "--dir", str(kafka_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    m = re.search(r"KAFKA_BOOTSTRAP=(\S+)", out.stdout)
    if not m:
        raise SystemExit(f"kafka did not start: {out.stderr[-2000:]}")
    return m.group(1)


def wait_http(url: str, timeout: float = 60.0, headers: dict | None = None, proc=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} exited while starting (see its log)")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:  # noqa: BLE001
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def _with_children(pid: int) -> list[int]:
    """The process and its direct children (uvicorn workers, a proxy's server process)."""
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(x) for x in out.split()]
    except Exception:  # noqa: BLE001
        pass
    return pids


def rss_kb(pid: int) -> int:
    """Peak RSS (VmHWM) of a process and its children, in kB."""
    total = 0
    for p in _with_children(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process and its children (utime+stime from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in _with_children(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


# ---------------------------------------------------------------- wrk
LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def _to_ms(v: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n if unit == "ms" else n * 1000 if unit == "s" else n * 60000


def wrk(url: str, key: str, body: dict, conc: int, duration: int, tmp: Path) -> dict:
    script = tmp / f"wrk-{conc}-{int(time.time() * 1000)}.lua"
    script.write_text(LUA % (json.dumps(body), key))
    threads = 1 if conc == 1 else 2
    cmd = PIN + [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(conc),
        "-d",
        f"{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    res = {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": 0, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    for pct, k in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        if m:
            res[k] = _to_ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    return res


# ---------------------------------------------------------------- servers
PROFILED = ("tollgate", "tollgate +10 policies")
PIN: list[str] = []  # `taskset -c 0` for wrk and the upstream with --pin
PYSPY = shutil.which("py-spy") or (str(Path(PY).parent / "py-spy") if (Path(PY).parent / "py-spy").exists() else None)


def _granian(genv: dict) -> tuple[list[str], dict]:
    """The same gateway app under granian (Rust HTTP server, ASGI interface, one worker)."""
    return (
        [
            PY,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            genv["TOLLGATE_PORT"],
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-ws",
            "--log-level",
            "warning",
            "tollgate.asgi:gateway",
        ],
        {},
    )


def _upstream_transport(kind: str):
    def variant(genv: dict) -> tuple[list[str], dict]:
        return [str(Path(PY).parent / "tollgate"), "gateway"], {"TOLLGATE_UPSTREAM_TRANSPORT": kind}

    return variant


# Stack variants (`--variants a,b`): each a `tollgate gateway` row of its own in the same run.
VARIANTS = {
    "granian": _granian,
    "httpx": _upstream_transport("httpx"),
    "aiohttp": _upstream_transport("aiohttp"),
    "aiohttp-lean": _upstream_transport("aiohttp-lean"),
}


class Proc:
    def __init__(
        self, name: str, cmd: list[str], env: dict | None = None, cwd: Path | None = None, log: Path | None = None
    ) -> None:
        self.name = name
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)


# Ten active rule policies of mixed types and scopes (org/workspace/repo), log (0), alert (1) and
# block (2) actions. None fires on PROMPT with model gpt-4o-mini and no max_tokens; the limits
# are far above what a run can use, so every check runs (and blocking limits reserve/settle
# budget on each request) without ever refusing.
BENCH_RULES: list[tuple[str, str, int, dict]] = [  # (name, scope, actionType, rule)
    ("allow-models", "org", 2, {"type": "MODEL_ALLOWLIST", "models": ["gpt-4o*", "gpt-4.1*", "claude-*"]}),
    ("deny-models", "workspace", 2, {"type": "MODEL_DENYLIST", "models": ["o1-pro*", "gpt-4-32k*"]}),
    ("max-tokens-hard", "org", 2, {"type": "MAX_TOKENS", "limit": 16384}),
    ("max-tokens-log", "repo", 0, {"type": "MAX_TOKENS", "limit": 4096}),
    ("no-cards-ibans", "org", 2, {"type": "CONTENT_PATTERN", "detectors": ["CREDIT_CARD", "IBAN"]}),
    ("pii-log", "workspace", 0, {"type": "CONTENT_PATTERN", "detectors": ["EMAIL", "PHONE", "CLOUD_ACCESS_KEY"]}),
    (
        "secrets-regex",
        "repo",
        2,
        {
            "type": "CONTENT_PATTERN",
            "patterns": [
                r"(?i)\bpassword\s*[:=]\s*\S+",
                r"\b\d{3}-\d{2}-\d{4}\b",
                r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----",
            ],
        },
    ),
    ("token-budget", "repo", 2, {"type": "TOKEN_BUDGET", "limit": 10**13, "period": "MONTH", "per": "KEY"}),
    ("rate-requests", "org", 2, {"type": "RATE_LIMIT", "requests": 10**9, "window": "MINUTE", "per": "REPO"}),
    (
        "rate-tokens",
        "workspace",
        1,
        {"type": "RATE_LIMIT", "tokens": 10**12, "requests": 10**9, "window": "HOUR", "per": "WORKSPACE"},
    ),
]


async def seed_tollgate(data_dir: Path, upstream: str, policies: bool = False) -> str:
    """Config + repo + key (+ BENCH_RULES when `policies`) straight into the store; returns the
    bearer secret."""
    sys.path.insert(0, str(ROOT))
    from core.settings import Settings
    from policy.rules import parse_rule, rule_to_wire
    from store import apikeys
    from store.db import make_engine, make_sessionmaker
    from store.epoch import bump_epoch
    from store.models import AiLlm, Org, Policy, Repo, RepoAiLlm, RepoApiKey, Workspace, new_id
    from store.sealing import seal

    s = Settings(data_dir=data_dir)
    engine = make_engine(s.sqlalchemy_url)
    sm = make_sessionmaker(engine)
    prefix, secret = apikeys.generate()
    async with sm() as db, db.begin():
        org = Org(name="bench")
        db.add(org)
        await db.flush()
        ws = Workspace(org_id=org.id, name="bench")
        db.add(ws)
        await db.flush()
        cid = new_id()
        db.add(
            AiLlm(
                id=cid,
                org_id=org.id,
                workspace_id=ws.id,
                name="fake-openai",
                ai_type="OPENAI",
                endpoint=upstream + "/v1",
                secret_sealed=seal(s.secret_key_bytes, OPENAI_KEY, cid),
            )
        )
        repo = Repo(org_id=org.id, workspace_id=ws.id, name="bench")
        db.add(repo)
        await db.flush()
        db.add(RepoAiLlm(repo_id=repo.id, ai_llm_id=cid, position=0))
        db.add(RepoApiKey(repo_id=repo.id, name="bench", key_prefix=prefix, secret_hash=apikeys.hash_secret(secret)))
        for name, scope, action, rule in BENCH_RULES if policies else []:
            db.add(
                Policy(
                    org_id=org.id,
                    workspace_id=ws.id if scope != "org" else None,
                    repo_id=repo.id if scope == "repo" else None,
                    name=name,
                    content="",
                    risk_type="MEDIUM",
                    action_type=action,
                    rule=rule_to_wire(parse_rule(rule)),
                )
            )
        await bump_epoch(db)
    await engine.dispose()
    return secret


def ensure_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        print("creating bench/.venv-litellm (pip install 'litellm[proxy]') ...", flush=True)
        subprocess.run([PY, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return exe


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--no-kafka", action="store_true", help="publish events to the in-process bus instead")
    ap.add_argument("--no-policies", action="store_true", help="skip the gateway with ten rule policies")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--workers", type=int, default=0, help="also run `tollgate gateway --workers N` as a row (e.g. 2)")
    ap.add_argument(
        "--variants", default="", help="comma-separated stack variants as extra rows: " + ", ".join(VARIANTS)
    )
    ap.add_argument(
        "--pin", action="store_true", help="pin wrk and the upstream to CPU 0 (taskset); servers run unpinned"
    )
    a = ap.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    global PIN
    PIN = ["taskset", "-c", "0"] if a.pin else []
    print(
        f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True
    )
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (Debian: apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    procs: list[Proc] = []
    kafka_dir = tmp / "kafka"
    results: dict[str, dict] = {}
    try:
        up_port = free_port()
        procs.append(
            Proc(
                "upstream", PIN + [PY, "-m", "fakeupstream", "--port", str(up_port)], cwd=ROOT, log=tmp / "upstream.log"
            )
        )
        upstream = f"http://127.0.0.1:{up_port}"
        wait_http(upstream + "/v1/models", headers={"authorization": f"Bearer {OPENAI_KEY}"})

        env = {"TOLLGATE_HOST": "127.0.0.1"}
        if not a.no_kafka:
            env["TOLLGATE_KAFKA_BOOTSTRAP"] = start_kafka(kafka_dir)

        def start_tollgate(
            name: str, policies: bool, profile: bool, variant: str = "", workers: int = 1
        ) -> tuple[str, str, Proc]:
            """Own SQLite store (migrated, seeded), same upstream and broker; returns url, key, proc."""
            genv = dict(
                env,
                TOLLGATE_DATA_DIR=str(tmp / name),
                TOLLGATE_PORT=str(free_port()),
                TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
            )
            tg_bin = str(Path(PY).parent / "tollgate")
            subprocess.run([tg_bin, "migrate"], env={**os.environ, **genv}, check=True, capture_output=True)
            key = asyncio.run(seed_tollgate(tmp / name, upstream, policies=policies))
            gw_cmd = [tg_bin, "gateway"] + (["--workers", str(workers)] if workers > 1 else [])
            if variant:
                gw_cmd, extra = VARIANTS[variant](genv)
                genv.update(extra)
            if profile and not PYSPY:
                gw_cmd = [PY, "-m", "cProfile", "-o", str(tmp / f"{name}.prof")] + (
                    [tg_bin] + gw_cmd[1:] if gw_cmd[0] == tg_bin else ["-m"] + gw_cmd[2:]
                )
            proc = Proc(name, gw_cmd, env=genv, log=tmp / f"{name}.log")
            procs.append(proc)
            url = f"http://127.0.0.1:{genv['TOLLGATE_PORT']}"
            wait_http(url + "/health", proc=proc)
            wait_http(url + "/v1/models", headers={"authorization": f"Bearer {key}"})
            return url + "/v1/chat/completions", key, proc

        tg_url, key, tg = start_tollgate("tollgate", False, a.profile)
        targets = {
            "upstream (direct)": (upstream + "/v1/chat/completions", OPENAI_KEY, None),
            "tollgate": (tg_url, key, tg),
        }
        if not a.no_policies:
            targets["tollgate +10 policies"] = start_tollgate("tollgate-policies", True, a.profile)
        if a.workers > 1:
            targets[f"tollgate {a.workers} workers"] = start_tollgate(
                "tollgate-workers", False, False, workers=a.workers
            )
        for v in variants:
            targets[f"tollgate {v}"] = start_tollgate(f"tollgate-{v}", False, False, variant=v)
        if not a.no_litellm:
            exe = ensure_litellm()
            cfg = tmp / "litellm.yaml"
            cfg.write_text(
                "model_list:\n"
                "  - model_name: gpt-4o-mini\n"
                "    litellm_params:\n"
                "      model: openai/gpt-4o-mini\n"
                f"      api_base: {upstream}/v1\n"
                f"      api_key: {OPENAI_KEY}\n"
                "litellm_settings:\n"
                "  drop_params: true\n"
                "general_settings:\n"
                f"  master_key: {LITELLM_MASTER_KEY}\n"
            )
            lport = free_port()
            ll = Proc(
                "litellm",
                [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(lport), "--num_workers", "1"],
                log=tmp / "litellm.log",
                env={
                    "LITELLM_LOG": "ERROR",
                    "LITELLM_TELEMETRY": "False",
                    "NO_DOCS": "True",
                    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                },
            )
            procs.append(ll)
            wait_http(f"http://127.0.0.1:{lport}/health/liveliness", timeout=180, proc=ll)
            targets["litellm"] = (f"http://127.0.0.1:{lport}/v1/chat/completions", LITELLM_MASTER_KEY, ll)

        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
        sbody = dict(body, stream=True)
        # Cell by cell across targets (not target by target), so the rows compared with each
        # other were measured minutes apart at most, under the same background load.
        results = {name: {} for name in targets}
        for name, (url, k, proc) in targets.items():
            wrk(url, k, body, 8, 2, tmp)  # warm-up (connections, caches)
        for name, (url, k, proc) in targets.items():
            results[name]["c1"] = wrk(url, k, body, 1, a.duration, tmp)
        for name, (url, k, proc) in targets.items():
            cpu0 = cpu_s(proc.p.pid) if proc else 0.0
            spy = None
            if a.profile and PYSPY and proc is not None and name in PROFILED:
                spy = subprocess.Popen(
                    [
                        PYSPY,
                        "record",
                        "--pid",
                        str(proc.p.pid),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--duration",
                        str(a.duration),
                        "-o",
                        str(tmp / f"{proc.name}.spy"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            results[name]["c64"] = r = wrk(url, k, body, 64, a.duration, tmp)
            if spy is not None:
                spy.wait(30)
            if proc:
                results[name]["cpu_us_per_req"] = (cpu_s(proc.p.pid) - cpu0) / max(r["requests"], 1) * 1e6
        for name, (url, k, proc) in targets.items():
            results[name]["c64s"] = wrk(url, k, sbody, 64, a.duration, tmp)
            results[name]["rss_mb"] = rss_kb(proc.p.pid) / 1024 if proc else float("nan")
            print(f"  {name}: done", flush=True)
        report(results, a.duration)
        print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        if a.profile:
            for name, (_, _, proc) in targets.items():
                if proc is not None and name in PROFILED:
                    proc.stop()
                    print(f"--- profile: {name}")
                    if PYSPY:
                        show_spy(tmp / f"{proc.name}.spy")
                    else:
                        show_profile(tmp / f"{proc.name}.prof")
    finally:
        for p in reversed(procs):
            p.stop()
        if kafka_dir.exists():
            subprocess.run(
                ["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", "--dir", str(kafka_dir)],
                capture_output=True,
                timeout=60,
            )
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp)
    return 0


def report(res: dict, duration: int) -> None:
    base = res["upstream (direct)"]
    print(f"\nGateway benchmark ({duration}s per cell, wrk, same run, 127.0.0.1, {os.cpu_count()} cores)")
    hdr = (
        f"{'target':22} {'rps c64':>9} {'rps c64 stream':>15} {'p50+ c1':>9} {'p99+ c1':>9} "
        f"{'p50+ c64':>9} {'p99+ c64':>9} {'RSS MB':>8} {'errors':>7} {'CPU us/req':>10}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, r in res.items():
        add = (lambda c, p: r[c][p] - base[c][p]) if name != "upstream (direct)" else (lambda c, p: r[c][p])
        errs = r["c1"]["errors"] + r["c64"]["errors"] + r["c64s"]["errors"]
        print(
            f"{name:22} {r['c64']['rps']:9.0f} {r['c64s']['rps']:15.0f} {add('c1', 'p50'):9.3f} "
            f"{add('c1', 'p99'):9.3f} {add('c64', 'p50'):9.2f} {add('c64', 'p99'):9.2f} {r['rss_mb']:8.1f} {errs:7d} {r.get('cpu_us_per_req', float('nan')):10.0f}"
        )
    print(
        "(upstream row: absolute latency in ms; other rows: ms added over the upstream row;"
        " CPU us/req: the server's own CPU per non-streaming request at c=64)"
    )
    if "litellm" in res and res["litellm"]["c64"]["rps"]:
        print(
            f"tollgate/litellm req/s: non-stream {res['tollgate']['c64']['rps'] / res['litellm']['c64']['rps']:.1f}x, "
            f"stream {res['tollgate']['c64s']['rps'] / max(res['litellm']['c64s']['rps'], 1e-9):.1f}x"
        )
    pol = res.get("tollgate +10 policies")
    if pol is not None and res["tollgate"]["c64"]["rps"]:
        t = res["tollgate"]
        print(
            "ten rule policies vs none: req/s c=64 "
            f"{pol['c64']['rps']:.0f} vs {t['c64']['rps']:.0f} "
            f"({(pol['c64']['rps'] / t['c64']['rps'] - 1) * 100:+.1f}%), streaming "
            f"{(pol['c64s']['rps'] / max(t['c64s']['rps'], 1e-9) - 1) * 100:+.1f}%; "
            + "; ".join(
                f"{p}+ c={c[1:]} {pol[c][p] - base[c][p]:.3f} vs {t[c][p] - base[c][p]:.3f} ms"
                for c in ("c1", "c64")
                for p in ("p50", "p99")
            )
            + f"; CPU/req {pol.get('cpu_us_per_req', 0):.0f} vs {t.get('cpu_us_per_req', 0):.0f} us"
        )
    print("raw:", json.dumps(res))


def show_spy(path: Path, top: int = 30) -> None:
    """py-spy's collapsed stacks -> the share of samples per function: self, and inclusive for
    Tollgate's own code (a sampling profile: no per-call overhead, unlike cProfile)."""
    if not path.exists():
        print("no profile written")
        return
    self_n: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = [re.sub(r" \(/.*?/(site-packages/)?", " (", f) for f in stack.split(";")]
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + k
        for f in set(frames):
            incl[f] = incl.get(f, 0) + k
    print(f"{total} samples; self time:")
    for f, k in sorted(self_n.items(), key=lambda x: -x[1])[:top]:
        print(f"  {100 * k / total:5.1f}%  {f}")
    print("inclusive, Tollgate's code:")
    ours = [(f, k) for f, k in incl.items() if re.search(r"\((producers|policy|tollgate|eventlog|core|store)/", f)]
    for f, k in sorted(ours, key=lambda x: -x[1])[:top]:
        print(f"  {100 * k / total:5.1f}%  {f}")


def show_profile(path: Path) -> None:
    import pstats

    if not path.exists():
        print("no profile written")
        return
    st = pstats.Stats(str(path))
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(r"producers|tollgate|store|schemas", 30)


if __name__ == "__main__":
    sys.exit(main())
