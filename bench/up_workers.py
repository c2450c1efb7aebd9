"""`tollgate up` with 1 vs N gateway workers: req/s through the embedded stack, and counts.

    .venv/bin/python -m bench.up_workers [--workers 2] [--duration 10] [--conc 64] [--rounds 2]

Starts the fake upstream, then for each round and each worker count (1, N; alternating, so a
change in the machine's load shows as a difference between rounds) a fresh `tollgate up
--workers n` on its own temp data dir (SQLite store, local event logs, embedded ClickHouse),
creates a configuration, repository and key through its API, warms up, and drives
`/v1/chat/completions` (non-streaming) with `wrk` (`bench.gateway.wrk`). Prints req/s, p50/p99
latency, errors, and the requests counted in `/ai/llm/stats` during the cell next to the
answers wrk saw (counted may exceed answered by the requests in flight when wrk stopped). The
load average is printed with every cell.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.gateway import OPENAI_KEY, PROMPT, free_port, wrk

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("bench@up.workers", "bench-password-123")
SECRET_KEY = "dG9sbGdhdGUtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE="  # local benchmark only


def _wait(url: str, proc: subprocess.Popen, timeout: float = 300.0, ok: tuple[int, ...] = (200,)) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy in {timeout}s")


def _up(tmp: Path, n: int, upstream: str) -> tuple[subprocess.Popen, str, str, str, dict]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.update(
        TOLLGATE_DATA_DIR=str(tmp / f"up{n}-{port}"),
        TOLLGATE_PORT=str(port),
        TOLLGATE_SECRET_KEY=SECRET_KEY,
        TOLLGATE_JWT_SECRET="bench-jwt-secret-of-32-bytes-or-more-000",
        TOLLGATE_ADMIN_EMAIL=ADMIN[0],
        TOLLGATE_ADMIN_PASSWORD=ADMIN[1],
        TOLLGATE_LOG_LEVEL="WARNING",
        TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
    )
    log = open(tmp / f"up{n}-{port}.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "tollgate.cli", "up", "--workers", str(n)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    _wait(url + "/health", proc)
    token = httpx.post(url + "/user/login", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=30).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=h, timeout=30) as c:
        ws = c.post("/workspace", json={"name": "bench"}).json()["workspace"]["id"]
        llm = c.post(
            "/ai/llm",
            json={
                "name": "o",
                "aiType": "OPENAI",
                "endpoint": upstream + "/v1",
                "secret": OPENAI_KEY,
                "workspaceId": ws,
            },
        ).json()["aiLlmId"]
        repo = c.post("/repo", json={"name": "r", "workspaceId": ws, "repoAiLlms": [{"aiLlmId": llm}]}).json()["repoId"]
        key = c.post(f"/repo/{repo}/ai/apikey", json={"name": "k", "aiType": "OPENAI"}).json()["secret"]
    end = time.monotonic() + 60
    while httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code != 200:
        if time.monotonic() > end:
            raise RuntimeError("key never reached the gateway")
        time.sleep(0.1)
    return proc, url, key, llm, h


def _calls(url: str, llm: str, h: dict) -> int:
    r = httpx.get(url + "/ai/llm/stats", params={"aiLlmId": llm}, headers=h, timeout=60)
    return int(r.json()["stats"][0]["totalApiCalls"])


def _settled(url: str, llm: str, h: dict, quiet_s: float = 2.0, limit: float = 120.0) -> int:
    last, since, end = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end:
        cur = _calls(url, llm, h)
        if cur != last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.25)
    return last


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.up_workers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tollgate-bench-up-"))
    up_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "fakeupstream", "--port", str(up_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    upstream = f"http://127.0.0.1:{up_port}"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
    print(f"cores {os.cpu_count()}; wrk c={a.conc} {a.duration}s, non-streaming chat completions", flush=True)
    print(
        f"{'up --workers':>12} {'round':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'answered':>8} {'counted':>7}  load avg",
        flush=True,
    )
    try:
        _wait(upstream + "/v1/models", fake, ok=(200, 401))  # answering (a key is needed for 200)
        for rnd in range(1, a.rounds + 1):
            for n in (1, a.workers):
                proc, url, key, llm, h = _up(tmp, n, upstream)
                try:
                    wrk(url + "/v1/chat/completions", key, body, 8, 2, tmp)  # warm-up
                    before = _settled(url, llm, h)
                    res = wrk(url + "/v1/chat/completions", key, body, a.conc, a.duration, tmp)
                    counted = _settled(url, llm, h) - before
                    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                    print(
                        f"{n:>12} {rnd:>5} {res['rps']:>8.0f} {res['p50']:>7.1f} {res['p99']:>7.1f} "
                        f"{res['errors']:>6} {res['requests']:>8} {counted:>7}  {load}",
                        flush=True,
                    )
                finally:
                    proc.terminate()
                    proc.wait(90)
    finally:
        fake.terminate()
        fake.wait(30)


if __name__ == "__main__":
    main()
