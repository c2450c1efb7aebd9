"""Malformed requests are a 400 in the surface's own error shape, never a 500.

Known crashers (non-object `tool_calls` entries on the translated families, JSON nested about
1000 levels on every family) on chat, embeddings, responses and messages, and a bounded
property-based fuzz of `/v1` (hypothesis: 40 requests per surface, no shrinking) against the
documented request shapes with arbitrary values in their fields.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

MODELS = {
    "OPENAI": "gpt-4o-mini",
    "ANTHROPIC": "claude-3-5-haiku-20241022",
    "GOOGLE": "gemini-2.0-flash",
    "AWS": "anthropic.claude-3-haiku-20240307-v1:0",
}
SURFACES = ["/chat/completions", "/embeddings", "/responses", "/messages", "/messages/count_tokens"]


@pytest.fixture(autouse=True)
def _clean(gw):
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield


def post(env, path: str, body: bytes | dict, repo: str = "all") -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        env.gw.url + path,
        content=raw,
        timeout=20,
        headers={
            "authorization": f"Bearer {env.keys[repo]}",
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
        },
    )


def assert_400_in_shape(path: str, r: httpx.Response) -> None:
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    doc = r.json()
    if path.startswith("/messages"):
        assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error", doc
    else:
        assert isinstance(doc["error"]["message"], str) and doc["error"]["message"], doc


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("family", list(MODELS))
@pytest.mark.parametrize("entry", ["x", 7, None, ["a"], {"function": "not-an-object"}, {"function": {"name": 5}}])
def test_non_object_tool_calls_are_400(gw, family, entry):
    body = {
        "model": MODELS[family],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [entry]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"},
        ],
    }
    assert_400_in_shape("/chat/completions", post(gw, "/chat/completions", body))


@pytest.mark.parametrize("family", list(MODELS))
@pytest.mark.parametrize("path", SURFACES)
@pytest.mark.parametrize("depth", [300, 980, 1024, 5000])
def test_deeply_nested_json_is_400(gw, family, path, depth):
    model = MODELS[family] if path != "/embeddings" else "text-embedding-3-small"
    raw = (
        f'{{"model":"{model}","max_tokens":5,"input":{nested(depth)},'
        f'"messages":[{{"role":"user","content":{nested(depth)}}}]}}'
    ).encode()
    assert_400_in_shape(path, post(gw, path, raw))


# ---- property-based fuzz ----------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ROLE = st.sampled_from(["user", "assistant", "system", "tool", "developer", "x"]) | JSON
MESSAGE = st.fixed_dictionaries(
    {"role": ROLE},
    optional={
        "content": JSON
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "image_url", "tool_use", "tool_result", "image"])},
                optional={"text": JSON, "image_url": JSON, "input": JSON, "content": JSON, "id": JSON, "source": JSON},
            ),
            max_size=3,
        ),
        "tool_calls": st.lists(JSON | st.fixed_dictionaries({"id": JSON, "type": JSON, "function": JSON}), max_size=3),
        "tool_call_id": JSON,
        "name": JSON,
    },
)
COMMON = {
    "stream": st.booleans() | JSON,
    "max_tokens": JSON,
    "tools": JSON | st.lists(JSON, max_size=3),
    "tool_choice": JSON,
    "temperature": JSON,
    "metadata": JSON,
    "user": JSON,
    "stop": JSON,
}
BODIES = {
    "/chat/completions": st.fixed_dictionaries(
        {"model": st.sampled_from(list(MODELS.values())), "messages": st.lists(MESSAGE, max_size=4) | JSON},
        optional=dict(COMMON, max_completion_tokens=JSON, response_format=JSON, stream_options=JSON),
    ),
    "/embeddings": st.fixed_dictionaries(
        {
            "model": st.sampled_from(["text-embedding-3-small", "gemini-embedding-001", "amazon.titan-embed-text-v2:0"])
            | JSON,
            "input": JSON,
        },
        optional={"dimensions": JSON, "encoding_format": JSON},
    ),
    "/responses": st.fixed_dictionaries(
        {"model": st.sampled_from(list(MODELS.values())), "input": JSON | st.lists(MESSAGE, max_size=3)},
        optional=dict(COMMON, instructions=JSON, max_output_tokens=JSON, text=JSON, reasoning=JSON),
    ),
    "/messages": st.fixed_dictionaries(
        {
            "model": st.sampled_from(list(MODELS.values())),
            "max_tokens": st.integers(1, 50) | JSON,
            "messages": st.lists(MESSAGE, max_size=4) | JSON,
        },
        optional={**{k: v for k, v in COMMON.items() if k != "max_tokens"}, "system": JSON, "thinking": JSON},
    ),
}


@pytest.mark.parametrize("path", list(BODIES))
def test_fuzz_v1_never_answers_500(gw, path):
    """Whatever the fields hold, the gateway answers (no 5xx of its own) in the surface's shape."""
    gw.fake.control.reset()
    seen: list[int] = []

    @settings(
        max_examples=40, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(BODIES[path])
    def run(body):
        r = post(gw, path, body)
        seen.append(r.status_code)
        # 502/504 are the provider's (the fake refusing what the gateway forwarded is a 400 too)
        assert r.status_code < 500 or r.status_code in (502, 504), (body, r.status_code, r.text[:300])
        if r.status_code >= 400:
            doc = r.json()
            assert "error" in doc, doc
            if path.startswith("/messages"):
                assert doc["type"] == "error", doc

    run()
    assert len(seen) == 40
