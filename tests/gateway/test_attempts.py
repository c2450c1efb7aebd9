"""The attempt loop in process: a stub transport, no server. Breaker trials always end."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from producers.gateway.breaker import HALF_OPEN, OPEN, CircuitBreakers
from producers.gateway.handlers import Gateway
from producers.gateway.transport import UpstreamResponse
from store.apikeys import hash_secret
from store.snapshot import ConfigEntry, KeyEntry, RepoEntry, Snapshot

SECRET = "tg_attempt_test_key_0001"


class _Transport:
    """Answers every request with one canned Anthropic message; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def request(self, req, timeout):
        self.calls += 1
        body = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
        return UpstreamResponse(200, {}, orjson.dumps(body))


class _Publisher:
    def __init__(self) -> None:
        self.events: list = []

    def emit(self, topic, key, event) -> None:
        self.events.append(event)


def _gateway(ai_type: str, clock: list[float]) -> tuple[Gateway, _Transport, _Publisher, str]:
    cfg = ConfigEntry(
        ai_llm_id="c1",
        org_id="o",
        workspace_id="w",
        name="c1",
        ai_type=ai_type,
        endpoint="http://127.0.0.1:9",
        region=None,
        updated_at=None,
        key=None,
        secret="sk-never-sent-000000",
    )
    repo = RepoEntry("r", "o", "w", "repo", False, (cfg,))
    snap = Snapshot(
        epoch=1, keys_by_hash={hash_secret(SECRET): KeyEntry("k", "k", repo)}, repos={"r": repo}, configs={"c1": cfg}
    )
    transport, pub = _Transport(), _Publisher()
    gw = Gateway(
        SimpleNamespace(snapshot=snap),
        transport,
        pub,
        gateway_id="gw",
        breakers=CircuitBreakers(threshold=1, cooldown_s=5, clock=lambda: clock[0]),
    )
    return gw, transport, pub, "c1"


async def _call(gw: Gateway, path_endpoint: str, body: dict) -> tuple[int, dict]:
    sent: list[dict] = []
    raw = orjson.dumps(body)

    async def receive():
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", f"Bearer {SECRET}".encode())],
    }
    await gw.handle(path_endpoint, scope, receive, send)
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return status, orjson.loads(payload)


async def test_half_open_trial_that_fails_before_the_provider_ends_the_trial() -> None:
    """A trial refused by translation (never sent) must not keep the breaker half-open forever."""
    clock = [0.0]
    gw, transport, pub, cid = _gateway("ANTHROPIC", clock)
    gw.breakers.failure(cid)
    assert gw.breakers.state(cid) == OPEN
    clock[0] = 6.0
    assert gw.breakers.state(cid) == HALF_OPEN
    # n=2 cannot be expressed for Anthropic: 400 before any upstream call
    status, body = await _call(
        gw, "chat.completions", {"model": "claude-x", "n": 2, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert transport.calls == 0
    # the next request gets its trial: it reaches the provider
    status, _ = await _call(
        gw, "chat.completions", {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert status == 200 and transport.calls == 1
    assert gw.breakers.state(cid) == "closed"
    assert [e.http_status for e in pub.events] == [400, 200]
