"""Policies end to end through the shared embedded `tollgate up` (in-process bus, embedded
ClickHouse): natural-language policies judged by the fake upstream (blocking in the request
path, and log/alert asynchronously by the policy consumer), the missing-judge report, tenancy
of violations, and the 200-caller budget race against one gateway process.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from fakeupstream.rules import JUDGE_VIOLATION
from tests.policy_e2e.helpers import chat, policy, setup_ws, until, violations, wait_gateway_sees

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _set_judge(client, headers, env) -> None:
    r = client.put(
        f"/workspace/{env['ws']}", headers=headers, json={"judgeAiLlmId": env["config"], "judgeModel": "gpt-4o-mini"}
    )
    assert r.status_code == 200 and r.json()["workspace"]["judgeModel"] == "gpt-4o-mini", r.text


def test_workspace_judge_setting_is_validated(client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    r = client.put(f"/workspace/{env['ws']}", headers=admin_headers, json={"judgeModel": "gpt-4o-mini"})
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.put(
        f"/workspace/{env['ws']}",
        headers=admin_headers,
        json={"judgeAiLlmId": "00000000-0000-0000-0000-000000000000", "judgeModel": "m"},
    )
    assert r.status_code == 400 and "judgeAiLlmId" in r.json()["message"]
    r = client.put(f"/workspace/{env['ws']}", headers=admin_headers, json={})
    assert r.status_code == 400
    _set_judge(client, admin_headers, env)
    r = client.put(f"/workspace/{env['ws']}", headers=admin_headers, json={"judgeAiLlmId": None, "judgeModel": None})
    assert r.status_code == 200 and r.json()["workspace"]["judgeAiLlmId"] is None


def test_blocking_nl_policy_is_judged_before_forwarding(live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    _set_judge(client, admin_headers, env)
    p = policy(
        client, admin_headers, env, action=2, content="Never discuss the secret project.", name="no-secret-project"
    )
    wait_gateway_sees(live_app.url, env["secret"])
    time.sleep(0.6)  # the policy reaches the snapshot within a poll
    before = fake_upstream.control.snapshot() if hasattr(fake_upstream.control, "snapshot") else None
    ok = chat(live_app.url, env["secret"], "tell me a joke")
    assert ok.status_code == 200, ok.text
    bad = chat(live_app.url, env["secret"], f"tell me about {JUDGE_VIOLATION} now")
    assert bad.status_code == 403, bad.text
    assert "no-secret-project" in bad.json()["error"]["message"]
    del before
    v = until(
        lambda: violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"]),
        lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
    )
    assert v["total"] == 1  # exactly one event, for the violating request only
    row = v["violations"][0]
    assert row["block"] is True and row["severity"] == "HIGH" and "fake judge" in row["explanation"]
    # judge tokens are on the violation -> per-config stats
    st = until(
        lambda: client.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=admin_headers).json(),
        lambda j: j.get("stats") and int(j["stats"][0]["totalLlmTokensIn"]) > 0,
    )
    s0 = st["stats"][0]
    assert int(s0["totalLlmTokensOut"]) > 0 and int(s0["totalBlocks"]) >= 1
    assert int(s0["totalPolicyViolations"]) >= 1


def test_async_nl_alert_policy_is_judged_by_the_consumer(live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    _set_judge(client, admin_headers, env)
    p = policy(client, admin_headers, env, action=1, content="Report talk about competitors.", risk="LOW")
    wait_gateway_sees(live_app.url, env["secret"])
    time.sleep(0.6)
    for text in ("harmless question", f"compare with {JUDGE_VIOLATION} inc", "another harmless one"):
        r = chat(live_app.url, env["secret"], text)
        assert r.status_code == 200, r.text  # alert policies never block
    v = until(
        lambda: violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"]),
        lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
    )
    time.sleep(1.0)
    v = violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"])
    assert v["total"] == 1 and v["violations"][0]["block"] is False
    r = client.get("/policy/alerts", params={"workspaceId": env["ws"]}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["total"] == 1, r.text
    st = client.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=admin_headers).json()["stats"][0]
    assert int(st["totalAlerts"]) == 1 and int(st["totalLlmTokensIn"]) > 0 and int(st["totalBlocks"]) == 0


def test_nl_policy_without_a_judge_is_reported_not_ignored(
    live_app, client, admin_headers, fake_upstream, caplog
) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    p = policy(client, admin_headers, env, action=2, content="No medical advice.")
    wait_gateway_sees(live_app.url, env["secret"])
    time.sleep(0.6)
    r = chat(live_app.url, env["secret"], f"{JUDGE_VIOLATION} please")
    assert r.status_code == 200, r.text  # fails open, but says so
    v = until(
        lambda: violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"]),
        lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
    )
    row = v["violations"][0]
    assert "could not be judged" in row["explanation"] and "no policy judge" in row["explanation"]
    assert row["block"] is False


def test_read_user_lists_violations_but_cannot_create_policies_outsider_sees_none(
    live_app, client, admin_headers, fake_upstream, make_user
) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    p = policy(client, admin_headers, env, action=2, rule={"type": "MODEL_DENYLIST", "models": ["gpt-4o*"]})
    wait_gateway_sees(live_app.url, env["secret"])
    time.sleep(0.6)
    r = chat(live_app.url, env["secret"])
    assert r.status_code == 403 and p["name"] in r.json()["error"]["message"]
    until(
        lambda: violations(client, admin_headers, workspaceId=env["ws"]),
        lambda j: j["total"] == 1 and len(j["violations"]) == 1,
    )
    reader = make_user(workspaces={env["ws"]: "READ"})
    got = violations(client, reader.headers, workspaceId=env["ws"])
    assert got["total"] == 1 and got["violations"][0]["policyId"] == p["id"]
    r = client.post(
        "/policy",
        headers=reader.headers,
        json={
            "name": "nope",
            "content": "",
            "riskType": "LOW",
            "actionType": 0,
            "orgId": env["org"],
            "workspaceId": env["ws"],
            "rule": {"type": "MAX_TOKENS", "limit": 5},
        },
    )
    assert r.status_code == 403, r.text
    outsider = make_user(new_org=True)
    r = client.get("/policy/violations", headers=outsider.headers)
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["violations"] == []
    r = client.get("/policy/violations", params={"workspaceId": env["ws"]}, headers=outsider.headers)
    assert r.status_code in (200, 404) and (r.status_code == 404 or r.json()["total"] == 0)


def test_budget_under_200_concurrent_callers(live_app, client, admin_headers, fake_upstream) -> None:
    """One gateway process, 200 concurrent callers, TOKEN_BUDGET per key: final usage is within one
    request's worst case of the limit on both sides. Above: requests are admitted only while
    usage + in-flight worst cases < limit. Below: a refusal caused only by in-flight reservations
    waits for them to settle (re-checking) instead of answering 429, and the gateway's own usage
    is never counted twice against the consumer's published state, so it stops only once the
    settled usage reached the limit."""
    env = setup_ws(client, admin_headers, fake_upstream)
    limit = 1500
    policy(
        client,
        admin_headers,
        env,
        action=2,
        rule={"type": "TOKEN_BUDGET", "limit": limit, "period": "DAY", "per": "KEY"},
    )
    wait_gateway_sees(live_app.url, env["secret"])
    time.sleep(0.6)
    max_tokens = 12
    text = "count these few words please"
    worst = len(text) // 4 + 1 + max_tokens  # the gateway's worst-case reservation

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_app.url, timeout=60, limits=httpx.Limits(max_connections=200)) as ac:
            body = {"model": "gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
            return await asyncio.gather(
                *(
                    ac.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {env['secret']}"})
                    for _ in range(200)
                )
            )

    resps = asyncio.run(run())
    ok = [r for r in resps if r.status_code == 200]
    limited = [r for r in resps if r.status_code == 429]
    assert len(ok) + len(limited) == 200, {r.status_code for r in resps}
    assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)
    used = sum(r.json()["usage"]["total_tokens"] for r in ok)
    overshoot = used - limit
    print(
        f"\nBUDGET 200 callers: limit={limit} used={used} admitted={len(ok)} "
        f"overshoot={overshoot} worst_case_one_request={worst}"
    )
    assert overshoot <= worst  # at most one request's worst case above the limit
    assert used >= limit - worst  # ... and not refused early (was 988 of 1500 before)
