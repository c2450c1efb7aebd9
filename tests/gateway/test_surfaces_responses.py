"""`/v1/responses` with the official `openai` SDK (unmodified) against the live gateway in front of the
fake upstream: native on OPENAI, translated on every other family and on an OTHER (chat-only)
endpoint; each call is one event with the provider's exact tokens."""

from __future__ import annotations

import json

import httpx
import openai
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


TARGETS = [
    ("all", "gpt-4o-mini", "OPENAI", "/v1/responses"),
    ("all", "claude-3-5-haiku-20241022", "ANTHROPIC", "/v1/messages"),
    ("all", "gemini-2.0-flash", "GOOGLE", "/v1beta/models/gemini-2.0-flash:generateContent"),
    ("all", "anthropic.claude-3-haiku-20240307-v1:0", "AWS", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"),
    ("other", "gpt-4o-mini", "OTHER", "/v1/chat/completions"),
]
IDS = [t[2] for t in TARGETS]
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_responses_create(gw, repo, model, ai_type, path) -> None:
    raw = gw.client(repo).responses.with_raw_response.create(
        model=model, instructions="be brief", input="hello there gateway", metadata={"user_id": "u-3"}
    )
    resp = raw.parse()
    text = REPLY_PREFIX + "hello there gateway"
    assert resp.object == "response" and resp.status == "completed" and resp.output_text == text
    assert resp.output[0].type == "message" and resp.output[0].content[0].type == "output_text"
    assert resp.usage.input_tokens == 5 and resp.usage.output_tokens == words(text)
    assert resp.usage.total_tokens == 5 + words(text)
    assert gw.fake.control.count(path) == 1
    ev = one_event(gw, raw.headers["x-request-id"])
    assert ev.endpoint == "responses" and ev.ai_type == ai_type and ev.status == "ok" and not ev.stream
    assert (ev.tokens_in, ev.tokens_out, ev.usage_source) == (5, words(text), "provider")
    assert ev.user_id == "u-3"


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_responses_stream_events(gw, repo, model, ai_type, path) -> None:
    with gw.client(repo).responses.with_streaming_response.create(
        model=model, input=[{"role": "user", "content": "stream to me please"}], stream=True
    ) as raw:
        rid = raw.headers["x-request-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    text = REPLY_PREFIX + "stream to me please"
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == text
    done = events[-1].response
    assert done.output_text == text and done.usage.input_tokens == 4 and done.usage.output_tokens == words(text)
    assert (
        gw.fake.control.count(
            path.replace("generateContent", "streamGenerateContent").replace("/converse", "/converse-stream")
        )
        == 1
    )
    ev = one_event(gw, rid)
    assert ev.endpoint == "responses" and ev.stream and ev.ai_type == ai_type
    assert (ev.tokens_in, ev.tokens_out, ev.usage_source) == (4, words(text), "provider")


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_responses_function_tool_round_trip(gw, repo, model, ai_type, path) -> None:
    c = gw.client(repo)
    first = c.responses.with_raw_response.create(model=model, tools=[TOOL], input="please call get_weather Paris")
    r1 = first.parse()
    calls = [o for o in r1.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"query": "Paris"}
    ev1 = one_event(gw, first.headers["x-request-id"])
    assert (ev1.tokens_in, ev1.tokens_out) == (4, words('get_weather {"query":"Paris"}'))
    history = [
        {"role": "user", "content": "please call get_weather Paris"},
        calls[0].model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny and warm"},
    ]
    second = c.responses.with_raw_response.create(model=model, tools=[TOOL], input=history)
    r2 = second.parse()
    assert r2.output_text == REPLY_PREFIX + "sunny and warm" and r2.usage.input_tokens == 7
    ev2 = one_event(gw, second.headers["x-request-id"])
    assert (ev2.tokens_in, ev2.tokens_out) == (7, r2.usage.output_tokens)


@pytest.mark.parametrize("repo,model,ai_type,path", TARGETS, ids=IDS)
def test_responses_stream_function_call(gw, repo, model, ai_type, path) -> None:
    with gw.client(repo).responses.stream(
        model=model, tools=[TOOL], tool_choice="required", input="weather for Oslo"
    ) as s:
        events = list(s)
        final = s.get_final_response()
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(deltas) == {"query": "weather for Oslo"} and done[0].arguments == deltas
    call = [o for o in final.output if o.type == "function_call"][0]
    assert call.name == "get_weather" and call.arguments == deltas and final.usage.input_tokens == 3


@pytest.mark.parametrize(
    "repo,model,ai_type,path",
    [t for t in TARGETS if t[2] in ("OPENAI", "GOOGLE", "OTHER")],
    ids=["OPENAI", "GOOGLE", "OTHER"],
)
def test_responses_json_schema(gw, repo, model, ai_type, path) -> None:
    schema = {
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": False,
    }
    resp = gw.client(repo).responses.create(
        model=model,
        input="give json",
        max_output_tokens=64,
        text={"format": {"type": "json_schema", "name": "r", "schema": schema, "strict": True}},
    )
    assert json.loads(resp.output_text) == {"reply": REPLY_PREFIX + "give json"}


def test_max_output_tokens_makes_an_incomplete_response(gw) -> None:
    resp = gw.client("all").responses.create(
        model="claude-3-5-haiku-20241022", input="one two three four", max_output_tokens=2
    )
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output_text == "fake reply" and resp.usage.output_tokens == 2


@pytest.mark.parametrize(
    "field,value,param",
    [
        ("previous_response_id", "resp_abc", "previous_response_id"),
        ("tools", [{"type": "web_search"}], "tools[0].type"),
        ("background", True, "background"),
    ],
)
def test_stateful_or_builtin_fields_are_refused_when_translated(gw, field, value, param) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        gw.client("all").responses.create(model="claude-3-5-haiku-20241022", input="x", **{field: value})
    err = ei.value.body
    assert err["param"] == param and param.split("[")[0] in err["message"]
    assert gw.fake.control.count() == 0


def test_previous_response_id_works_natively(gw) -> None:
    c = gw.client("all")
    r1 = c.responses.create(model="gpt-4o-mini", input="remember the word banana")
    r2 = c.responses.create(model="gpt-4o-mini", input="what was it", previous_response_id=r1.id)
    assert r2.usage.input_tokens == r1.usage.total_tokens + 3
    with pytest.raises(openai.BadRequestError) as ei:  # the provider's own refusal, relayed
        c.responses.create(model="gpt-4o-mini", input="x", previous_response_id="resp_unknown")
    assert "resp_unknown" in ei.value.message


def test_request_errors_are_openai_shaped(gw) -> None:
    r = httpx.post(gw.gw.url + "/responses", headers={"authorization": f"Bearer {gw.keys['all']}"}, json={"input": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.gw.url, api_key="nope", max_retries=0).responses.create(
            model="gpt-4o-mini", input="x"
        )
    with pytest.raises(openai.NotFoundError):
        gw.client("all").responses.create(model="no-such-model", input="x")


def test_translated_stream_broken_by_the_provider_fails_the_response(gw) -> None:
    gw.fake.control.drop(after_chunks=3, family="anthropic")
    with gw.client("all").responses.with_streaming_response.create(
        model="claude-3-5-haiku-20241022", input="one two three four five", stream=True
    ) as raw:
        rid = raw.headers["x-request-id"]
        kinds = [e.type for e in raw.parse()]
    assert kinds[0] == "response.created" and kinds[-1] == "response.failed"
    ev = one_event(gw, rid)
    assert ev.status == "error" and ev.http_status == 502


def test_every_surface_names_itself_on_the_event(gw) -> None:
    c = gw.client("all")
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert one_event(gw, raw.headers["x-request-id"]).endpoint == "chat"
    raw = c.models.with_raw_response.retrieve("gpt-4o-mini")
    assert one_event(gw, raw.headers["x-request-id"]).endpoint == "models"
