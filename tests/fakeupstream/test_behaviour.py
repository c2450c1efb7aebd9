"""Honest validation, fault injection (in-process and via /_control), counters, subprocess mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def oai(fake, body, path="/v1/chat/completions"):
    return httpx.post(fake.url + path, json=body, headers={"Authorization": f"Bearer {fake.creds.openai_key}"})


def ant(fake, body):
    return httpx.post(
        fake.url + "/v1/messages",
        json=body,
        headers={"x-api-key": fake.creds.anthropic_key, "anthropic-version": "2023-06-01"},
    )


def gem(fake, model, method, body):
    return httpx.post(
        f"{fake.url}/v1beta/models/{model}:{method}", json=body, headers={"x-goog-api-key": fake.creds.google_key}
    )


def test_openai_validation(upstream):
    m = [{"role": "user", "content": "hi"}]
    assert oai(upstream, {"messages": m}).status_code == 400
    r = oai(upstream, {"model": "gpt-4o"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = oai(upstream, {"model": "gpt-5-imaginary", "messages": m})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = oai(upstream, {"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_value"
    r = oai(upstream, {"model": "gpt-4o", "messages": [{"role": "tool", "tool_call_id": "x", "content": "y"}]})
    assert r.status_code == 400
    r = httpx.post(
        upstream.url + "/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {upstream.creds.openai_key}"},
    )
    assert r.status_code == 400 and "error" in r.json()


def test_anthropic_validation(upstream):
    ok = {"model": "claude-3-5-haiku-20241022", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    assert ant(upstream, ok).status_code == 200
    for bad in (
        {k: v for k, v in ok.items() if k != "max_tokens"},
        dict(ok, messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]),
        dict(ok, messages=[{"role": "assistant", "content": "x"}]),
        dict(ok, messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
        dict(ok, messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]),
    ):
        r = ant(upstream, bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = ant(upstream, dict(ok, model="claude-9"))
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_google_validation(upstream):
    r = gem(
        upstream, "gemini-2.0-flash", "generateContent", {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
    )
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert gem(upstream, "gemini-2.0-flash", "generateContent", {}).status_code == 400
    r = gem(upstream, "gemini-9", "generateContent", {"contents": [{"parts": [{"text": "x"}]}]})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = gem(upstream, "gemini-2.0-flash", "streamGenerateContent", {"contents": [{"parts": [{"text": "a b"}]}]})
    assert r.status_code == 200 and r.text.startswith("[") and r.json()[-1]["candidates"][0]["finishReason"] == "STOP"


def test_control_http_endpoint_and_counters(upstream):
    r = httpx.post(upstream.url + "/_control", json={"action": "fail", "status": 503, "count": 2, "family": "openai"})
    assert r.status_code == 200 and r.json()["pending"][0]["count"] == 2
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert [oai(upstream, body).status_code for _ in range(3)] == [503, 503, 200]
    # a fault for another family does not touch OpenAI
    upstream.control.fail(500, family="anthropic")
    assert oai(upstream, body).status_code == 200
    counts = httpx.get(upstream.url + "/_control").json()["counts"]
    assert counts["/v1/chat/completions"] == 4
    assert upstream.control.count(family="openai") == 4
    assert upstream.control.last_requests["openai"]["messages"][0]["content"] == "hi"
    assert httpx.post(upstream.url + "/_control", json={"action": "explode"}).status_code == 400
    httpx.post(upstream.url + "/_control", json={"action": "reset"})
    assert upstream.control.pending() == [] and upstream.control.count() == 0


def test_model_scoped_fault_and_hang_and_latency(upstream):
    upstream.control.fail(429, model="gpt-4o", retry_after=3)
    r = oai(upstream, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200
    r = oai(upstream, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    upstream.control.hang(2.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            upstream.url + "/v1/chat/completions",
            timeout=0.3,
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {upstream.creds.openai_key}"},
        )
    upstream.control.set_latency(0.2, family="google")
    t0 = time.monotonic()
    assert (
        gem(upstream, "gemini-2.0-flash", "generateContent", {"contents": [{"parts": [{"text": "x"}]}]}).status_code
        == 200
    )
    assert time.monotonic() - t0 >= 0.2


def test_drop_non_streaming_body(upstream):
    upstream.control.drop(family="anthropic")
    with pytest.raises(httpx.TransportError):
        ant(
            upstream,
            {"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )


def test_openai_embeddings_base64(upstream):
    import base64
    import struct

    r = oai(
        upstream, {"model": "text-embedding-3-small", "input": "a b c", "encoding_format": "base64"}, "/v1/embeddings"
    )
    vec = struct.unpack("<8f", base64.b64decode(r.json()["data"][0]["embedding"]))
    assert len(vec) == 8 and r.json()["usage"]["prompt_tokens"] == 3
    assert oai(upstream, {"model": "text-embedding-3-small", "input": ""}, "/v1/embeddings").status_code == 400


@pytest.mark.integration
def test_runs_as_subprocess():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FAKE_OPENAI_KEY="sk-sub")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakeupstream", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer sk-sub"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "subprocess fake did not start"
                time.sleep(0.1)
        assert r.status_code == 200
        assert (
            httpx.post(f"http://127.0.0.1:{port}/_control", json={"action": "fail", "status": 500}).status_code == 200
        )
        assert (
            httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer sk-sub"}).status_code
            == 500
        )
    finally:
        proc.terminate()
        proc.wait(10)
