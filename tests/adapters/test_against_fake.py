"""Each adapter end to end against the fake upstream through plain httpx: the adapter builds the
request, httpx sends it, the adapter translates the answer. Exact token sums follow the fake's
rules (words; reply = "fake reply to: " + last text[:30])."""

from __future__ import annotations

import json

import httpx
import pytest

from producers.adapters import adapter_for
from producers.adapters.base import ProviderConfig
from schemas.enums import AiType

MODELS = {
    AiType.OPENAI: "gpt-4o-mini",
    AiType.OTHER: "gpt-4o",
    AiType.ANTHROPIC: "claude-3-5-haiku-20241022",
    AiType.GOOGLE: "gemini-2.0-flash",
    AiType.AWS: "anthropic.claude-3-haiku-20240307-v1:0",
}
ALL = list(MODELS)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    }
]


def cfg_for(fake, t: AiType, *, bad: bool = False) -> ProviderConfig:
    c = fake.creds
    secret = {
        AiType.OPENAI: c.openai_key,
        AiType.OTHER: c.openai_key,
        AiType.ANTHROPIC: c.anthropic_key,
        AiType.GOOGLE: c.google_key,
        AiType.AWS: c.aws_secret_key,
    }[t]
    return ProviderConfig(
        "cfg-" + t.value,
        t,
        fake.endpoints[t.value],
        c.aws_access_key_id if t is AiType.AWS else None,
        secret + "x" if bad else secret,
        "us-east-1" if t is AiType.AWS else None,
    )


def send(req) -> httpx.Response:
    return httpx.request(req.method, req.url, headers=req.headers, content=req.body, timeout=10)


def stream_all(adapter, req, model, include_usage=True, piece=7):
    """Send, then feed the raw bytes in small odd-sized slices to prove split-safety."""
    t = adapter.stream_translator(model, "req123", include_usage=include_usage)
    out: list[bytes] = []
    with httpx.stream(req.method, req.url, headers=req.headers, content=req.body, timeout=10) as r:
        assert r.status_code == 200, r.read()
        for raw in r.iter_raw():
            for i in range(0, len(raw), piece):
                out += t.feed(raw[i : i + piece])
    out += t.finish()
    return t, out


def parse_chunks(lines: list[bytes]) -> tuple[list[dict], bool]:
    chunks, done = [], False
    for line in lines:
        assert line.startswith(b"data: ") and line.endswith(b"\n\n"), line
        payload = line[6:-2]
        if payload == b"[DONE]":
            done = True
            continue
        assert not done, "data after [DONE]"
        chunks.append(json.loads(payload))
    return chunks, done


@pytest.mark.parametrize("t", ALL)
def test_models(upstream, t):
    a = adapter_for(t)
    r = send(a.models_request(cfg_for(upstream, t)))
    assert r.status_code == 200, r.text
    assert MODELS[t] in a.models_response(r.content)
    bad = send(a.models_request(cfg_for(upstream, t, bad=True)))
    # each provider's own answer to a bad key: Gemini 400 API_KEY_INVALID, Bedrock 403, the rest 401
    assert bad.status_code == {AiType.GOOGLE: 400, AiType.AWS: 403}.get(t, 401), bad.text
    err = a.error(bad.status_code, bad.content, bad.headers)
    assert not err.retryable and "credentials" in err.message
    assert upstream.creds.openai_key not in err.message


@pytest.mark.parametrize("t", ALL)
def test_chat_exact_usage(upstream, t):
    a = adapter_for(t)
    body = {
        "model": "x",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there my friend"}],
    }
    r = send(a.chat_request(cfg_for(upstream, t), MODELS[t], body))
    assert r.status_code == 200, r.text
    comp, usage = a.chat_response(r.status_code, r.content, "client-model", request_id="rid1")
    msg = comp["choices"][0]["message"]
    assert msg["role"] == "assistant"
    assert msg["content"] == "fake reply to: hello there my friend"
    assert comp["choices"][0]["finish_reason"] == "stop"
    assert comp["object"] == "chat.completion"
    assert (usage.tokens_in, usage.tokens_out) == (6, 7)
    assert comp["usage"]["prompt_tokens"] == 6 and comp["usage"]["completion_tokens"] == 7
    if t not in (AiType.OPENAI, AiType.OTHER):
        assert comp["model"] == "client-model" and comp["id"] == "chatcmpl-rid1"


@pytest.mark.parametrize("t", ALL)
def test_chat_length_finish(upstream, t):
    a = adapter_for(t)
    body = {"messages": [{"role": "user", "content": "one two three four"}], "max_tokens": 3}
    r = send(a.chat_request(cfg_for(upstream, t), MODELS[t], body))
    comp, usage = a.chat_response(r.status_code, r.content, "m")
    assert comp["choices"][0]["finish_reason"] == "length"
    assert comp["choices"][0]["message"]["content"] == "fake reply to:"
    assert usage.tokens_out == 3


@pytest.mark.parametrize("t", ALL)
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_text(upstream, t, include_usage):
    a = adapter_for(t)
    body = {"messages": [{"role": "user", "content": "stream me some words"}], "stream": True}
    if t in (AiType.OPENAI, AiType.OTHER) and include_usage:
        body["stream_options"] = {"include_usage": True}
    tr, lines = stream_all(a, a.chat_request(cfg_for(upstream, t), MODELS[t], body), "m", include_usage)
    chunks, done = parse_chunks(lines)
    assert done and tr.error is None
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "fake reply to: stream me some words"
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]
    ]
    assert finishes == ["stop"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert (tr.usage.tokens_in, tr.usage.tokens_out) == (4, 7)
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0]["choices"] == []
        assert usage_chunks[0]["usage"]["total_tokens"] == 11
        assert chunks[-1] is usage_chunks[0]
    else:
        assert usage_chunks == []
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


@pytest.mark.parametrize("t", ALL)
def test_tool_call_roundtrip(upstream, t):
    """Model calls a tool; the tool result goes back; the model answers with text."""
    a = adapter_for(t)
    cfg = cfg_for(upstream, t)
    msgs = [{"role": "user", "content": "please call get_weather Paris"}]
    r = send(a.chat_request(cfg, MODELS[t], {"messages": msgs, "tools": TOOLS}))
    assert r.status_code == 200, r.text
    comp, usage = a.chat_response(r.status_code, r.content, "m")
    ch = comp["choices"][0]
    assert ch["finish_reason"] == "tool_calls"
    call = ch["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and call["type"] == "function" and call["id"]
    assert json.loads(call["function"]["arguments"]) == {"query": "Paris"}
    assert usage.tokens_out == 2  # 'get_weather {"query":"Paris"}'
    msgs += [ch["message"], {"role": "tool", "tool_call_id": call["id"], "content": "sunny and warm"}]
    r2 = send(a.chat_request(cfg, MODELS[t], {"messages": msgs, "tools": TOOLS}))
    assert r2.status_code == 200, r2.text
    comp2, usage2 = a.chat_response(r2.status_code, r2.content, "m")
    assert comp2["choices"][0]["message"]["content"] == "fake reply to: sunny and warm"
    assert usage2.tokens_in == 4 + 3


@pytest.mark.parametrize("t", ALL)
def test_stream_tool_call(upstream, t):
    a = adapter_for(t)
    body = {
        "messages": [{"role": "user", "content": "call get_weather in Rome"}],
        "tools": TOOLS,
        "tool_choice": "auto",
        "stream": True,
    }
    tr, lines = stream_all(a, a.chat_request(cfg_for(upstream, t), MODELS[t], body), "m", piece=13)
    chunks, done = parse_chunks(lines)
    assert done
    deltas = [tc for c in chunks if c.get("choices") for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert deltas[0]["function"]["name"] == "get_weather" and deltas[0]["id"]
    args = "".join(d["function"].get("arguments") or "" for d in deltas)
    assert json.loads(args) == {"query": "in Rome"}
    assert {d["index"] for d in deltas} == {0}
    assert tr.finish_reason == "tool_calls"


@pytest.mark.parametrize("t", [AiType.OPENAI, AiType.GOOGLE])
def test_json_mode(upstream, t):
    a = adapter_for(t)
    body = {"messages": [{"role": "user", "content": "give json"}], "response_format": {"type": "json_object"}}
    r = send(a.chat_request(cfg_for(upstream, t), MODELS[t], body))
    comp, _ = a.chat_response(r.status_code, r.content, "m")
    assert json.loads(comp["choices"][0]["message"]["content"]) == {"reply": "fake reply to: give json"}


@pytest.mark.parametrize(
    "t,model",
    [
        (AiType.OPENAI, "text-embedding-3-small"),
        (AiType.GOOGLE, "text-embedding-004"),
        (AiType.AWS, "amazon.titan-embed-text-v2:0"),
    ],
)
def test_embeddings(upstream, t, model):
    a = adapter_for(t)
    inp = "embed these three" if t is AiType.AWS else ["embed these three", "and two"]
    r = send(a.embeddings_request(cfg_for(upstream, t), model, {"model": model, "input": inp}))
    assert r.status_code == 200, r.text
    out, usage = a.embeddings_response(r.status_code, r.content, model, {"input": inp})
    n = 1 if isinstance(inp, str) else 2
    assert [d["index"] for d in out["data"]] == list(range(n))
    assert all(len(d["embedding"]) == 8 for d in out["data"])
    if t is AiType.GOOGLE:
        assert usage is None
    else:
        assert usage.tokens_in == (3 if n == 1 else 5)


def test_anthropic_has_no_embeddings():
    from producers.adapters.base import TranslationError

    with pytest.raises(TranslationError):
        adapter_for(AiType.ANTHROPIC).embeddings_request(
            ProviderConfig("c", AiType.ANTHROPIC, "http://x", None, "k"), "claude-x", {"input": "a"}
        )


@pytest.mark.parametrize("t", ALL)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_injected_errors_are_retryable(upstream, t, status):
    a = adapter_for(t)
    upstream.control.fail(
        status,
        family={
            AiType.OPENAI: "openai",
            AiType.OTHER: "openai",
            AiType.ANTHROPIC: "anthropic",
            AiType.GOOGLE: "google",
            AiType.AWS: "bedrock",
        }[t],
        retry_after=2 if status == 429 else None,
    )
    r = send(a.chat_request(cfg_for(upstream, t), MODELS[t], {"messages": [{"role": "user", "content": "hi"}]}))
    assert r.status_code == status
    err = a.error(r.status_code, r.content, r.headers)
    assert err.retryable and err.status == status and err.message
    if status == 429:
        assert err.retry_after == 2
    # the fault was consumed: the next call succeeds
    r2 = send(a.chat_request(cfg_for(upstream, t), MODELS[t], {"messages": [{"role": "user", "content": "hi"}]}))
    assert r2.status_code == 200


@pytest.mark.parametrize("t", ALL)
def test_unknown_model_and_bad_request_not_retryable(upstream, t):
    a = adapter_for(t)
    r = send(a.chat_request(cfg_for(upstream, t), "no-such-model", {"messages": [{"role": "user", "content": "hi"}]}))
    assert r.status_code in (400, 404)
    err = a.error(r.status_code, r.content, r.headers)
    assert not err.retryable and err.message


@pytest.mark.parametrize("t", ALL)
def test_stream_drop_mid_way(upstream, t):
    a = adapter_for(t)
    upstream.control.drop(after_chunks=3)
    body = {"messages": [{"role": "user", "content": "a long enough prompt to stream"}], "stream": True}
    req = a.chat_request(cfg_for(upstream, t), MODELS[t], body)
    tr = a.stream_translator("m", "r", True)
    got: list[bytes] = []
    with pytest.raises(httpx.TransportError):
        with httpx.stream(req.method, req.url, headers=req.headers, content=req.body, timeout=10) as r:
            for raw in r.iter_raw():
                got += tr.feed(raw)
    assert got, "chunks before the drop were relayed"
    assert tr.finish_reason is None


def test_bedrock_wrong_secret_is_signature_error(upstream):
    a = adapter_for(AiType.AWS)
    r = send(
        a.chat_request(
            cfg_for(upstream, AiType.AWS, bad=True),
            MODELS[AiType.AWS],
            {"messages": [{"role": "user", "content": "hi"}]},
        )
    )
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    err = a.error(r.status_code, r.content, r.headers)
    assert err.code == "InvalidSignatureException" and not err.retryable
