"""The gateway's own CPU per request, in process: the whole `tollgate gateway` ASGI stack
(lifespan, metrics, body limit, dispatch, gateway, policy hooks, event log append) driven with
in-memory ASGI messages, the provider replaced by a stub transport that answers at once.

    .venv/bin/python -m bench.inproc [--requests 20000] [--policies] [--stream] [--profile]

No server and no network: what is left is Tollgate's code plus SQLite appends, so a change
to the hot path shows here in µs without the noise of a shared machine. `--profile` prints
cProfile's top functions (inflates small calls; use it to find, time without it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import gateway as bg

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
)
STREAM = [
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n',
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n',
    b"data: [DONE]\n\n",
]


class _Stream:
    status = 200
    headers: dict[str, str] = {"content-type": "text/event-stream"}

    async def chunks(self):
        for c in STREAM:
            yield c

    async def read_all(self) -> bytes:
        return b"".join(STREAM)

    async def close(self) -> None:
        return None


class StubTransport:
    """Answers every provider call at once (models list, chat, chat stream)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def request(self, req: Any, timeout: float) -> Any:
        from producers.gateway.transport import UpstreamResponse

        if req.method == "GET":
            return UpstreamResponse(200, {}, b'{"object":"list","data":[{"id":"gpt-4o-mini"}]}')
        return UpstreamResponse(200, {"content-type": "application/json"}, ANSWER)

    async def open_stream(self, req: Any, timeout: float) -> Any:
        return _Stream()


async def drive(app: Any, key: str, n: int, stream: bool) -> float:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": bg.PROMPT}]}
    if stream:
        body["stream"] = True
    raw = orjson.dumps(body)
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(raw)).encode()),
    ]
    statuses: dict[int, int] = {}

    async def one() -> None:
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                statuses[msg["status"]] = statuses.get(msg["status"], 0) + 1

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8080),
        }
        await app(scope, receive, send)

    for _ in range(200):
        await one()
    t0 = time.process_time()
    for _ in range(n):
        await one()
    dt = time.process_time() - t0
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses: {statuses}")
    return dt / n * 1e6


async def run(a: argparse.Namespace, tmp: Path) -> None:
    from core.settings import Settings
    from producers.gateway import app as gw_app
    from tollgate.runtime import build_gateway_app

    os.environ["TOLLGATE_DATA_DIR"] = str(tmp)
    subprocess.run(
        [bg.PY, "-m", "tollgate.cli", "migrate"], check=True, capture_output=True, env=dict(os.environ), cwd=bg.ROOT
    )
    key = await bg.seed_tollgate(tmp, "http://127.0.0.1:9", policies=a.policies)
    gw_app.make_transport = lambda *args, **kw: StubTransport()  # type: ignore[assignment]
    app = build_gateway_app(Settings(data_dir=tmp, allow_private_endpoints="127.0.0.0/8"))
    q: asyncio.Queue = asyncio.Queue()
    out: asyncio.Queue = asyncio.Queue()
    await q.put({"type": "lifespan.startup"})
    life = asyncio.create_task(app({"type": "lifespan"}, q.get, out.put))
    msg = await out.get()
    if msg["type"] != "lifespan.startup.complete":
        raise SystemExit(f"start-up failed: {msg}")
    try:
        if a.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            us = await drive(app, key, a.requests, a.stream)
            prof.disable()
            st = pstats.Stats(prof)
            st.sort_stats("tottime").print_stats(35)
            st.sort_stats("cumulative").print_stats(40)
        else:
            best = min([await drive(app, key, a.requests, a.stream) for _ in range(a.repeat)])
            us = best
        print(f"{'stream' if a.stream else 'plain'}{' +10 policies' if a.policies else ''}: {us:.1f} µs CPU/request")
    finally:
        await q.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(life, 30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", action="store_true")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-inproc-") as d:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(run(a, Path(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
