"""A blocking COST_BUDGET refuses a request whose model has no known price (no table entry, no
override on the configuration it is routed to) before anything is forwarded: a 403 that says how
to fix it, reported as a blocking violation (a block in the statistics). Log/alert budgets, priced
models and models priced by an override are not refused."""

from datetime import UTC, datetime

from policy.compiled import compile_policy
from policy.engine import PolicyEngine
from policy.evaluate import RequestContext as PolicyContext
from pricing.overrides import PriceOverrides, parse_overrides
from producers.gateway.hooks import RequestContext
from producers.policy.hooks import GatewayPolicyHooks
from schemas import topics
from store.snapshot import ConfigEntry, KeyEntry, PolicyEntry, RepoEntry, Snapshot

T0 = datetime(2026, 12, 2, 11, tzinfo=UTC)
REPO = RepoEntry(repo_id="r", org_id="o", workspace_id="w", name="repo", disabled=False, configs=())
KEY = KeyEntry(key_id="k", name="key", repo=REPO)
BUDGET = {"type": "COST_BUDGET", "limitUsd": "5.00", "period": "DAY", "per": "KEY"}


class ListPublisher:
    def __init__(self) -> None:
        self.sent: list = []

    def emit(self, topic, key, event) -> None:
        self.sent.append((topic, key, event))


def config(ai_type: str, prices: dict | None = None) -> ConfigEntry:
    return ConfigEntry(
        ai_llm_id="cfg",
        org_id="o",
        workspace_id="w",
        name="c",
        ai_type=ai_type,
        endpoint="http://127.0.0.1:1",
        region=None,
        updated_at=None,
        prices=PriceOverrides(parse_overrides(prices)) if prices else None,
    )


def run(model: str, ai_type: str = "OTHER", action: int = 2, prices: dict | None = None):
    cfg = config(ai_type, prices)
    pol = PolicyEntry(
        policy_id="usd",
        org_id="o",
        workspace_id=None,
        repo_id=None,
        name="Dollars",
        content="",
        risk_type="HIGH",
        action_type=action,
        rule=BUDGET,
    )
    snap = Snapshot(epoch=1, keys_by_hash={}, repos={}, configs={"cfg": cfg}, policies=(pol,))
    ctx = RequestContext(
        request_id="req-1", key=KEY, snapshot=snap, endpoint="chat.completions", model=model, user_id=None
    )
    ctx.extra.update({"ai_llm_id": "cfg", "ai_type": ai_type, "provider_model": model})
    pub = ListPublisher()
    h = GatewayPolicyHooks(lambda: pub, "gw-1", clock=lambda: T0)
    block = h.precheck(ctx, {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
    return block, pub, ctx


def test_unpriced_model_under_a_blocking_dollar_budget_is_refused_with_the_fix() -> None:
    block, pub, ctx = run("my-llama-70b")
    assert block is not None and block.status == 403 and block.code == "price_unknown"
    assert block.policy_id == "usd"
    assert "No price is known for model 'my-llama-70b'" in block.message
    assert "policy 'Dollars'" in block.message and "price override" in block.message
    [(topic, key, v)] = pub.sent  # reported like any policy refusal: one blocking violation
    assert topic == topics.VIOLATIONS and key == "usd" and v.block is True and v.llm_model == "my-llama-70b"
    assert "policy_result" not in ctx.extra or not ctx.extra["policy_result"].reservations  # nothing reserved


def test_an_override_prices_the_model_and_the_request_is_admitted() -> None:
    block, pub, ctx = run("my-llama-70b", prices={"my-llama-*": {"input": "0.5", "output": "1.0"}})
    assert block is None and pub.sent == []
    [res] = ctx.extra["policy_result"].reservations
    assert res.key == ("KEY:k:usd", "usd_pico") and res.amount > 0


def test_table_priced_models_and_non_blocking_budgets_pass() -> None:
    assert run("gpt-4o-mini", ai_type="OPENAI")[0] is None
    for action in (0, 1):  # log/alert budgets never refuse (the consumer reports their crossing)
        block, pub, _ = run("my-llama-70b", action=action)
        assert block is None and pub.sent == []


def test_engine_refusal_comes_before_any_budget_state() -> None:
    eng = PolicyEngine(gateway_id="g")
    eng.set_policies(
        [compile_policy(id="usd", org_id="o", name="Dollars", action_type=2, risk_type="HIGH", rule=BUDGET)]
    )
    pctx = PolicyContext(org_id="o", workspace_id="w", repo_id="r", key_id="k", model="x", unpriced_model="x")
    res = eng.precheck(pctx, T0)
    assert res.block is not None and res.block.status == 403 and res.block.rule_type == "COST_BUDGET"
    assert res.reservations == []
