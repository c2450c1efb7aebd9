"""The fake's OpenAI `/v1/responses` and Anthropic `/v1/messages/count_tokens`: real wire shapes,
and the refusals the real APIs give."""

from __future__ import annotations

import httpx
import orjson

from fakeupstream.rules import REPLY_PREFIX


def resp(fake, body, key=None):
    return httpx.post(
        fake.url + "/v1/responses", json=body, headers={"Authorization": f"Bearer {key or fake.creds.openai_key}"}
    )


def count(fake, body):
    return httpx.post(
        fake.url + "/v1/messages/count_tokens",
        json=body,
        headers={"x-api-key": fake.creds.anthropic_key, "anthropic-version": "2023-06-01"},
    )


def test_responses_plain_and_stored_continuation(upstream):
    r = resp(upstream, {"model": "gpt-4o-mini", "instructions": "be brief", "input": "hello you"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["object"] == "response" and j["status"] == "completed"
    assert j["output"][0]["content"][0]["text"] == REPLY_PREFIX + "hello you"
    assert j["usage"]["input_tokens"] == 4 and j["usage"]["total_tokens"] == 4 + j["usage"]["output_tokens"]
    r2 = resp(upstream, {"model": "gpt-4o-mini", "input": "again", "previous_response_id": j["id"]})
    assert r2.json()["usage"]["input_tokens"] == j["usage"]["total_tokens"] + 1
    r3 = resp(upstream, {"model": "gpt-4o-mini", "input": "x", "store": False})
    r4 = resp(upstream, {"model": "gpt-4o-mini", "input": "x", "previous_response_id": r3.json()["id"]})
    assert r4.status_code == 400 and r4.json()["error"]["code"] == "previous_response_not_found"


def test_responses_refusals(upstream):
    cases = [
        ({"input": "x"}, "model"),
        ({"model": "gpt-4o-mini"}, "input"),
        ({"model": "gpt-4o-mini", "input": "x", "bogus": 1}, "bogus"),
        ({"model": "gpt-4o-mini", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "gpt-4o-mini", "input": [{"type": "function_call_output", "call_id": "c9", "output": "o"}]},
            "input",
        ),
        ({"model": "gpt-4o-mini", "input": "x", "max_output_tokens": 5}, "max_output_tokens"),
        ({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        (
            {"model": "gpt-4o-mini", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
        ),
        ({"model": "gpt-4o-mini", "input": "x", "metadata": {"n": 1}}, "metadata.n"),
        ({"model": "gpt-9", "input": "x"}, "model"),
    ]
    for body, param in cases:
        r = resp(upstream, body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
    assert resp(upstream, {"model": "gpt-4o-mini", "input": "x"}, key="sk-wrong").status_code == 401


def test_responses_stream_events(upstream):
    body = {
        "model": "gpt-4o-mini",
        "input": "please call f now",
        "stream": True,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    }
    with httpx.stream(
        "POST",
        upstream.url + "/v1/responses",
        json=body,
        headers={"Authorization": f"Bearer {upstream.creds.openai_key}"},
    ) as r:
        raw = r.read().decode()
    events = [(b.split("\n")[0][7:], orjson.loads(b.split("\n")[1][6:])) for b in raw.split("\n\n") if b]
    kinds = [k for k, _ in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert all(k == d["type"] for k, d in events)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    args = "".join(d["delta"] for k, d in events if k == "response.function_call_arguments.delta")
    assert orjson.loads(args) == {"query": "now"}
    assert events[-1][1]["response"]["output"][0]["type"] == "function_call"


def test_count_tokens_matches_messages_and_refuses_extra_fields(upstream):
    body = {
        "model": "claude-3-5-haiku-20241022",
        "system": "be brief",
        "messages": [{"role": "user", "content": "five words are right here"}],
    }
    r = count(upstream, body)
    assert r.status_code == 200 and r.json() == {"input_tokens": 7}
    r = count(upstream, dict(body, max_tokens=10))
    assert r.status_code == 400 and "max_tokens: Extra inputs are not permitted" in r.json()["error"]["message"]
    msg = httpx.post(
        upstream.url + "/v1/messages",
        json=dict(body, max_tokens=50, metadata={"conversation_id": "c"}),
        headers={"x-api-key": upstream.creds.anthropic_key, "anthropic-version": "2023-06-01"},
    )
    assert msg.status_code == 400 and "metadata.conversation_id" in msg.json()["error"]["message"]


def _bedrock_invoke(fake, model: str, body: dict, action: str = "invoke"):
    from urllib.parse import quote

    from producers.adapters.base import UpstreamRequest
    from producers.adapters.sigv4 import sign

    req = UpstreamRequest(
        "POST",
        f"{fake.url}/model/{quote(model, safe='')}/{action}",
        {"content-type": "application/json"},
        orjson.dumps(body),
    )
    req = sign(req, fake.creds.aws_access_key_id, fake.creds.aws_secret_key, "us-east-1")
    return httpx.post(req.url, content=req.body, headers=req.headers)


def test_claude_on_bedrock_invoke_takes_the_messages_body(upstream):
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hello bedrock"}],
    }
    r = _bedrock_invoke(upstream, model, body)
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == REPLY_PREFIX + "hello bedrock" and r.json()["usage"]["input_tokens"] == 4
    for bad, word in (
        (dict(body, model=model), "[model]"),
        (dict(body, stream=True), "[stream]"),
        ({k: v for k, v in body.items() if k != "anthropic_version"}, "anthropic_version"),
        (dict(body, messages=[{"role": "assistant", "content": "x"}]), "first message"),
    ):
        r = _bedrock_invoke(upstream, model, bad)
        assert r.status_code == 400 and word in r.json()["message"], (bad, r.text)
    r = _bedrock_invoke(upstream, model, body, "invoke-with-response-stream")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.amazon.eventstream")
