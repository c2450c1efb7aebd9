"""A/B the gateway's CPU per request between checkouts, alternating short cells.

    .venv/bin/python -m bench.cpu_ab [--code base=/work/main --code new=.] [--rounds 3]
        [--duration 5] [--conc 64] [--policies] [--kafka] [--stream] [--spy NAME]

Starts the fake upstream and one `tollgate gateway` per `--code NAME=DIR` (that checkout's
code, this venv's packages, own SQLite store seeded like `bench.gateway`), then runs wrk cells
round-robin over the gateways (so each pair is measured seconds apart, under the same
background load) and prints, per gateway, the median over rounds of: the server's CPU
(utime+stime from /proc) per request, req/s, and p50/p99 at that concurrency. CPU per request
is the number to compare on a shared machine; req/s moves with the load of the other tenants.
`--spy NAME` samples that gateway with py-spy during its cells and prints the top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import gateway as bg

ROOT = bg.ROOT


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", action="append", default=[], help="NAME=DIR (default: this checkout as 'new')")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--policies", action="store_true", help="seed the ten BENCH_RULES policies")
    ap.add_argument("--kafka", action="store_true", help="ship events to a real broker (scripts/kafka.sh)")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--spy", default="", help="py-spy the named gateway during its cells")
    ap.add_argument("--pin", action="store_true", help="wrk and the upstream on CPU 0")
    a = ap.parse_args()
    codes = dict(c.split("=", 1) for c in a.code) or {"new": str(ROOT)}
    bg.PIN = ["taskset", "-c", "0"] if a.pin else []
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-ab-"))
    procs: list[bg.Proc] = []
    kafka_dir = tmp / "kafka"
    try:
        up_port = bg.free_port()
        procs.append(
            bg.Proc(
                "upstream",
                bg.PIN + [bg.PY, "-m", "fakeupstream", "--port", str(up_port)],
                cwd=ROOT,
                log=tmp / "upstream.log",
            )
        )
        upstream = f"http://127.0.0.1:{up_port}"
        bg.wait_http(upstream + "/v1/models", headers={"authorization": f"Bearer {bg.OPENAI_KEY}"})
        env = {"TOLLGATE_HOST": "127.0.0.1"}
        if a.kafka:
            env["TOLLGATE_KAFKA_BOOTSTRAP"] = bg.start_kafka(kafka_dir)
        targets: dict[str, tuple[str, str, bg.Proc]] = {}
        for name, code in codes.items():
            code = str(Path(code).resolve())
            genv = dict(
                env,
                TOLLGATE_DATA_DIR=str(tmp / name),
                TOLLGATE_PORT=str(bg.free_port()),
                TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
                PYTHONPATH=code,
            )
            cli = [bg.PY, "-m", "tollgate.cli"]
            subprocess.run(cli + ["migrate"], env={**os.environ, **genv}, cwd=code, check=True, capture_output=True)
            key = asyncio.run(bg.seed_tollgate(tmp / name, upstream, policies=a.policies))
            proc = bg.Proc(name, cli + ["gateway"], env=genv, cwd=Path(code), log=tmp / f"{name}.log")
            procs.append(proc)
            url = f"http://127.0.0.1:{genv['TOLLGATE_PORT']}"
            bg.wait_http(url + "/health", proc=proc)
            bg.wait_http(url + "/v1/models", headers={"authorization": f"Bearer {key}"})
            targets[name] = (url + "/v1/chat/completions", key, proc)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": bg.PROMPT}]}
        if a.stream:
            body["stream"] = True
        for url, key, _ in targets.values():
            bg.wrk(url, key, body, 8, 2, tmp)
        rows: dict[str, list[dict]] = {n: [] for n in targets}
        for _ in range(a.rounds):
            for name, (url, key, proc) in targets.items():
                spy = None
                if name == a.spy:
                    spy = subprocess.Popen(
                        [bg.PYSPY or "py-spy", "record", "--pid", str(proc.p.pid), "--rate", "200"]
                        + ["--format", "raw", "--nonblocking", "--duration", str(a.duration)]
                        + ["-o", str(tmp / f"{name}-{len(rows[name])}.spy")],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                c0 = bg.cpu_s(proc.p.pid)
                r = bg.wrk(url, key, body, a.conc, a.duration, tmp)
                r["cpu_us"] = (bg.cpu_s(proc.p.pid) - c0) / max(r["requests"], 1) * 1e6
                if spy is not None:
                    spy.wait(30)
                rows[name].append(r)
                print(
                    f"  {name:10} {r['rps']:8.0f} req/s  {r['cpu_us']:6.0f} us/req  "
                    f"p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  errors {r['errors']}",
                    flush=True,
                )
        print(f"\nmedian of {a.rounds} rounds, c={a.conc}{' stream' if a.stream else ''}, {a.duration}s cells:")
        for name, rs in rows.items():
            med = {k: statistics.median(r[k] for r in rs) for k in ("rps", "cpu_us", "p50", "p99")}
            errs = sum(r["errors"] for r in rs)
            print(
                f"  {name:10} {med['rps']:8.0f} req/s  {med['cpu_us']:6.0f} us/req  "
                f"p50 {med['p50']:.2f} ms  p99 {med['p99']:.2f} ms  errors {errs}"
            )
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if a.spy:
            merged = tmp / f"{a.spy}.spy"
            with merged.open("w") as out_f:
                for p in sorted(tmp.glob(f"{a.spy}-*.spy")):
                    out_f.write(p.read_text())
            bg.show_spy(merged, top=40)
    finally:
        for p in reversed(procs):
            p.stop()
        if kafka_dir.exists():
            subprocess.run(
                ["bash", str(ROOT / "scripts" / "kafka.sh"), "stop", "--dir", str(kafka_dir)],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
