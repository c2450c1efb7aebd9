"""Fault tests on a real broker with separate `tollgate gateway` processes: every answered
request reaches Kafka exactly once, whatever happens to the gateways or the broker.

Each gateway has its own data dir (its local event log) and shares one SQLite config store;
clients tally the request ids of the 200s they got. At the end the requests topic is read back
as the consumers read it (read_committed): every answered id is there, no id is there twice
(also after a broker SIGKILL), and the only ids there without a 200 are requests that were in
flight when a gateway was SIGKILLed (logged before their last byte).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.live import TEST_SECRET_KEY
from tests.support.secrets import capture_text, register_secret

pytestmark = [pytest.mark.kafka, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = "tollgate.requests.v1"
WORKERS = 6
DIAG: dict[str, list] = {}  # request id -> where it was found (gateway, partition, offset, log offset)
# uvicorn (>= 0.29) re-raises the signal after its graceful shutdown: a clean SIGTERM stop ends
# with -SIGTERM; a crash or a hang would give something else (or time out).
CLEAN_EXIT = (0, -signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """`python -m tollgate.cli gateway` on its own data dir (same store, same broker)."""

    def __init__(self, tmp: Path, name: str, store_url: str, bootstrap: str) -> None:
        self.data_dir = tmp / name
        self.log = tmp / f"{name}.log"
        self.name, self.store_url, self.bootstrap = name, store_url, bootstrap
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for /health; returns the seconds it took."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        env.update(
            TOLLGATE_DATA_DIR=str(self.data_dir),
            TOLLGATE_DATABASE_URL=self.store_url,
            TOLLGATE_KAFKA_BOOTSTRAP=self.bootstrap,
            TOLLGATE_PORT=str(self.port),
            TOLLGATE_SECRET_KEY=TEST_SECRET_KEY,
            TOLLGATE_GATEWAY_ID=self.name,
            TOLLGATE_LOG_LEVEL="WARNING",
            TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
        )
        t0 = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tollgate.cli", "gateway"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        while time.monotonic() - t0 < timeout:
            assert self.proc.poll() is None, f"gateway {self.name} exited:\n{self.tail()}"
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gateway {self.name} not healthy in {timeout}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, float]:
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        capture_text(self.log.read_bytes(), f"gateway {self.name} output")
        return rc, time.monotonic() - t0

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Tally:
    """Request ids answered 200, per gateway; requests that failed in flight, per gateway."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: set[str] = field(default_factory=set)
    failed: int = 0
    non_200: int = 0


def _load(gws: list[Gateway], secret: str, tally: Tally, stop: threading.Event) -> list[threading.Thread]:
    def worker(w: int) -> None:
        gw = gws[w % len(gws)]
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {w}"}]}
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.post(
                        gw.url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {secret}"}
                    )
                except httpx.HTTPError:
                    with tally.lock:
                        tally.failed += 1
                    time.sleep(0.05)  # the gateway is down: try again shortly
                    continue
                with tally.lock:
                    if r.status_code == 200:
                        tally.ok.add(r.headers["x-request-id"])
                    else:
                        tally.non_200 += 1

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(WORKERS)]
    for t in threads:
        t.start()
    return threads


def _wait_answers(tally: Tally, more: int, limit: float = 20.0) -> None:
    with tally.lock:
        want = len(tally.ok) + more
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with tally.lock:
            if len(tally.ok) >= want:
                return
        time.sleep(0.02)
    raise AssertionError(f"load stalled: {len(tally.ok)} answered, wanted {want}")


async def _topic_ids(bootstrap: str, key_id: str, expect: set[str], timeout: float = 60.0) -> list[str]:
    """Request ids of `key_id`'s events on the requests topic (all of them, duplicates kept)."""
    from aiokafka import AIOKafkaConsumer

    from schemas.events import RequestEvent

    DIAG.clear()
    c = AIOKafkaConsumer(
        REQUESTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
    )
    await c.start()
    ids: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=300, max_records=10_000)
            for ms in batch.values():
                for m in ms:
                    e = RequestEvent.from_wire(m.value)
                    if e.repo_ai_api_key_id == key_id:
                        ids.append(e.request_id)
                        DIAG.setdefault(e.request_id, []).append(
                            (e.gateway_id, m.partition, m.offset, dict(m.headers or ()).get("tg-off"))
                        )
            if expect <= set(ids):
                quiet_until = quiet_until or time.monotonic() + 2.0  # a duplicate would show now
                if time.monotonic() >= quiet_until:
                    break
    finally:
        await c.stop()
    return ids


def _seed(store_url: str, fake) -> tuple[str, str]:
    """Org, workspace, an OPENAI config on the fake upstream, a repo and its key."""
    from core.settings import Settings
    from store import apikeys
    from store.db import make_engine, make_sessionmaker
    from store.epoch import bump_epoch
    from store.migrate import upgrade_engine
    from store.models import AiLlm, Org, Repo, RepoAiLlm, RepoApiKey, Workspace, new_id
    from store.sealing import seal

    async def go() -> tuple[str, str]:
        engine = make_engine(Settings(database_url=store_url).sqlalchemy_url)
        try:
            await upgrade_engine(engine)
            key = Settings(secret_key=TEST_SECRET_KEY).secret_key_bytes
            async with make_sessionmaker(engine)() as s, s.begin():
                org = Org(name="faults")
                s.add(org)
                await s.flush()
                ws = Workspace(org_id=org.id, name="faults")
                s.add(ws)
                await s.flush()
                cid, rid, kid = new_id(), new_id(), new_id()
                s.add(
                    AiLlm(
                        id=cid,
                        org_id=org.id,
                        workspace_id=ws.id,
                        name="openai",
                        ai_type="OPENAI",
                        endpoint=fake.endpoints["OPENAI"],
                        secret_sealed=seal(key, fake.creds.openai_key, cid),
                    )
                )
                s.add(Repo(id=rid, org_id=org.id, workspace_id=ws.id, name="faults"))
                await s.flush()
                s.add(RepoAiLlm(repo_id=rid, ai_llm_id=cid, position=0))
                prefix, secret = apikeys.generate()
                register_secret(secret)
                s.add(
                    RepoApiKey(
                        id=kid, repo_id=rid, name="k", key_prefix=prefix, secret_hash=apikeys.hash_secret(secret)
                    )
                )
                await bump_epoch(s)
            return kid, secret
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture
def cluster(tmp_path: Path, private_kafka, fake_upstream):
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    key_id, secret = _seed(store_url, fake_upstream)
    made: list[Gateway] = []

    def gateway(name: str) -> Gateway:
        g = Gateway(tmp_path, name, store_url, private_kafka.bootstrap)
        made.append(g)
        return g

    yield private_kafka, gateway, key_id, secret
    for g in made:
        g.kill_if_running()


def _check(answered: set[str], ids: list[str], in_flight_kills: int, label: str) -> None:
    counted = set(ids)
    twice = len(ids) - len(counted)
    print(
        f"\n{label}: answered {len(answered)}, counted {len(counted)}, twice {twice}, "
        f"counted without a 200 {len(counted - answered)}"
    )
    assert answered <= counted, f"{len(answered - counted)} answered request(s) lost"
    dups = {rid: DIAG.get(rid) for rid in counted if ids.count(rid) > 1}
    assert twice == 0, f"{twice} event(s) on the topic twice: {dups}"
    assert len(counted - answered) <= WORKERS * in_flight_kills, "more unanswered events than requests in flight"


@pytest.mark.xfail(
    strict=False,
    reason="known defect (issue 9): a gateway that was NOT killed once shipped 3 records twice within one "
    "process, right after aiokafka retried a produce that failed with NotEnoughReplicasError inside a "
    "transaction; root cause not found yet, so exactly-once here is not yet guaranteed",
)
def test_sigkill_of_a_gateway_under_load(cluster) -> None:
    kafka, gateway, key_id, secret = cluster
    a, b = gateway("gw-a"), gateway("gw-b")
    a.start()
    b.start()
    tally, stop = Tally(), threading.Event()
    threads = _load([a, b], secret, tally, stop)
    try:
        for _ in range(3):
            _wait_answers(tally, 150)
            a.stop(signal.SIGKILL)
            a.start()
        _wait_answers(tally, 150)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    asyncio.run(_topic_ids(kafka.bootstrap, key_id, tally.ok))  # shipped while running
    assert a.stop()[0] in CLEAN_EXIT and b.stop()[0] in CLEAN_EXIT
    ids = asyncio.run(_topic_ids(kafka.bootstrap, key_id, tally.ok))
    _check(tally.ok, ids, 3, "SIGKILL x3 under load")


@pytest.mark.parametrize("hard", [False, True], ids=["broker-sigterm", "broker-sigkill"])
def test_broker_outage_sigterm_sigkill_and_a_gateway_started_during_it(cluster, hard: bool) -> None:
    kafka, gateway, key_id, secret = cluster
    a, b = gateway("gw-a"), gateway("gw-b")
    a.start()
    b.start()
    tally, stop = Tally(), threading.Event()
    threads = _load([a, b], secret, tally, stop)
    try:
        _wait_answers(tally, 150)
        kafka.stop(hard=hard)  # broker stopped (or killed) under load
        _wait_answers(tally, 150)  # gateways keep answering
        rc, took = a.stop(signal.SIGTERM)  # graceful stop during the outage
        assert rc in CLEAN_EXIT and took < 15, (rc, took)
        b.stop(signal.SIGKILL)  # and a crash during the outage
        c = gateway("gw-c")
        started = c.start()  # a gateway started during the outage
        print(f"\ngateway started during the outage in {started:.1f}s")
        assert started < 20
        before = len(tally.ok)
        stop.set()
        for t in threads:
            t.join(15)
        stop.clear()
        a.start()
        b.start()
        threads = _load([a, b, c], secret, tally, stop)
        _wait_answers(tally, 150)
        assert len(tally.ok) > before
        kafka.start()  # the broker returns: everything ships
        _wait_answers(tally, 150, limit=30)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    asyncio.run(_topic_ids(kafka.bootstrap, key_id, tally.ok))  # shipped while running
    for g in (a, b, c):
        assert g.stop()[0] in CLEAN_EXIT, g.tail()
    logs = a.log.read_text(errors="replace") + b.log.read_text(errors="replace")
    assert logs.count("Unclosed AIOKafkaProducer") == 0
    ids = asyncio.run(_topic_ids(kafka.bootstrap, key_id, tally.ok))
    _check(tally.ok, ids, 1, f"broker {'SIGKILL' if hard else 'SIGTERM'}, gateway SIGTERM + SIGKILL + start during it")
