"""COST_BUDGET with action log or alert, end to end through the embedded `tollgate up` (gateway ->
event log -> policy consumer -> violations -> metering): the crossing is recorded once as a
violation (log) or an alert (alert), exactly like a TOKEN_BUDGET, and never refuses a request."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.policy_e2e.helpers import chat, policy, repo_key, setup_ws, until, violations, wait_gateway_sees

SQLITE = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@SQLITE
def test_cost_budget_log_and_alert_record_their_crossing(live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    log_env, alert_env = repo_key(client, admin_headers, env), repo_key(client, admin_headers, env)
    rule = {"type": "COST_BUDGET", "limitUsd": "0.000003", "period": "DAY", "per": "KEY"}
    p_log = policy(client, admin_headers, env, action=0, rule=rule, repo=log_env["repo"], risk="LOW")
    p_alert = policy(client, admin_headers, env, action=1, rule=rule, repo=alert_env["repo"], risk="MEDIUM")
    for e in (log_env, alert_env):
        wait_gateway_sees(live_app.url, e["secret"])
    time.sleep(0.6)  # the policies reach the snapshot within a poll
    for e in (log_env, alert_env):
        codes = [chat(live_app.url, e["secret"], "price me please", max_tokens=8).status_code for _ in range(6)]
        assert codes == [200] * 6  # log/alert never refuse
    for p in (p_log, p_alert):
        v = until(
            lambda p=p: violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"]),
            lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
        )
        row = v["violations"][0]
        assert row["block"] is False and "Cost budget of $0.000003 per DAY reached" in row["explanation"], row
    time.sleep(1.0)  # one crossing per window, however many calls follow
    for p in (p_log, p_alert):
        assert violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"])["total"] == 1
    alerts = until(
        lambda: client.get("/policy/alerts", params={"workspaceId": env["ws"]}, headers=admin_headers).json(),
        lambda j: j["total"] >= 1,
    )
    assert alerts["total"] == 1 and {a["policyId"] for a in alerts["alerts"]} == {p_alert["id"]}, alerts
    st = until(
        lambda: client.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=admin_headers).json(),
        lambda j: j.get("stats") and int(j["stats"][0]["totalPolicyViolations"]) >= 2,
    )["stats"][0]
    assert int(st["totalPolicyViolations"]) == 2 and int(st["totalAlerts"]) == 1 and int(st["totalBlocks"]) == 0


@SQLITE
def test_unpriced_model_under_a_dollar_budget_is_refused_in_each_surface_shape(
    live_app, client, admin_headers, fake_upstream
) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    rk = repo_key(client, admin_headers, env)
    rule = {"type": "COST_BUDGET", "limitUsd": "25.00", "period": "DAY", "per": "KEY"}
    p = policy(client, admin_headers, env, action=2, rule=rule, repo=rk["repo"], name="usd-cap")
    wait_gateway_sees(live_app.url, rk["secret"])
    time.sleep(0.6)
    assert chat(live_app.url, rk["secret"], max_tokens=8).status_code == 200  # priced by the table
    r = chat(live_app.url, rk["secret"], model="openai/house-finetune-7", max_tokens=8)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "price_unknown" and "house-finetune-7" in err["message"], err
    assert "usd-cap" in err["message"] and "price override" in err["message"]
    r = httpx.post(
        live_app.url + "/v1/messages",
        headers={"x-api-key": rk["secret"], "anthropic-version": "2023-06-01"},
        json={"model": "openai/house-finetune-7", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 403 and r.json()["type"] == "error", r.text  # Anthropic's error shape
    assert "house-finetune-7" in r.json()["error"]["message"]
    v = until(
        lambda: violations(client, admin_headers, workspaceId=env["ws"], policyId=p["id"]),
        lambda j: j["total"] >= 2 and len(j["violations"]) >= 2,
    )
    assert all(x["block"] is True and "No price is known" in x["explanation"] for x in v["violations"])
    until(  # counted as blocks of the configuration the requests would have used
        lambda: client.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=admin_headers).json(),
        lambda j: j.get("stats") and int(j["stats"][0]["totalBlocks"]) >= 2,
    )
    # the fix the message names: a price override (with the model's output cap) admits the model
    fake_models = fake_upstream.app.state.ctx.models["openai"]
    fake_models.append("house-finetune-7")
    try:
        prices = {"house-finetune-*": {"input": "1", "output": "2", "maxOutputTokens": 1000}}
        r = client.put(f"/ai/llm/{env['config']}", headers=admin_headers, json={"prices": prices})
        assert r.status_code == 200, r.text
        listed = client.get("/ai/llm", params={"workspaceId": env["ws"]}, headers=admin_headers).json()["aiLlms"]
        [cfg] = [x for x in listed if x["id"] == env["config"]]
        assert cfg["prices"]["house-finetune-*"]["maxOutputTokens"] == "1000", cfg
        ok = until(
            lambda: chat(live_app.url, rk["secret"], model="openai/house-finetune-7", max_tokens=8),
            lambda resp: resp.status_code != 403,
        )
        assert ok.status_code == 200, ok.text
    finally:
        fake_models.remove("house-finetune-7")


@pytest.mark.kafka
def test_cost_budget_crossings_through_kafka(live_app_factory, kafka_bootstrap, fake_upstream) -> None:
    """The same through Kafka (gateway -> requests topic -> policy consumer -> violations and
    decisions topics): log and alert record their crossing once; block records it and the
    consumer's decision refuses the key until the window ends."""
    from tests.policy_e2e.test_kafka import _login, _private_groups
    from tests.support.live import scanning_client

    live = live_app_factory(kind="up", configure=[_private_groups], kafka_bootstrap=kafka_bootstrap)
    with scanning_client(live.url) as c:
        h = _login(c, live)
        env = setup_ws(c, h, fake_upstream)
        rule = {"type": "COST_BUDGET", "limitUsd": "0.000003", "period": "DAY", "per": "KEY"}
        keys, pols = {}, {}
        for action in (0, 1, 2):
            keys[action] = repo_key(c, h, env)
            pols[action] = policy(c, h, env, action=action, rule=rule, repo=keys[action]["repo"])
        time.sleep(1.0)  # keys + policies reach the snapshot (no probe: it would be a call)
        for action in (0, 1):
            codes = [chat(live.url, keys[action]["secret"], "price me", max_tokens=8).status_code for _ in range(5)]
            assert codes == [200] * 5
        # blocking: admitted until the spend reaches the limit, then 429 until the window ends
        codes = [chat(live.url, keys[2]["secret"], "price me", max_tokens=8).status_code for _ in range(8)]
        assert codes[0] == 200 and codes[-1] == 429, codes
        for action in (0, 1, 2):
            v = until(
                lambda a=action: violations(c, h, workspaceId=env["ws"], policyId=pols[a]["id"]),
                lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
                limit=30,
            )
            row = v["violations"][0]
            assert row["block"] is (action == 2) and "Cost budget of $0.000003" in row["explanation"], row
        r = chat(live.url, keys[2]["secret"], "price me", max_tokens=8)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 1  # the window end, not a retry hint
        alerts = c.get("/policy/alerts", params={"workspaceId": env["ws"]}, headers=h).json()
        assert {a["policyId"] for a in alerts["alerts"]} == {pols[1]["id"]}, alerts
