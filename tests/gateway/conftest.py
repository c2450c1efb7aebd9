"""Fixtures for the gateway tests: a live gateway (uvicorn thread) seeded against the fake upstream.

`gw` (module scope) -> `Env` with `.gw` (LiveGateway: `.url`, `.publisher` recording events,
`.run(coro)`), `.fake` (FakeUpstream), `.keys[name]` (bearer secrets per repository), `.key_ids`,
`.repos`, `.cfg` (config ids by name). `client(name)` builds an official `openai.OpenAI` client
for that repository's key (no SDK retries, so the gateway's own behaviour is what we see).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai
import orjson
import pytest
import uvicorn

from tests.gateway.harness import LiveGateway, free_port


@dataclass
class Env:
    gw: LiveGateway
    fake: object
    slow_url: str
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)
    repos: dict[str, str] = field(default_factory=dict)
    cfg: dict[str, str] = field(default_factory=dict)

    def client(self, repo: str, **kw) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.gw.url, api_key=self.keys[repo], max_retries=0, timeout=kw.pop("timeout", 20.0), **kw
        )


# ---------------------------------------------------------------- a slow OpenAI-wire upstream
SLOW_CHUNKS = 30
SLOW_DELAY_S = 0.1


async def slow_app(scope, receive, send) -> None:
    """Streams SLOW_CHUNKS OpenAI chunks, one every SLOW_DELAY_S; usage only at the very end."""
    import asyncio

    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"].endswith("/models"):
        body = orjson.dumps({"object": "list", "data": [{"id": "slow-model", "object": "model"}]})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "slow-model"}
    for i in range(SLOW_CHUNKS):
        chunk = dict(base, choices=[{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}])
        await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(chunk) + b"\n\n", "more_body": True})
        await asyncio.sleep(SLOW_DELAY_S)
    usage = dict(
        base,
        choices=[],
        usage={"prompt_tokens": 11, "completion_tokens": SLOW_CHUNKS, "total_tokens": 11 + SLOW_CHUNKS},
    )
    await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n"})


@pytest.fixture(scope="module")
def slow_upstream():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(slow_app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    t.join(5)


def _dead_endpoint() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, fake_upstream, slow_upstream):
    fake = fake_upstream
    env = Env(gw=None, fake=fake, slow_url=slow_upstream)  # type: ignore[arg-type]
    c = fake.creds
    ep = fake.endpoints

    async def seed(live: LiveGateway) -> None:
        org, ws = await live.add_org_ws()
        cfg = env.cfg
        cfg["openai"] = await live.add_config(org, ws, "openai-main", "OPENAI", ep["OPENAI"], c.openai_key)
        cfg["other"] = await live.add_config(org, ws, "compat", "OTHER", ep["OTHER"], c.openai_key)
        cfg["anthropic"] = await live.add_config(org, ws, "claude", "ANTHROPIC", ep["ANTHROPIC"], c.anthropic_key)
        cfg["google"] = await live.add_config(org, ws, "gem", "GOOGLE", ep["GOOGLE"], c.google_key)
        cfg["aws"] = await live.add_config(
            org, ws, "bedrock-main", "AWS", ep["AWS"], c.aws_secret_key, key=c.aws_access_key_id, region="us-east-1"
        )
        cfg["dead"] = await live.add_config(org, ws, "dead", "OPENAI", _dead_endpoint(), c.openai_key)
        cfg["dead2"] = await live.add_config(org, ws, "dead2", "OPENAI", _dead_endpoint(), c.openai_key)
        cfg["openai_b"] = await live.add_config(org, ws, "openai-b", "OPENAI", ep["OPENAI"], c.openai_key)
        cfg["slow"] = await live.add_config(org, ws, "slow", "OTHER", slow_upstream, "sk-slow-000000000000")
        cfg["badcred"] = await live.add_config(org, ws, "badcred", "OPENAI", ep["OPENAI"], "sk-wrong-000000000000")
        layout = {
            "all": ["openai", "anthropic", "google", "aws"],
            "fallback": ["openai", "other"],
            "deadfirst": ["dead", "openai"],
            "single": ["openai"],
            "breaker": ["dead2", "openai_b"],
            "slow": ["slow"],
            "toggle": ["openai"],
            "gone": ["openai"],
            "badcred": ["badcred"],
            "other": ["other"],
        }
        for name, cfgs in layout.items():
            env.repos[name] = await live.add_repo(org, ws, name, [cfg[x] for x in cfgs])
            env.key_ids[name], env.keys[name] = await live.add_key(env.repos[name], f"key-{name}")

    live = LiveGateway(Path(tmp_path_factory.mktemp("gw")), upstream_timeout_s=1.5)
    env.gw = live
    live.start(seed)
    # Model lists are fetched in the background at start; wait so routing by list is settled.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        live.gateway.models.known(c) is None for c in live.gateway.refresher.snapshot.configs.values()
    ):
        time.sleep(0.05)
    yield env
    live.stop()
