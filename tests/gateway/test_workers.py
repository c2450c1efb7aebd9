"""`tollgate gateway --workers 2` on a real broker: both workers serve the one port, every
answered request reaches Kafka and nothing unanswered does.

Clients open a new connection per request (SO_REUSEPORT spreads connections, not requests) and
tally the request ids of their 200s; the requests topic is read back at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests.kafka.test_gateway_faults import ROOT, Tally, _free_port, _seed
from tests.support.live import TEST_SECRET_KEY
from tests.support.secrets import capture_text
from tollgate.workers import worker_settings

pytestmark = [pytest.mark.kafka, pytest.mark.integration]
CLIENTS = 6


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except OSError:
            pass
    return found


def _poll(cond, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _load(url: str, secret: str, tally: Tally, stop: threading.Event) -> list[threading.Thread]:
    def client(w: int) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {w}"}]}
        while not stop.is_set():
            try:  # a fresh connection each time: the kernel picks a worker per connection
                r = httpx.post(
                    url + "/v1/chat/completions",
                    json=body,
                    timeout=10,
                    headers={"authorization": f"Bearer {secret}", "connection": "close"},
                )
            except httpx.HTTPError:
                with tally.lock:
                    tally.failed += 1
                continue
            with tally.lock:
                if r.status_code == 200:
                    tally.ok.add(r.headers["x-request-id"])
                else:
                    tally.non_200 += 1

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads


def test_worker_settings_split_log_and_gateway_id(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, gateway_id="gw", port=0)
    w0, w1 = worker_settings(s, 0, 4321), worker_settings(s, 1, 4321)
    assert (w0.port, w1.port, w0.workers) == (4321, 4321, 1)
    assert w0.eventlog_dir is None and w1.eventlog_dir == tmp_path / "workers" / "1"
    assert (w0.gateway_id, w1.gateway_id) == ("gw-w0", "gw-w1")
    assert worker_settings(Settings(data_dir=tmp_path), 1, 1).gateway_id is None  # hostname-pid


def test_two_workers_serve_and_count_each_request_once(tmp_path: Path, kafka_bootstrap, fake_upstream) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    key_id, secret = _seed(store_url, fake_upstream)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.update(
        TOLLGATE_DATA_DIR=str(tmp_path / "gw"),
        TOLLGATE_DATABASE_URL=store_url,
        TOLLGATE_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TOLLGATE_PORT=str(port),
        TOLLGATE_SECRET_KEY=TEST_SECRET_KEY,
        TOLLGATE_GATEWAY_ID=f"gw{port}",
        TOLLGATE_LOG_LEVEL="WARNING",
        TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
    )
    log_path = tmp_path / "gw.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tollgate.cli", "gateway", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tally, stop = Tally(), threading.Event()
    threads: list[threading.Thread] = []
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _poll(healthy, "/health", 90)
        _poll(lambda: len(_workers(proc.pid)) == 2, "two worker processes")
        threads = _load(url, secret, tally, stop)
        _poll(lambda: len(tally.ok) >= 300, "300 answers", 240)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
        capture_text(log_path.read_bytes(), "gateway --workers 2 output")
    assert rc == 0, log_path.read_text(errors="replace")[-3000:]
    assert tally.non_200 == 0

    async def events() -> list:
        from aiokafka import AIOKafkaConsumer

        from schemas.events import RequestEvent

        c = AIOKafkaConsumer(
            "tollgate.requests.v1",
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            isolation_level="read_committed",
        )
        await c.start()
        got: list = []
        quiet = 0.0
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                batch = await c.getmany(timeout_ms=300, max_records=10_000)
                new = [(RequestEvent.from_wire(m.value), m) for ms in batch.values() for m in ms]
                got += [(e, m) for e, m in new if e.repo_ai_api_key_id == key_id]
                if not new and tally.ok <= {e.request_id for e, _ in got}:
                    quiet = quiet or time.monotonic() + 2.0  # a duplicate would show now
                    if time.monotonic() >= quiet:
                        break
        finally:
            await c.stop()
        return got

    got = asyncio.run(events())
    ids = [e.request_id for e, _ in got]
    counted = set(ids)
    assert tally.ok <= counted, f"{len(tally.ok - counted)} answered request(s) not counted"
    assert not counted - tally.ok
    # exactly once: a duplicate names where each copy sits and which log record it came from
    twice = sorted(
        (e.request_id, e.gateway_id, m.partition, m.offset, dict(m.headers or ()).get("tg-off"))
        for e, m in got
        if ids.count(e.request_id) > 1
    )
    print(f"\nanswered {len(tally.ok)}, counted {len(counted)}, events {len(ids)}")
    assert len(ids) == len(counted), f"events counted twice: {twice}"
    served_by = {e.gateway_id for e, _ in got}
    assert served_by == {f"gw{port}-w0", f"gw{port}-w1"}, served_by
