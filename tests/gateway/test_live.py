"""The gateway end to end: official openai SDK -> live gateway -> fake upstream (all families)."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from fakeupstream.rules import REPLY_PREFIX
from producers.gateway.usage import estimate_prompt_tokens


def words(s: str) -> int:
    return len(s.split())


@pytest.fixture(autouse=True)
def _clean(gw):
    """Faults, counters and breaker state never leak from one test into the next."""
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield
    gw.fake.control.reset()


def one_event(env, request_id: str):
    evs = env.gw.publisher.wait_for(request_id)
    assert len(evs) == 1, f"expected exactly one event for {request_id}, got {len(evs)}"
    return evs[0]


# model as the client sends it, expected aiType
CHAT_MODELS = [
    ("gpt-4o-mini", "OPENAI"),
    ("claude-3-5-haiku-20241022", "ANTHROPIC"),
    ("gemini-2.0-flash", "GOOGLE"),
    ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "AWS"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "AWS"),
]


def test_models_lists_every_family(gw) -> None:
    ids = {m.id for m in gw.client("all").models.list()}
    assert {
        "gpt-4o-mini",
        "claude-sonnet-4-20250514",
        "gemini-2.0-flash",
        "anthropic.claude-3-haiku-20240307-v1:0",
    } <= ids


@pytest.mark.parametrize("model,ai_type", CHAT_MODELS)
def test_chat_non_stream(gw, model, ai_type) -> None:
    client = gw.client("all")
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there gateway"}],
        metadata={"user_id": "u-1", "conversation_id": "conv-9"},
    )
    rid = raw.headers["x-request-id"]
    assert float(raw.headers["x-tollgate-overhead-ms"]) >= 0
    resp = raw.parse()
    text = resp.choices[0].message.content
    assert text == REPLY_PREFIX + "hello there gateway"
    assert resp.usage.prompt_tokens == 5 and resp.usage.completion_tokens == words(text)
    ev = one_event(gw, rid)
    assert ev.ai_type == ai_type and ev.status == "ok" and ev.http_status == 200
    assert ev.tokens_in == 5 and ev.tokens_out == words(text) and ev.usage_source == "provider"
    assert ev.user_id == "u-1" and ev.conversation_id == "conv-9"
    assert ev.model == model and ev.repo_ai_api_key_id == gw.key_ids["all"]
    assert [a.status for a in ev.attempts] == ["ok"]
    assert "hello" not in ev.to_wire().decode()  # no prompt text on the wire


def test_metadata_is_not_forwarded(gw) -> None:
    gw.fake.control.reset()
    gw.client("single").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], metadata={"user_id": "u"}
    )
    assert "metadata" not in gw.fake.control.last_requests["openai"]


@pytest.mark.parametrize("model,ai_type", CHAT_MODELS)
@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream(gw, model, ai_type, include_usage) -> None:
    client = gw.client("all")
    kw = {"stream_options": {"include_usage": True}} if include_usage else {}
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "stream me some words please"}], stream=True, **kw
    )
    rid = raw.headers["x-request-id"]
    parts, usage_chunks = [], []
    for chunk in raw.parse():
        if chunk.usage is not None:
            usage_chunks.append(chunk.usage)
        for ch in chunk.choices:
            if ch.delta.content:
                parts.append(ch.delta.content)
    text = "".join(parts)
    assert text == REPLY_PREFIX + "stream me some words please"
    ev = one_event(gw, rid)
    assert ev.stream and ev.status == "ok" and ev.ai_type == ai_type
    assert ev.tokens_in == 5 and ev.tokens_out == words(text) and ev.usage_source == "provider"
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0].completion_tokens == words(text)
    else:
        assert usage_chunks == []


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.0-flash", "anthropic.claude-3-haiku-20240307-v1:0"]
)
def test_tools(gw, model) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    resp = gw.client("all").chat.completions.create(
        model=model, messages=[{"role": "user", "content": "please call get_weather Paris"}], tools=tools
    )
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"query": "Paris"}


def test_tools_streaming_openai_sdk_accumulates(gw) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    args, names = "", set()
    stream = gw.client("all").chat.completions.create(
        model="claude-3-5-haiku-20241022",
        messages=[{"role": "user", "content": "call lookup the thing"}],
        tools=tools,
        stream=True,
    )
    for chunk in stream:
        for ch in chunk.choices:
            for tc in ch.delta.tool_calls or ():
                if tc.function.name:
                    names.add(tc.function.name)
                args += tc.function.arguments or ""
    assert names == {"lookup"} and json.loads(args) == {"query": "the thing"}


def test_response_format_json(gw) -> None:
    resp = gw.client("all").chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "give json"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(resp.choices[0].message.content) == {"reply": REPLY_PREFIX + "give json"}


@pytest.mark.parametrize(
    "model,ai_type",
    [("text-embedding-3-small", "OPENAI"), ("text-embedding-004", "GOOGLE"), ("amazon.titan-embed-text-v2:0", "AWS")],
)
def test_embeddings(gw, model, ai_type) -> None:
    inputs = ["one two", "three"] if ai_type != "AWS" else ["one two three"]  # Titan: one input per call
    raw = gw.client("all").embeddings.with_raw_response.create(model=model, input=inputs)
    resp = raw.parse()
    assert len(resp.data) == len(inputs) and all(len(d.embedding) == 8 for d in resp.data)
    ev = one_event(gw, raw.headers["x-request-id"])
    assert ev.endpoint == "embeddings" and ev.ai_type == ai_type
    if ev.usage_source == "provider":
        assert ev.tokens_in == 3  # the fake counts words
    else:  # Gemini reports no usage for embeddings: the documented estimate (4 chars/token)
        assert ai_type == "GOOGLE" and ev.tokens_in == estimate_prompt_tokens({"input": ["one two", "three"]})
    assert resp.usage.prompt_tokens == ev.tokens_in  # the client is told what is metered


def test_embeddings_unsupported_family_is_400(gw) -> None:
    with pytest.raises(openai.BadRequestError):
        gw.client("all").embeddings.create(model="anthropic/claude-3-5-haiku-20241022", input="x")


# ---------------------------------------------------------------- errors
def test_bad_key_is_401_without_event(gw) -> None:
    before = len(gw.gw.publisher.items)
    bad = openai.OpenAI(base_url=gw.gw.url, api_key="tg_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ei.value.response.headers.get("x-request-id")
    assert ei.value.body["code"] == "invalid_api_key"
    r = httpx.get(gw.gw.url + "/models")
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    time.sleep(0.1)
    assert len(gw.gw.publisher.items) == before


def test_unknown_model_is_404_with_event(gw) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        gw.client("all").chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    rid = ei.value.response.headers["x-request-id"]
    assert ei.value.body["code"] == "model_not_found"
    ev = one_event(gw, rid)
    assert ev.status == "error" and ev.http_status == 404 and ev.attempts == []


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", "invalid_json"),
        (b"[1,2]", "invalid_json"),
        (b'{"model":"gpt-4o-mini"}', "invalid_request"),
        (b'{"messages":[{"role":"user","content":"x"}]}', "invalid_request"),
        (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream":"yes"}', "invalid_request"),
    ],
)
def test_bad_request_is_400(gw, body, code) -> None:
    r = httpx.post(
        gw.gw.url + "/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {gw.keys['all']}", "content-type": "application/json"},
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == code and err["type"] == "invalid_request_error" and err["message"]
    one_event(gw, r.headers["x-request-id"])


def test_oversized_body_is_413(gw) -> None:
    big = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"a" * (9 * 1024 * 1024) + b'"}]}'
    r = httpx.post(gw.gw.url + "/chat/completions", content=big, headers={"authorization": f"Bearer {gw.keys['all']}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_unknown_path_and_method(gw) -> None:
    h = {"authorization": f"Bearer {gw.keys['all']}"}
    r = httpx.get(gw.gw.url + "/nothing", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url" and r.headers["x-request-id"]
    r = httpx.get(gw.gw.url + "/chat/completions", headers=h)
    assert r.status_code == 405 and r.headers["x-request-id"]


def test_upstream_client_error_passes_through_as_400(gw) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        gw.client("single").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "wizard", "content": "x"}])
    assert "wizard" in ei.value.message
    ev = one_event(gw, ei.value.response.headers["x-request-id"])
    assert ev.http_status == 400 and [a.http_status for a in ev.attempts] == [400]


def test_provider_unknown_model_is_404(gw) -> None:
    with pytest.raises(openai.NotFoundError):
        gw.client("single").chat.completions.create(
            model="openai/gpt-does-not-exist", messages=[{"role": "user", "content": "x"}]
        )


def test_provider_credentials_rejected_is_502(gw) -> None:
    with pytest.raises(openai.APIStatusError) as ei:
        gw.client("badcred").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 502 and ei.value.body["code"] == "upstream_auth_error"
    assert "sk-wrong" not in ei.value.response.text


def test_upstream_429_everywhere_is_429_with_retry_after(gw) -> None:
    gw.fake.control.reset()
    gw.fake.control.fail(429, count=2, family="openai", retry_after=7)
    with pytest.raises(openai.RateLimitError) as ei:
        gw.client("fallback").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ei.value.response.headers["retry-after"] == "7"
    ev = one_event(gw, ei.value.response.headers["x-request-id"])
    assert ev.http_status == 429 and [a.http_status for a in ev.attempts] == [429, 429]


def test_upstream_500_after_fallbacks_is_502(gw) -> None:
    gw.fake.control.reset()
    gw.fake.control.fail(500, count=1, family="openai")
    with pytest.raises(openai.APIStatusError) as ei:
        gw.client("single").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 502
    ev = one_event(gw, ei.value.response.headers["x-request-id"])
    assert ev.status == "error" and ev.http_status == 502 and len(ev.attempts) == 1


def test_upstream_timeout_is_504(gw) -> None:
    gw.fake.control.reset()
    gw.fake.control.hang(3.0, count=1, family="openai")
    t = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        gw.client("single").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 504 and time.monotonic() - t < 3.0
    ev = one_event(gw, ei.value.response.headers["x-request-id"])
    assert ev.attempts[0].error_type == "timeout"


# ---------------------------------------------------------------- fallback & breaker
@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("stream", [False, True])
def test_fallback_to_next_config(gw, status, stream) -> None:
    gw.fake.control.reset()
    gw.fake.control.fail(status, count=1, family="openai")
    raw = gw.client("fallback").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "fall back"}], stream=stream
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content
    assert text == REPLY_PREFIX + "fall back"
    ev = one_event(gw, raw.headers["x-request-id"])
    assert [(a.ai_llm_id, a.status, a.http_status) for a in ev.attempts] == [
        (gw.cfg["openai"], "error", status),
        (gw.cfg["other"], "ok", 200),
    ]
    assert ev.ai_llm_id == gw.cfg["other"] and ev.status == "ok"


def test_fallback_on_connection_error(gw) -> None:
    raw = gw.client("deadfirst").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    ev = one_event(gw, raw.headers["x-request-id"])
    assert [a.error_type for a in ev.attempts] == ["connection_error", None]


def test_circuit_breaker_skips_a_failing_config(gw) -> None:
    br = gw.gw.gateway.breakers
    dead = gw.cfg["dead2"]
    old = br.cooldown_s
    br.cooldown_s = 0.5
    try:
        tried = []
        for _ in range(br.threshold + 2):
            raw = gw.client("breaker").chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
            tried.append([a.ai_llm_id for a in one_event(gw, raw.headers["x-request-id"]).attempts])
        # the first `threshold` requests try the dead config first; then it is skipped
        assert all(t[0] == dead for t in tried[: br.threshold])
        assert all(t == [gw.cfg["openai_b"]] for t in tried[br.threshold :])
        time.sleep(0.6)  # half-open: one trial goes to the dead config again, fails, re-opens
        raw = gw.client("breaker").chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
        assert [a.ai_llm_id for a in one_event(gw, raw.headers["x-request-id"]).attempts] == [dead, gw.cfg["openai_b"]]
        assert br.state(dead) == "open"
    finally:
        br.cooldown_s = old


# ---------------------------------------------------------------- streaming edge cases
def test_client_disconnect_mid_stream_yields_one_estimated_event(gw) -> None:
    h = {"authorization": f"Bearer {gw.keys['slow']}"}
    body = {"model": "slow-model", "messages": [{"role": "user", "content": "a long story please"}], "stream": True}
    with httpx.Client(timeout=10) as c:
        with c.stream("POST", gw.gw.url + "/chat/completions", json=body, headers=h) as r:
            rid = r.headers["x-request-id"]
            it = r.iter_lines()
            got = 0
            for line in it:
                if line.startswith("data: {"):
                    got += 1
                    if got == 3:
                        break
    t = time.monotonic()
    evs = gw.gw.publisher.wait_for(rid, timeout=3)
    assert len(evs) == 1 and time.monotonic() - t < 1.5
    ev = evs[0]
    assert ev.http_status == 499 and ev.error_type == "client_disconnected" and ev.status == "error"
    assert ev.usage_source == "estimated" and ev.tokens_in > 0 and 1 <= ev.tokens_out < 30
    time.sleep(0.3)
    assert len(gw.gw.publisher.events_for(rid)) == 1


def test_upstream_drops_mid_stream(gw) -> None:
    gw.fake.control.reset()
    gw.fake.control.drop(after_chunks=2, count=1, family="openai")
    raw = gw.client("single").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three four five six"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    ev = one_event(gw, raw.headers["x-request-id"])
    assert ev.status == "error" and ev.http_status == 502 and ev.usage_source == "estimated"


# ---------------------------------------------------------------- snapshot freshness
def _wait_status(fn, want: int, limit: float = 1.0) -> float:
    t = time.monotonic()
    while True:
        code = fn()
        if code == want:
            return time.monotonic() - t
        if time.monotonic() - t > limit:
            raise AssertionError(f"still {code} after {limit}s (wanted {want})")
        time.sleep(0.02)


def _models_status(gw, repo: str) -> int:
    return httpx.get(gw.gw.url + "/models", headers={"authorization": f"Bearer {gw.keys[repo]}"}).status_code


def test_repo_disable_takes_effect_within_one_second(gw) -> None:
    assert _models_status(gw, "toggle") == 200
    gw.gw.run(gw.gw.set_repo_disabled(gw.repos["toggle"], True))
    _wait_status(lambda: _models_status(gw, "toggle"), 403)
    gw.gw.run(gw.gw.set_repo_disabled(gw.repos["toggle"], False))
    _wait_status(lambda: _models_status(gw, "toggle"), 200)


def test_key_deletion_takes_effect_within_one_second(gw) -> None:
    kid, secret = gw.gw.run(gw.gw.add_key(gw.repos["single"], "temp"))
    gw.keys["temp"] = secret
    _wait_status(lambda: _models_status(gw, "temp"), 200)
    gw.gw.run(gw.gw.delete_key(kid))
    _wait_status(lambda: _models_status(gw, "temp"), 401)


def test_repo_deletion_takes_effect_within_one_second(gw) -> None:
    assert _models_status(gw, "gone") == 200
    gw.gw.run(gw.gw.delete_repo(gw.repos["gone"]))
    _wait_status(lambda: _models_status(gw, "gone"), 401)


def test_last_used_is_written_lazily(gw) -> None:
    gw.client("single").models.list()
    gw.gw.run(gw.gw.gateway.last_used.flush())
    assert gw.gw.run(gw.gw.key_last_used(gw.key_ids["single"])) is not None


def test_stream_upstream_timeout_is_504_before_any_byte(gw) -> None:
    gw.fake.control.hang(3.0, count=1, family="anthropic")
    t = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        for _ in gw.client("all").chat.completions.create(
            model="claude-3-5-haiku-20241022", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    assert ei.value.status_code == 504 and time.monotonic() - t < 3.0
    ev = one_event(gw, ei.value.response.headers["x-request-id"])
    assert ev.stream and ev.http_status == 504 and ev.attempts[0].error_type == "timeout"


def test_models_skips_an_unreachable_config(gw) -> None:
    ids = [m.id for m in gw.client("deadfirst").models.list()]
    assert "gpt-4o-mini" in ids and len(ids) == len(set(ids))


def test_every_response_has_a_request_id(gw) -> None:
    h = {"authorization": f"Bearer {gw.keys['all']}"}
    for r in (
        httpx.get(gw.gw.url + "/models", headers=h),
        httpx.get(gw.gw.url + "/models"),
        httpx.post(gw.gw.url + "/chat/completions", headers=h, content=b"{"),
        httpx.post(gw.gw.url + "/embeddings", headers=h, json={"model": "text-embedding-3-small", "input": "a"}),
    ):
        assert len(r.headers["x-request-id"]) == 36, r.status_code
