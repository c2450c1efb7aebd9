"""An upstream that quotes the credential back: the gateway never relays or logs it.

The echo upstream (127.0.0.1) answers with the bearer secret in its error messages, error
types, answers and streams, raw and encoded (base64, base64url, URL-encoding, HTTP Basic),
and in a stream split across chunks. Every answer the client gets must be free of all forms.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest
import uvicorn

from tests.gateway.harness import LiveGateway, free_port

SECRET = "sk-echo-Secret/Value+0123456789abcdef"
MODELS = ["echo-400", "echo-500", "echo-ok", "echo-stream", "echo-stream-400"]


def _forms(s: str) -> list[str]:
    return [
        s,
        base64.b64encode(s.encode()).decode(),
        base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
        quote(s, safe=""),
        base64.b64encode(b"user:" + s.encode()).decode(),
    ]


def _leaky(s: str) -> str:
    return "key " + " | ".join(_forms(s))


async def echo_app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    auth = dict(scope["headers"]).get(b"authorization", b"").decode()
    secret = auth.removeprefix("Bearer ")

    async def answer(status: int, doc: dict) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": orjson.dumps(doc)})

    if scope["path"].endswith("/models"):
        await answer(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})
        return
    model = orjson.loads(body).get("model")
    if model in ("echo-400", "echo-500", "echo-stream-400"):
        status = 500 if model == "echo-500" else 400
        await answer(status, {"error": {"message": _leaky(secret), "type": f"bad_{secret}", "code": secret}})
        return
    if model == "echo-ok":
        await answer(
            200,
            {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": _leaky(secret)}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": _leaky(secret)}, "finish_reason": None}],
    }
    data = b"data: " + orjson.dumps(chunk) + b"\n\n"
    cut = data.index(secret.encode()) + 7  # the secret split across two network chunks
    for part in (data[:cut], data[cut:], b"data: [DONE]\n\n"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
        await asyncio.sleep(0.05)
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(echo_app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    keys: dict[str, str] = {}

    async def seed(live: LiveGateway) -> None:
        org, ws = await live.add_org_ws()
        cfg = await live.add_config(org, ws, "echo", "OPENAI", f"http://127.0.0.1:{port}/v1", SECRET)
        repo = await live.add_repo(org, ws, "echo", [cfg])
        keys["echo"] = (await live.add_key(repo))[1]
        keys["other"] = (await live.add_key(repo, "other"))[1]
        keys["cfg"] = cfg

    live = LiveGateway(Path(tmp_path_factory.mktemp("hostile")), upstream_timeout_s=3.0)
    live.start(seed)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        live.gateway.models.known(c) is None for c in live.gateway.refresher.snapshot.configs.values()
    ):
        time.sleep(0.05)
    yield live, keys
    live.stop()
    server.should_exit = True
    t.join(5)


def _clean(text: str) -> None:
    for f in _forms(SECRET):
        assert f not in text, "a form of the provider secret reached the client"


@pytest.mark.parametrize(
    "model, stream",
    [("echo-400", False), ("echo-500", False), ("echo-ok", False), ("echo-stream", True), ("echo-stream-400", True)],
)
def test_echoed_credentials_are_scrubbed(hostile, model, stream):
    live, keys = hostile
    with httpx.Client(base_url=live.url, timeout=10, headers={"authorization": f"Bearer {keys['echo']}"}) as c:
        r = c.post(
            "/chat/completions",
            json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
        )
    _clean(r.text)
    assert "[redacted]" in r.text, r.text  # the message stays useful: the rest of it is kept
    if model == "echo-ok":
        assert r.status_code == 200
    elif model == "echo-stream":
        assert r.status_code == 200 and "data: [DONE]" in r.text
    else:
        assert r.status_code in (400, 502)


def test_one_clients_bad_input_does_not_open_the_breaker_for_everyone(hostile):
    """An input the upstream answers with a plain 500 (echo-500) is retried by one client many
    times: the configuration stays available to every key; the same 500 met by two keys is the
    provider's fault and opens the breaker."""
    from producers.gateway.breaker import CLOSED, OPEN

    live, keys = hostile
    breakers = live.gateway.breakers
    breakers._states.clear()
    bad = {"model": "echo-500", "messages": [{"role": "user", "content": "hi"}]}
    ok = {"model": "echo-ok", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=live.url, timeout=10) as c:
        for _ in range(breakers.threshold * 3):
            r = c.post("/chat/completions", json=bad, headers={"authorization": f"Bearer {keys['echo']}"})
            assert r.status_code == 502
        assert breakers.state(keys["cfg"]) == CLOSED
        r = c.post("/chat/completions", json=ok, headers={"authorization": f"Bearer {keys['other']}"})
        assert r.status_code == 200
        for _ in range(breakers.threshold):
            for k in ("echo", "other"):
                c.post("/chat/completions", json=bad, headers={"authorization": f"Bearer {keys[k]}"})
        assert breakers.state(keys["cfg"]) == OPEN
    breakers._states.clear()
