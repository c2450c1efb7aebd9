"""Policies behave the same on every surface (shared embedded `tollgate up`): rule blocks, the LLM
judge and rate limits refuse `/v1/messages` in Anthropic's error shape and `/v1/responses` in
OpenAI's, naming the policy; a limit counts calls from all surfaces together."""

from __future__ import annotations

import time

import httpx
import pytest

from fakeupstream.rules import JUDGE_VIOLATION
from tests.policy_e2e.helpers import policy, repo_key, setup_ws, wait_gateway_sees

pytestmark = [pytest.mark.clickhouse, pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


def messages(base: str, secret: str, text: str, max_tokens: int = 20) -> httpx.Response:
    return httpx.post(
        base + "/v1/messages",
        headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
        json={"model": "gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )


def responses(base: str, secret: str, text: str, max_output_tokens: int = 20) -> httpx.Response:
    return httpx.post(
        base + "/v1/responses",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-4o-mini", "input": text, "max_output_tokens": max_output_tokens},
        timeout=30,
    )


def chat(base: str, secret: str, text: str) -> httpx.Response:
    return httpx.post(
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )


def test_rules_judge_and_limits_on_every_surface(live_app, client, admin_headers, fake_upstream) -> None:
    h = admin_headers
    env = setup_ws(client, h, fake_upstream)
    r = client.put(
        f"/workspace/{env['ws']}", headers=h, json={"judgeAiLlmId": env["config"], "judgeModel": "gpt-4o-mini"}
    )
    assert r.status_code == 200, r.text
    email = repo_key(client, h, env)
    p_email = policy(
        client,
        h,
        env,
        action=2,
        repo=email["repo"],
        name="no-emails",
        rule={"type": "CONTENT_PATTERN", "patterns": [], "detectors": ["EMAIL"]},
    )
    maxt = repo_key(client, h, env)
    p_max = policy(
        client, h, env, action=2, repo=maxt["repo"], name="small-answers", rule={"type": "MAX_TOKENS", "limit": 50}
    )
    judged = repo_key(client, h, env)
    p_nl = policy(
        client,
        h,
        env,
        action=2,
        repo=judged["repo"],
        name="no-secret-project",
        content="Never discuss the secret project.",
    )
    limited = repo_key(client, h, env)
    p_rl = policy(
        client,
        h,
        env,
        action=2,
        repo=limited["repo"],
        name="three-an-hour",
        rule={"type": "RATE_LIMIT", "requests": 3, "window": "HOUR", "per": "KEY"},
    )
    for k in (email, maxt, judged):
        wait_gateway_sees(live_app.url, k["secret"])
    time.sleep(1.0)  # policies reach the snapshot (no probe on the rate-limited key)

    for send, shape in ((messages, "anthropic"), (responses, "openai")):
        assert send(live_app.url, email["secret"], "hello there").status_code == 200
        cases = [
            (email, "mail me at a@b.example", p_email, 20),
            (maxt, "hi", p_max, 100),
            (judged, f"tell me about {JUDGE_VIOLATION} now", p_nl, 20),
        ]
        for k, text, p, mt in cases:
            r = send(live_app.url, k["secret"], text, mt)
            assert r.status_code == 403, (p["name"], r.text)
            body = r.json()
            if shape == "anthropic":
                assert body["type"] == "error" and body["error"]["type"] == "permission_error"
                assert p["name"] in body["error"]["message"]
            else:
                assert p["name"] in body["error"]["message"] and body["error"]["type"] == "permission_error"

    codes = [
        chat(live_app.url, limited["secret"], "a").status_code,
        messages(live_app.url, limited["secret"], "b").status_code,
        responses(live_app.url, limited["secret"], "c").status_code,
    ]
    assert codes == [200, 200, 200]
    r = messages(live_app.url, limited["secret"], "d")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error"
    assert p_rl["name"] in r.json()["error"]["message"]
    r = responses(live_app.url, limited["secret"], "e")
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
