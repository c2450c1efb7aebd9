"""Policies cannot be sidestepped by how a request spells its token limit.

A MAX_TOKENS block at 100: strings, floats, exponents, booleans and negatives are a 400 naming
the field on every surface (a provider might read them as a big number the policy never saw);
both OpenAI spellings together are judged by the larger.
"""

from __future__ import annotations

import httpx
import pytest

from tests.policy_e2e.helpers import policy, setup_ws, until, wait_gateway_sees

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _post(base: str, secret: str, path: str, raw: str) -> httpx.Response:
    return httpx.post(
        base + path,
        content=raw.encode(),
        timeout=30,
        headers={"authorization": f"Bearer {secret}", "content-type": "application/json"},
    )


def test_max_tokens_cannot_be_spelled_around(live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    p = policy(client, admin_headers, env, action=2, rule={"type": "MAX_TOKENS", "limit": 100})
    wait_gateway_sees(live_app.url, env["secret"])
    msgs = '"messages":[{"role":"user","content":"hi"}]'
    chat = lambda limits: _post(
        live_app.url,
        env["secret"],
        "/v1/chat/completions",  # noqa: E731
        f'{{"model":"gpt-4o-mini",{msgs}{limits}}}',
    )
    until(lambda: chat(',"max_tokens":5000').status_code, lambda s: s == 403)  # the policy is live
    assert chat(',"max_tokens":50').status_code == 200
    for limits, field in (
        (',"max_tokens":"5000"', "max_tokens"),
        (',"max_tokens":5000.0', "max_tokens"),
        (',"max_tokens":1e9', "max_tokens"),
        (',"max_tokens":true', "max_tokens"),
        (',"max_tokens":-1', "max_tokens"),
        (',"max_completion_tokens":"9999"', "max_completion_tokens"),
    ):
        r = chat(limits)
        assert r.status_code == 400 and r.json()["error"]["param"] == field, (limits, r.text)
    r = chat(',"max_completion_tokens":10,"max_tokens":5000')
    assert r.status_code == 403 and p["name"] in r.json()["error"]["message"], r.text
    r = chat(',"max_tokens":10,"max_completion_tokens":5000')
    assert r.status_code == 403, r.text
    # the other surfaces: Responses (max_output_tokens) and Messages (max_tokens)
    r = _post(
        live_app.url, env["secret"], "/v1/responses", '{"model":"gpt-4o-mini","input":"hi","max_output_tokens":"5000"}'
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_output_tokens", r.text
    r = _post(
        live_app.url, env["secret"], "/v1/responses", '{"model":"gpt-4o-mini","input":"hi","max_output_tokens":5000}'
    )
    assert r.status_code == 403, r.text
    r = _post(live_app.url, env["secret"], "/v1/messages", f'{{"model":"gpt-4o-mini",{msgs},"max_tokens":5000.0}}')
    assert r.status_code == 400 and r.json()["type"] == "error", r.text
    r = _post(live_app.url, env["secret"], "/v1/messages", f'{{"model":"gpt-4o-mini",{msgs},"max_tokens":5000}}')
    assert r.status_code == 403, r.text
