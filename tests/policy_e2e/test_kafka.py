"""Policies end to end on the real Kafka broker: `tollgate up` with TOLLGATE_KAFKA_BOOTSTRAP
(gateway -> Kafka -> policy consumer -> violations/decisions -> metering -> ClickHouse), each
rule type in block and in log mode, decision propagation to a second gateway process, and a
policy-consumer restart in the middle of a window (no double counting, nothing lost).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.policy_e2e.helpers import chat, policy, repo_key, setup_ws, until, violations, wait_gateway_sees
from tests.support.live import scanning_client

pytestmark = pytest.mark.kafka


def _private_groups(rt) -> None:
    """Own consumer groups per app, so apps of other tests never share partitions with us."""
    tag = uuid.uuid4().hex[:8]
    if rt.policy_consumer is not None:
        rt.policy_consumer.group_id = f"tollgate-policy-{tag}"
        rt.policy_consumer.judge_group_id = f"tollgate-policy-judge-{tag}"
    if rt.metering is not None:
        rt.metering.group_id = f"tollgate-metering-{tag}"


def _login(c: httpx.Client, live) -> dict:
    r = c.post("/user/login", json={"email": live.admin_email, "password": live.admin_password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_each_rule_type_block_and_log_through_kafka(live_app_factory, kafka_bootstrap, fake_upstream) -> None:
    live = live_app_factory(kind="up", configure=[_private_groups], kafka_bootstrap=kafka_bootstrap)
    with scanning_client(live.url) as c:
        h = _login(c, live)
        env = setup_ws(c, h, fake_upstream)
        cases = []  # (repo env, policy, request kwargs, expected status)

        def case(action, rule, expect, **req):
            r = repo_key(c, h, env)
            p = policy(c, h, env, action=action, rule=rule, repo=r["repo"])
            cases.append((r, p, req, expect))

        case(2, {"type": "MODEL_DENYLIST", "models": ["gpt-4o*"]}, 403)
        case(0, {"type": "MODEL_DENYLIST", "models": ["gpt-4o*"]}, 200)
        case(2, {"type": "MODEL_ALLOWLIST", "models": ["claude-*"]}, 403)
        case(1, {"type": "MODEL_ALLOWLIST", "models": ["claude-*"]}, 200)
        case(2, {"type": "CONTENT_PATTERN", "patterns": [], "detectors": ["EMAIL"]}, 403, text="mail me at a@b.example")
        case(0, {"type": "CONTENT_PATTERN", "patterns": ["proj(ect)? x"]}, 200, text="about project x")
        case(2, {"type": "MAX_TOKENS", "limit": 50}, 403, max_tokens=100)
        case(0, {"type": "MAX_TOKENS", "limit": 50}, 200, max_tokens=100)
        for r, *_ in cases:
            wait_gateway_sees(live.url, r["secret"])
        time.sleep(0.6)
        for r, p, req, expect in cases:
            resp = chat(live.url, r["secret"], **req)
            assert resp.status_code == expect, (p["rule"], resp.text)
            if expect == 403:
                assert p["name"] in resp.json()["error"]["message"]
        # limits: RATE_LIMIT and TOKEN_BUDGET, block (gateway 429 + consumer decision) and log
        rl_block = repo_key(c, h, env)
        p_rl_b = policy(
            c,
            h,
            env,
            action=2,
            repo=rl_block["repo"],
            rule={"type": "RATE_LIMIT", "requests": 3, "window": "HOUR", "per": "KEY"},
        )
        rl_log = repo_key(c, h, env)
        p_rl_l = policy(
            c,
            h,
            env,
            action=0,
            repo=rl_log["repo"],
            rule={"type": "RATE_LIMIT", "requests": 3, "window": "HOUR", "per": "REPO"},
        )
        tb_block = repo_key(c, h, env)
        p_tb_b = policy(
            c,
            h,
            env,
            action=2,
            repo=tb_block["repo"],
            rule={"type": "TOKEN_BUDGET", "limit": 40, "period": "DAY", "per": "KEY"},
        )
        tb_log = repo_key(c, h, env)
        p_tb_l = policy(
            c,
            h,
            env,
            action=1,
            repo=tb_log["repo"],
            rule={"type": "TOKEN_BUDGET", "limit": 20, "period": "DAY", "per": "KEY"},
        )
        time.sleep(1.0)  # keys + policies reach the snapshot (no /v1/models probe: it would count as a call)
        codes = [chat(live.url, rl_block["secret"], max_tokens=5).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
        r429 = chat(live.url, rl_block["secret"], max_tokens=5)
        assert r429.status_code == 429 and int(r429.headers["retry-after"]) >= 1
        assert [chat(live.url, rl_log["secret"]).status_code for _ in range(5)] == [200] * 5
        tb_codes = [chat(live.url, tb_block["secret"], "one two three", max_tokens=5).status_code for _ in range(8)]
        assert tb_codes[0] == 200 and tb_codes[-1] == 429, tb_codes
        assert [chat(live.url, tb_log["secret"], "one two three", max_tokens=5).status_code for _ in range(4)] == [
            200
        ] * 4

        # exactly one violation per fired in-path policy; one per crossing for the limits
        def count(pid):
            return violations(c, h, workspaceId=env["ws"], policyId=pid)["total"]

        for r, p, req, expect in cases:
            until(lambda: count(p["id"]), lambda n: n >= 1)

        def diag() -> str:
            async def read(rt):
                pc = rt.policy_consumer
                return {
                    (k[0][:8], k[1][-12:]): (x.requests, x.tokens, x.crossed)
                    for k, x in pc.handler.windows._counts.items()
                }

            vs = violations(c, h, workspaceId=env["ws"], take=100)["violations"]
            return (
                f"consumer windows={live.call(read)!r}; violations={[(v['policyId'][:8], v['policyName']) for v in vs]}"
            )

        for name, pol in (("rl_block", p_rl_b), ("rl_log", p_rl_l), ("tb_block", p_tb_b), ("tb_log", p_tb_l)):
            try:
                until(lambda: count(pol["id"]), lambda n: n >= 1)
            except AssertionError as exc:
                raise AssertionError(f"{name} ({pol['id'][:8]}): {exc}; {diag()}") from None
        time.sleep(1.5)
        for r, p, req, expect in cases:
            assert count(p["id"]) == 1, p["rule"]
        for pid in (p_rl_b["id"], p_rl_l["id"], p_tb_b["id"], p_tb_l["id"]):
            assert count(pid) == 1, pid
        blocks = violations(c, h, workspaceId=env["ws"], block="true")
        assert blocks["total"] == 6, [v["policyName"] for v in blocks["violations"]]  # 4 in-path + 2 limit crossings
        st = c.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=h).json()["stats"][0]
        assert int(st["totalPolicyViolations"]) == 12, st
        assert int(st["totalAlerts"]) == 2, st  # MODEL_ALLOWLIST alert + TOKEN_BUDGET alert
        # the request events of refused requests say "blocked" (the minute rollup counts them)
        rows = c.get("/aistats/minute", params={"repoId": rl_block["repo"]}, headers=h).json()["data"]
        assert sum(int(x["apiCalls"]) for x in rows) >= 3


def test_decisions_reach_a_second_gateway_and_consumer_restart_keeps_counts(
    live_app_factory, kafka_bootstrap, fake_upstream
) -> None:
    a = live_app_factory(kind="up", configure=[_private_groups], kafka_bootstrap=kafka_bootstrap)
    db_url = f"sqlite+aiosqlite:///{a.settings.data_dir / 'tollgate.db'}"
    b = live_app_factory(kind="gateway", kafka_bootstrap=kafka_bootstrap, database_url=db_url, gateway_id="gateway-b")
    with scanning_client(a.url) as c:
        h = _login(c, a)
        env = setup_ws(c, h, fake_upstream)
        p = policy(c, h, env, action=2, rule={"type": "RATE_LIMIT", "requests": 5, "window": "HOUR", "per": "REPO"})
        time.sleep(1.0)  # no /v1/models probe: it would count as a call against the limit
        # --- consumer restart mid-window: 3 requests, restart the policy consumer, 2 more
        for _ in range(3):
            assert chat(a.url, env["secret"], max_tokens=5).status_code == 200

        def counted(rt_attr="requests"):
            async def read(rt):
                pc = rt.policy_consumer
                return sum(x.requests for x in pc.handler.windows._counts.values() if x.policy.id == p["id"])

            return a.call(read)

        until(counted, lambda n: n == 3)

        async def restart(rt):
            from tollgate.policy_wiring import policy_consumer

            old = rt.policy_consumer
            await old.stop()
            snap = next(x for x in rt.components if getattr(x, "name", "") == "policy-snapshot")
            new, _ = policy_consumer(rt.settings, rt.sessionmaker, rt.bus)
            new.snapshot_getter = lambda: snap.snapshot
            new.group_id, new.judge_group_id = old.group_id, old.judge_group_id
            await new.start()
            rt.policy_consumer = new
            rt.components.append(new)
            rt._started.append(new)

        a.call(restart)
        until(counted, lambda n: n == 3, limit=30)  # rebuilt from the log, not doubled, not lost
        t_sent = None
        for _ in range(2):
            assert chat(a.url, env["secret"], max_tokens=5).status_code == 200
            t_sent = time.monotonic()

        # --- the crossing (5th request) is decided by the consumer; gateway B never saw traffic
        def b_status():
            return chat(b.url, env["secret"], max_tokens=5).status_code

        until(b_status, lambda s: s == 429, limit=5, step=0.02)
        lag = time.monotonic() - t_sent
        print(f"\nDECISION propagation to gateway B: {lag * 1000:.0f} ms after the crossing request answered")
        assert lag < 3.0
        v = until(
            lambda: violations(c, h, workspaceId=env["ws"], policyId=p["id"]),
            lambda j: j["total"] >= 1 and len(j["violations"]) >= 1,
        )
        time.sleep(1.0)
        v = violations(c, h, workspaceId=env["ws"], policyId=p["id"])
        assert v["total"] == 1 and "5 used" in v["violations"][0]["explanation"], v
