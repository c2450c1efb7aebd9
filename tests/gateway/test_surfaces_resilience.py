"""The new surfaces under failure: fallback from a native attempt to a translated one, and a client
leaving mid-stream, each still exactly one event with the right tokens."""

from __future__ import annotations

import time

import anthropic
import httpx
import pytest

from fakeupstream.rules import REPLY_PREFIX


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


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_responses_fall_back_from_native_openai_to_translated_other(gw, stream) -> None:
    gw.fake.control.fail(500, count=1, family="openai")
    c = gw.client("fallback")
    if stream:
        with c.responses.with_streaming_response.create(
            model="gpt-4o-mini", input="fall back please", stream=True
        ) as raw:
            rid = raw.headers["x-request-id"]
            final = [e for e in raw.parse() if e.type == "response.completed"][0].response
    else:
        raw = c.responses.with_raw_response.create(model="gpt-4o-mini", input="fall back please")
        rid, final = raw.headers["x-request-id"], raw.parse()
    assert final.output_text == REPLY_PREFIX + "fall back please"
    assert gw.fake.control.count("/v1/responses") == 1 and gw.fake.control.count("/v1/chat/completions") == 1
    ev = one_event(gw, rid)
    assert [(a.ai_llm_id, a.status, a.http_status) for a in ev.attempts] == [
        (gw.cfg["openai"], "error", 500),
        (gw.cfg["other"], "ok", 200),
    ]
    assert ev.endpoint == "responses" and ev.ai_type == "OTHER" and ev.status == "ok"
    assert (ev.tokens_in, ev.tokens_out) == (final.usage.input_tokens, final.usage.output_tokens) == (3, 6)


def test_messages_fall_back_on_429(gw) -> None:
    gw.fake.control.fail(429, count=1, family="openai", retry_after=1)
    base = gw.gw.url[:-3]
    raw = anthropic.Anthropic(
        base_url=base, api_key=gw.keys["fallback"], max_retries=0
    ).messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "retry me"}]
    )
    msg = raw.parse()
    assert msg.content[0].text == REPLY_PREFIX + "retry me"
    ev = one_event(gw, raw.headers["x-request-id"])
    assert [a.status for a in ev.attempts] == ["error", "ok"] and ev.ai_type == "OTHER"
    assert (ev.tokens_in, ev.tokens_out) == (msg.usage.input_tokens, msg.usage.output_tokens)


def test_every_configuration_failing_is_an_anthropic_shaped_429(gw) -> None:
    gw.fake.control.fail(429, count=2, family="openai", retry_after=2)
    r = httpx.post(
        gw.gw.url + "/messages",
        headers={"x-api-key": gw.keys["fallback"]},
        timeout=10,
        json={"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    "path,body,headers",
    [
        (
            "/messages",
            {
                "model": "slow-model",
                "max_tokens": 500,
                "stream": True,
                "messages": [{"role": "user", "content": "a long story please"}],
            },
            "x-api-key",
        ),
        ("/responses", {"model": "slow-model", "input": "a long story please", "stream": True}, "authorization"),
    ],
    ids=["messages", "responses"],
)
def test_client_leaving_mid_stream_is_one_estimated_event(gw, path, body, headers) -> None:
    key = gw.keys["slow"]
    h = {"x-api-key": key} if headers == "x-api-key" else {"authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10) as c:
        with c.stream("POST", gw.gw.url + path, json=body, headers=h) as r:
            assert r.status_code == 200
            rid = r.headers["x-request-id"]
            deltas = 0
            for line in r.iter_lines():
                if '"text_delta"' in line or '"response.output_text.delta"' in line:
                    deltas += 1
                    if deltas == 3:
                        break
    evs = gw.gw.publisher.wait_for(rid, timeout=3)
    assert len(evs) == 1
    ev = evs[0]
    assert ev.http_status == 499 and ev.error_type == "client_disconnected" and ev.endpoint == path[1:]
    assert ev.usage_source == "estimated" and ev.tokens_in > 0 and 1 <= ev.tokens_out < 30
    time.sleep(0.3)
    assert len(gw.gw.publisher.events_for(rid)) == 1
