"""Embedded mode proven end to end: `tollgate up` without Kafka counts every request once and
keeps the counts across a restart (clean SIGTERM, and SIGKILL while events are in flight).

`tollgate up` runs as a real subprocess on a temp data dir (SQLite config store, in-process
bus, embedded ClickHouse engine). Configs, repository and key are created through the API;
real `/v1/chat/completions` calls go to the fake upstream; totals are read from
`/ai/llm/stats`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.live import TEST_SECRET_KEY
from tests.support.secrets import capture_text, register_secret

pytestmark = pytest.mark.clickhouse

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("owner@embedded.test", "owner-password-embedded")
# uvicorn (>= 0.29) re-raises the signal after its graceful shutdown, so a clean SIGTERM stop
# ends with -SIGTERM; a crash or a hang would give something else (or time out).
CLEAN_EXIT = (0, -signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UpProcess:
    """`python -m tollgate.cli up` on a data dir (no TOLLGATE_KAFKA_BOOTSTRAP, no ClickHouse URL)."""

    def __init__(self, data_dir: Path, args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.args = args
        self.log = data_dir.parent / f"{data_dir.name}-up.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 300.0) -> None:  # the embedded engine starts slowly under load
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        env.update(
            TOLLGATE_DATA_DIR=str(self.data_dir),
            TOLLGATE_PORT=str(port),
            TOLLGATE_HOST="127.0.0.1",
            TOLLGATE_SECRET_KEY=TEST_SECRET_KEY,
            TOLLGATE_JWT_SECRET="embedded-test-jwt-secret-of-32-bytes-or-more",
            TOLLGATE_ADMIN_EMAIL=ADMIN[0],
            TOLLGATE_ADMIN_PASSWORD=ADMIN[1],
            TOLLGATE_SNAPSHOT_POLL_S="0.1",
            TOLLGATE_LOG_LEVEL="WARNING",
            TOLLGATE_ALLOW_PRIVATE_ENDPOINTS="127.0.0.0/8",
        )  # fakeupstream on loopback
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tollgate.cli", "up", *self.args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"tollgate up exited ({self.proc.returncode}):\n{self.tail()}"
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"tollgate up not healthy in {timeout}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            capture_text(self.log.read_bytes(), "tollgate up output")

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _login(url: str) -> dict[str, str]:
    r = httpx.post(url + "/user/login", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _setup(url: str, fake) -> dict:
    """Workspace, one OPENAI config on the fake upstream, a repository and its key, via the API."""
    h = _login(url)
    register_secret(fake.creds.openai_key)
    with httpx.Client(base_url=url, headers=h, timeout=30) as c:
        ws = c.post("/workspace", json={"name": f"emb-{uuid.uuid4().hex[:6]}"}).json()["workspace"]["id"]
        r = c.post(
            "/ai/llm",
            json={
                "name": "openai",
                "aiType": "OPENAI",
                "endpoint": fake.endpoints["OPENAI"],
                "secret": fake.creds.openai_key,
                "workspaceId": ws,
            },
        )
        assert r.status_code in (200, 201) and r.json()["success"], r.text
        llm = r.json()["aiLlmId"]
        r = c.post("/repo", json={"name": "app", "workspaceId": ws, "repoAiLlms": [{"aiLlmId": llm}]})
        assert r.status_code in (200, 201), r.text
        repo = r.json()["repoId"]
        r = c.post(f"/repo/{repo}/ai/apikey", json={"name": "k", "aiType": "OPENAI"})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
    register_secret(secret)
    deadline = time.monotonic() + 30
    while httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code != 200:
        assert time.monotonic() < deadline, "the key never reached the gateway snapshot"
        time.sleep(0.05)
    return {"llm": llm, "secret": secret}


@dataclass
class Tally:
    ok: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    done_at: list[float] = field(default_factory=list)  # monotonic time each 200 was complete
    ids: list[tuple[float, str]] = field(default_factory=list)  # (done_at, x-request-id) of each 200
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call(client: httpx.Client, secret: str, i: int, tally: Tally) -> None:
    """One chat completion (every 4th streamed, with usage); a 200 is tallied once read in full."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"count me {i} " + "y " * (i % 7)}]}
    headers = {"Authorization": f"Bearer {secret}"}
    if i % 4 == 3:
        body.update(stream=True, stream_options={"include_usage": True})
        with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            if r.status_code != 200:
                return
            rid = r.headers["x-request-id"]
            usage = None
            for line in r.iter_lines():
                if line.startswith("data: {") and '"usage":{' in line.replace(" ", ""):
                    usage = httpx.Response(200, content=line[6:]).json().get("usage") or usage
        assert usage is not None, "stream ended without usage"
    else:
        r = client.post("/v1/chat/completions", json=body, headers=headers)
        if r.status_code != 200:
            return
        usage = r.json()["usage"]
        rid = r.headers["x-request-id"]
    with tally.lock:
        tally.ok += 1
        tally.tokens_in += usage["prompt_tokens"]
        tally.tokens_out += usage["completion_tokens"]
        tally.done_at.append(time.monotonic())
        tally.ids.append((tally.done_at[-1], rid))


def _stats(url: str, llm: str) -> tuple[int, int, int]:
    r = httpx.get(url + "/ai/llm/stats", params={"aiLlmId": llm}, headers=_login(url), timeout=30)
    assert r.status_code == 200, r.text
    s = r.json()["stats"][0]
    return int(s["totalApiCalls"]), int(s["totalTokensIn"]), int(s["totalTokensOut"])


def _settled(url: str, llm: str, want_calls: int | None, quiet_s: float = 2.0, limit: float = 60.0):
    """Poll the stats until they equal `want_calls` (then hold `quiet_s` longer, so an over-count
    would show) or, with no target, until they stop changing for `quiet_s`."""
    deadline = time.monotonic() + limit
    last, since = None, time.monotonic()
    with httpx.Client(base_url=url, headers=_login(url), timeout=30) as c:
        while time.monotonic() < deadline:
            s = c.get("/ai/llm/stats", params={"aiLlmId": llm}).json()["stats"][0]
            cur = (int(s["totalApiCalls"]), int(s["totalTokensIn"]), int(s["totalTokensOut"]))
            if cur != last:
                last, since = cur, time.monotonic()
            reached = want_calls is None or cur[0] == want_calls
            if reached and time.monotonic() - since >= quiet_s:
                return cur
            time.sleep(0.2)
    return last


def _stored_request_ids(data_dir: Path, llm: str) -> set[str]:
    """Request ids of `llm`'s events still in the local event log (read after the process
    died). Older records may be gone already: the log trims what every reader has passed."""
    from eventlog.bus import LOG_FILE
    from eventlog.store import EventLog
    from schemas.events import RequestEvent

    lg = EventLog(data_dir / LOG_FILE, 1 << 30)
    try:
        ids: set[str] = set()
        for r in lg.read("tollgate.requests.v1", 0, 10_000_000):
            ev = RequestEvent.from_wire(r.value)
            if ev.ai_llm_id == llm:
                ids.add(ev.request_id)
        return ids
    finally:
        lg.close()


_COUNT_ROWS = """
import json, sys
from pathlib import Path
from core.settings import Settings
from warehouse.client import make_client
c = make_client(Settings(data_dir=Path(sys.argv[1]), clickhouse_url=None, kafka_bootstrap=None))
rows = c.query("SELECT request_id, count() FROM requests WHERE ai_llm_id = {l:String} GROUP BY request_id",
               parameters={"l": sys.argv[2]}).result_rows
print(json.dumps({r[0]: int(r[1]) for r in rows}))
"""


def _rows_per_request(data_dir: Path, llm: str) -> dict[str, int]:
    """Raw `requests` rows per request id, read from the stopped process's embedded engine
    (in a subprocess: the engine admits one data dir per process)."""
    p = subprocess.run(
        [sys.executable, "-c", _COUNT_ROWS, str(data_dir), llm], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_up_counts_every_request_once_and_keeps_them_across_sigterm_restart(tmp_path, fake_upstream) -> None:
    up = UpProcess(tmp_path / "data")
    try:
        up.start()
        env = _setup(up.url, fake_upstream)
        tally = Tally()
        n = 60
        with httpx.Client(base_url=up.url, timeout=30) as c:
            for i in range(n):
                _call(c, env["secret"], i, tally)
        assert tally.ok == n
        want = (n, tally.tokens_in, tally.tokens_out)
        assert _settled(up.url, env["llm"], n) == want
        assert up.stop(signal.SIGTERM) in CLEAN_EXIT, up.tail()

        up.start()
        assert _stats(up.url, env["llm"]) == want  # kept, and nothing replayed twice
        with httpx.Client(base_url=up.url, timeout=30) as c:  # still metering after the restart
            for i in range(n, n + 10):
                _call(c, env["secret"], i, tally)
        assert _settled(up.url, env["llm"], n + 10) == (n + 10, tally.tokens_in, tally.tokens_out)
        assert up.stop(signal.SIGTERM) in CLEAN_EXIT, up.tail()
    finally:
        up.kill_if_running()


# A request's event is appended to the local event log (SQLite WAL: durable against process
# death once the append returned) BEFORE the response's last byte is handed to the socket. So
# no request whose 200 was received can be lost by a SIGKILL; a request in flight at the kill
# may be counted without its client having seen the answer.
LOAD_S = 4.0  # the load runs this long before the kill, so most 200s are older than the window


def test_up_sigkill_under_load_loses_no_answered_request_and_doubles_nothing(tmp_path, fake_upstream) -> None:
    up = UpProcess(tmp_path / "data")
    try:
        up.start()
        env = _setup(up.url, fake_upstream)
        tally = Tally()
        with httpx.Client(base_url=up.url, timeout=30) as c:
            for i in range(20):
                _call(c, env["secret"], i, tally)
        stop = threading.Event()

        def worker(w: int) -> None:
            with httpx.Client(base_url=up.url, timeout=10) as c:
                i = 1000 * (w + 1)
                while not stop.is_set():
                    try:
                        _call(c, env["secret"], i, tally)
                    except (httpx.HTTPError, AssertionError):
                        if stop.is_set():
                            return
                    i += 1

        with ThreadPoolExecutor(8) as pool:
            futs = [pool.submit(worker, w) for w in range(8)]
            load_from = time.monotonic()
            deadline = load_from + 60
            while (tally.ok < 220 or time.monotonic() - load_from < LOAD_S) and time.monotonic() < deadline:
                time.sleep(0.01)
            up.stop(signal.SIGKILL)
            stop.set()
            for f in futs:
                f.result(30)
        assert tally.ok >= 220, "the load did not get going"
        ok = tally.ok
        stored = _stored_request_ids(tmp_path / "data", env["llm"])
        up.start()
        calls, tin, tout = _settled(up.url, env["llm"], None, quiet_s=3.0)
        ok_ids = {rid for _, rid in tally.ids}
        print(f"\nSIGKILL under load: {ok} requests got a 200, {calls} counted after restart")
        # and a second restart changes nothing (no replay of what was already counted)
        assert up.stop(signal.SIGTERM) in CLEAN_EXIT, up.tail()
        up.start()
        assert _stats(up.url, env["llm"]) == (calls, tin, tout)
        assert up.stop(signal.SIGTERM) in CLEAN_EXIT, up.tail()
        # exact, per request: one raw row each; every answered request is counted (its event was
        # logged before the last byte); the only extra ones are requests in flight at the kill
        # (logged, then the process died before their last byte reached the client)
        rows = _rows_per_request(tmp_path / "data", env["llm"])
        assert sum(rows.values()) == len(rows) == calls, "raw rows, distinct requests and stats disagree"
        assert ok_ids <= set(rows), f"{len(ok_ids - set(rows))} answered request(s) lost"
        assert len(set(rows) - ok_ids) <= 8, "more counted-but-unanswered requests than were in flight"
        assert stored <= set(rows), f"{len(stored - set(rows))} stored event(s) never counted"
    finally:
        up.kill_if_running()
