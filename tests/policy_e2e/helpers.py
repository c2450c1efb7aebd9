"""Helpers for the policy end-to-end tests: set up through the management API, poll with bounds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.secrets import register_secret


def setup_ws(c: httpx.Client, headers: dict, fake: Any) -> dict:
    """Workspace + one OPENAI config on the fake upstream + one repo with a key."""
    suffix = uuid.uuid4().hex[:8]
    r = c.post("/workspace", json={"name": f"pol-{suffix}"}, headers=headers)
    assert r.status_code == 201, r.text
    ws = r.json()["workspace"]
    r = c.post(
        "/ai/llm",
        headers=headers,
        json={
            "name": f"openai-{suffix}",
            "aiType": "OPENAI",
            "endpoint": fake.endpoints["OPENAI"],
            "secret": fake.creds.openai_key,
            "workspaceId": ws["id"],
        },
    )
    assert r.status_code in (200, 201) and r.json()["success"], r.text
    env = {"ws": ws["id"], "org": ws["orgId"], "config": r.json()["aiLlmId"]}
    env.update(repo_key(c, headers, env))
    return env


def repo_key(c: httpx.Client, headers: dict, env: dict) -> dict:
    """Another repository (on the workspace's config) with its own key."""
    r = c.post(
        "/repo",
        headers=headers,
        json={
            "name": f"repo-{uuid.uuid4().hex[:8]}",
            "workspaceId": env["ws"],
            "repoAiLlms": [{"aiLlmId": env["config"]}],
        },
    )
    assert r.status_code in (200, 201), r.text
    repo_id = r.json()["repoId"]
    # raw client: the one response that legitimately shows the secret stays out of the secret scan
    r = httpx.post(
        f"{c.base_url}/repo/{repo_id}/ai/apikey", headers=headers, timeout=30, json={"name": "app", "aiType": "OPENAI"}
    )
    assert r.status_code == 201, r.text
    register_secret(r.json()["secret"])
    return {"repo": repo_id, "key_id": r.json()["id"], "secret": r.json()["secret"]}


def policy(
    c: httpx.Client,
    headers: dict,
    env: dict,
    *,
    action: int,
    rule: dict | None = None,
    content: str = "",
    risk: str = "HIGH",
    repo: str | None = None,
    name: str | None = None,
) -> dict:
    body = {
        "name": name or f"p-{uuid.uuid4().hex[:6]}",
        "content": content,
        "riskType": risk,
        "actionType": action,
        "orgId": env["org"],
        "workspaceId": env["ws"],
        "repoId": repo or env["repo"],
    }
    if rule is not None:
        body["rule"] = rule
    r = c.post("/policy", json=body, headers=headers)
    assert r.status_code in (200, 201) and r.json()["success"], r.text
    return r.json()["policy"]


def chat(
    base: str,
    secret: str,
    text: str = "hello there",
    *,
    model: str = "gpt-4o-mini",
    max_tokens: int | None = None,
    timeout: float = 30,
) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return httpx.post(
        base + "/v1/chat/completions", json=body, timeout=timeout, headers={"authorization": f"Bearer {secret}"}
    )


def until(fn: Callable[[], Any], ok: Callable[[Any], bool], limit: float = 20.0, step: float = 0.05) -> Any:
    """Poll `fn` until `ok(value)`; fail after `limit` seconds with the last value."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if ok(v):
            return v
        if time.monotonic() - t0 > limit:
            raise AssertionError(f"condition not met within {limit}s; last value: {v!r}")
        time.sleep(step)


def wait_gateway_sees(base: str, secret: str, limit: float = 10.0) -> None:
    """Until the new key is in the gateway's snapshot."""
    until(
        lambda: httpx.get(base + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code,
        lambda s: s == 200,
        limit,
    )


def violations(c: httpx.Client, headers: dict, **params: Any) -> dict:
    r = c.get("/policy/violations", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()
