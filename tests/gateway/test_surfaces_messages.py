"""`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models/{id}` with the official `anthropic` SDK
(unmodified) against the live gateway in front of the fake upstream, on every family and an
OTHER (chat-only) endpoint; each call is one event with the provider's exact tokens."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from fakeupstream.rules import REPLY_PREFIX


def words(s: str) -> int:
    return len(s.split())


@pytest.fixture(autouse=True)
def _clean(gw):
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield
    gw.fake.control.reset()


def one_event(env, request_id: str):
    evs = env.gw.publisher.wait_for(request_id)
    assert len(evs) == 1, f"expected exactly one event for {request_id}, got {len(evs)}"
    return evs[0]


def client(env, repo: str, bearer: bool = False) -> anthropic.Anthropic:
    base = env.gw.url[: -len("/v1")]
    key = env.keys[repo]
    if bearer:
        return anthropic.Anthropic(base_url=base, auth_token=key, api_key=None, max_retries=0, timeout=20.0)
    return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=20.0)


# (repository, model as the client sends it, aiType, path the fake must have seen)
TARGETS = [
    ("all", "claude-3-5-haiku-20241022", "ANTHROPIC", "/v1/messages"),
    ("all", "gpt-4o-mini", "OPENAI", "/v1/chat/completions"),
    ("all", "gemini-2.0-flash", "GOOGLE", "/v1beta/models/gemini-2.0-flash:generateContent"),
    ("all", "anthropic.claude-3-haiku-20240307-v1:0", "AWS", "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke"),
    ("other", "gpt-4o-mini", "OTHER", "/v1/chat/completions"),
]
IDS = [t[2] for t in TARGETS]
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
@pytest.mark.parametrize("bearer", [False, True], ids=["x-api-key", "bearer"])
def test_messages_create(gw, repo, model, ai_type, path, bearer) -> None:
    raw = client(gw, repo, bearer).messages.with_raw_response.create(
        model=model,
        max_tokens=200,
        system="be brief",
        messages=[{"role": "user", "content": "hello there gateway"}],
        metadata={"user_id": "u-7"},
    )
    msg = raw.parse()
    text = REPLY_PREFIX + "hello there gateway"
    assert msg.type == "message" and msg.role == "assistant" and msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == text
    assert msg.usage.input_tokens == 5 and msg.usage.output_tokens == words(text)
    assert gw.fake.control.count(path) == 1
    ev = one_event(gw, raw.headers["x-request-id"])
    assert ev.endpoint == "messages" and ev.ai_type == ai_type and ev.status == "ok"
    assert (ev.tokens_in, ev.tokens_out, ev.usage_source) == (5, words(text), "provider")
    assert ev.user_id == "u-7" and ev.model == model


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_messages_tool_round_trip(gw, repo, model, ai_type, path) -> None:
    c = client(gw, repo)
    first = c.messages.with_raw_response.create(
        model=model,
        max_tokens=300,
        tools=[TOOL],
        messages=[{"role": "user", "content": "please call get_weather Paris"}],
    )
    msg = first.parse()
    assert msg.stop_reason == "tool_use"
    use = [b for b in msg.content if b.type == "tool_use"]
    assert len(use) == 1 and use[0].name == "get_weather" and use[0].input == {"query": "Paris"}
    ev1 = one_event(gw, first.headers["x-request-id"])
    assert (ev1.tokens_in, ev1.tokens_out) == (msg.usage.input_tokens, msg.usage.output_tokens)
    assert ev1.tokens_out == words('get_weather {"query":"Paris"}')
    second = c.messages.with_raw_response.create(
        model=model,
        max_tokens=300,
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "please call get_weather Paris"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use[0].id, "content": "sunny and warm"}],
            },
        ],
    )
    final = second.parse()
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == REPLY_PREFIX + "sunny and warm"
    # prompt: 4 words of the question + 3 of the tool result
    assert final.usage.input_tokens == 7
    ev2 = one_event(gw, second.headers["x-request-id"])
    assert (ev2.tokens_in, ev2.tokens_out) == (7, final.usage.output_tokens)


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_messages_stream(gw, repo, model, ai_type, path) -> None:
    c = client(gw, repo)
    with c.messages.stream(
        model=model, max_tokens=200, system="be brief", messages=[{"role": "user", "content": "stream to me please"}]
    ) as s:
        got = "".join(s.text_stream)
        final = s.get_final_message()
        rid = s.response.headers["x-request-id"]
    text = REPLY_PREFIX + "stream to me please"
    assert got == text and final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == words(text) and final.usage.input_tokens == 6
    ev = one_event(gw, rid)
    assert ev.endpoint == "messages" and ev.stream and ev.ai_type == ai_type
    assert (ev.tokens_in, ev.tokens_out, ev.usage_source) == (6, words(text), "provider")


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_messages_stream_tool_use(gw, repo, model, ai_type, path) -> None:
    with client(gw, repo).messages.stream(
        model=model,
        max_tokens=200,
        tools=[TOOL],
        messages=[{"role": "user", "content": "now call get_weather Rome today"}],
    ) as s:
        final = s.get_final_message()
        rid = s.response.headers["x-request-id"]
    use = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and use[0].input == {"query": "Rome today"}
    ev = one_event(gw, rid)
    assert (ev.tokens_in, ev.tokens_out) == (5, words('get_weather {"query":"Rome today"}'))


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_count_tokens(gw, repo, model, ai_type, path) -> None:
    c = client(gw, repo, bearer=True)
    kw = dict(
        model=model, system="be brief", tools=[TOOL], messages=[{"role": "user", "content": "count these five words"}]
    )
    raw = c.messages.with_raw_response.count_tokens(**kw)
    n = raw.parse().input_tokens
    ev = one_event(gw, raw.headers["x-request-id"])
    assert ev.endpoint == "messages.count_tokens" and (ev.tokens_in, ev.tokens_out) == (0, 0)
    if ai_type == "ANTHROPIC":  # Anthropic's own count: what /v1/messages will report
        assert gw.fake.control.count("/v1/messages/count_tokens") == 1
        assert n == c.messages.create(max_tokens=50, **kw).usage.input_tokens == 6
        assert ev.usage_source == "provider"
    else:  # no provider call; a local estimate
        assert gw.fake.control.count() == 0 and n > 6 and ev.usage_source == "estimated"


def test_untranslatable_block_is_refused_naming_the_field(gw) -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}}
    with pytest.raises(anthropic.BadRequestError) as ei:
        client(gw, "all").messages.create(
            model="gpt-4o-mini",
            max_tokens=50,
            messages=[{"role": "user", "content": [{"type": "text", "text": "read"}, doc]}],
        )
    err = ei.value.body
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert "messages[0].content[1].type" in err["error"]["message"]
    assert gw.fake.control.count() == 0
    # the same body goes to Claude as it is, on Anthropic and on Bedrock
    for model in ("claude-3-5-haiku-20241022", "anthropic.claude-3-haiku-20240307-v1:0"):
        msg = client(gw, "all").messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": [{"type": "text", "text": "read"}, doc]}]
        )
        assert msg.content[0].text.startswith(REPLY_PREFIX)
    assert gw.fake.control.last_requests["bedrock"]["messages"][0]["content"][1] == doc


def test_errors_have_anthropic_shape(gw) -> None:
    bad = anthropic.Anthropic(base_url=gw.gw.url[:-3], api_key="tg-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as ei:
        bad.messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert ei.value.body["type"] == "error" and ei.value.body["error"]["type"] == "authentication_error"
    r = httpx.post(
        gw.gw.url + "/messages",
        headers={"x-api-key": gw.keys["all"]},
        json={"model": "claude-3-5-haiku-20241022", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in r.json()["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        client(gw, "all").messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_provider_error_mid_stream_is_an_anthropic_error_event(gw) -> None:
    gw.fake.control.drop(after_chunks=3, family="anthropic")
    with pytest.raises(anthropic.APIStatusError):
        with client(gw, "all").messages.stream(
            model="claude-3-5-haiku-20241022",
            max_tokens=50,
            messages=[{"role": "user", "content": "one two three four"}],
        ) as s:
            for _ in s:
                pass
    gw.fake.control.drop(after_chunks=3, family="openai")
    with pytest.raises(anthropic.APIStatusError):
        with client(gw, "all").messages.stream(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "one two three four"}]
        ) as s:
            for _ in s:
                pass


def test_models_retrieve(gw) -> None:
    m = client(gw, "all").models.retrieve("claude-3-5-haiku-20241022")
    assert m.id == "claude-3-5-haiku-20241022" and m.type == "model"
    o = gw.client("all").models.retrieve("gemini-2.0-flash")
    assert o.id == "gemini-2.0-flash" and o.owned_by == "google"
    o = gw.client("all").models.retrieve("bedrock/anthropic.claude-3-haiku-20240307-v1:0")
    assert o.owned_by == "aws"
    with pytest.raises(Exception) as ei:
        gw.client("all").models.retrieve("no-such-model")
    assert getattr(ei.value, "status_code", None) == 404
    ids = {m.id for m in client(gw, "all").models.list()}
    assert "gpt-4o-mini" in ids and "claude-sonnet-4-20250514" in ids


@pytest.mark.parametrize(
    "model,family,sent",
    [
        ("claude-3-5-haiku-20241022", "anthropic", lambda b: b["thinking"]),
        ("anthropic.claude-3-haiku-20240307-v1:0", "bedrock", lambda b: b["thinking"]),
        ("gpt-4o-mini", "openai", lambda b: b.get("thinking")),
        ("gemini-2.0-flash", "google", lambda b: b.get("thinking")),
    ],
    ids=["ANTHROPIC", "AWS", "OPENAI", "GOOGLE"],
)
def test_thinking_reaches_claude_only(gw, model, family, sent) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    msg = client(gw, "all").messages.create(
        model=model, max_tokens=2048, thinking=thinking, messages=[{"role": "user", "content": "think"}]
    )
    assert msg.content[-1].text == REPLY_PREFIX + "think"
    want = thinking if family in ("anthropic", "bedrock") else None
    assert sent(gw.fake.control.last_requests[family]) == want


def test_beta_path_and_header_reach_anthropic(gw) -> None:
    c = client(gw, "all")
    msg = c.beta.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=50,
        betas=["context-1m-2025-08-07"],
        messages=[{"role": "user", "content": "beta hello"}],
    )
    assert msg.content[0].text == REPLY_PREFIX + "beta hello"
