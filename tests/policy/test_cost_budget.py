"""COST_BUDGET rules (limitUsd, period, per incl. ORG) and the USD worst case reserved for them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from policy.compiled import compile_policy
from policy.engine import PolicyEngine
from policy.evaluate import RequestContext
from policy.rules import PICO_PER_USD, CostBudgetRule, RuleError, limit_metrics, parse_rule, rule_to_wire
from pricing.overrides import PriceOverrides, parse_overrides
from producers.policy.budget_gate import cost_pico, output_cap, worst_usd_pico

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_cost_budget_parses_and_round_trips() -> None:
    r = parse_rule({"type": "COST_BUDGET", "limitUsd": "25.00", "period": "DAY", "per": "ORG"})
    assert isinstance(r, CostBudgetRule) and r.limit_pico == 25 * PICO_PER_USD
    assert rule_to_wire(r) == {"type": "COST_BUDGET", "limitUsd": "25.00", "period": "DAY", "per": "ORG"}
    assert limit_metrics(r) == [("usd_pico", 25 * PICO_PER_USD)]


@pytest.mark.parametrize(
    "rule,field",
    [
        ({"type": "COST_BUDGET", "limitUsd": 25, "period": "DAY"}, "rule.limitUsd"),
        ({"type": "COST_BUDGET", "limitUsd": "abc", "period": "DAY"}, "rule.limitUsd"),
        ({"type": "COST_BUDGET", "limitUsd": "0", "period": "DAY"}, "rule.limitUsd"),
        ({"type": "COST_BUDGET", "limitUsd": "1", "period": "YEAR"}, "rule.period"),
        ({"type": "COST_BUDGET", "period": "DAY"}, "rule.limitUsd"),
    ],
)
def test_cost_budget_refusals_name_the_field(rule, field) -> None:
    with pytest.raises(RuleError) as e:
        parse_rule(rule)
    assert e.value.message.startswith(field), e.value.message


def _ctx(worst: int) -> RequestContext:
    return RequestContext(
        org_id="o",
        workspace_id="w",
        repo_id="r",
        key_id="k",
        model="gpt-4o-mini",
        max_tokens=10,
        prompt_tokens_estimate=5,
        worst_usd_pico=worst,
    )


def test_engine_reserves_worst_usd_and_settles_the_real_cost() -> None:
    eng = PolicyEngine(gateway_id="g")
    eng.set_policies(
        [
            compile_policy(
                id="p1",
                org_id="o",
                name="usd",
                action_type=2,
                risk_type="HIGH",
                workspace_id="w",
                repo_id=None,
                content="",
                rule={"type": "COST_BUDGET", "limitUsd": "0.000001", "period": "DAY", "per": "ORG"},
            )
        ]
    )
    first = eng.precheck(_ctx(600_000), NOW)  # 0.6 µUSD worst case
    assert first.block is None and first.reservations[0].amount == 600_000
    assert first.reservations[0].key == ("ORG:o:p1", "usd_pico")
    second = eng.precheck(_ctx(600_000), NOW)  # below the limit: admitted (one worst case over)
    assert second.block is None
    third = eng.precheck(_ctx(600_000), NOW)
    assert third.block is not None and third.block.status == 429 and "Cost budget" in third.block.explanation
    eng.settle(first, 10, NOW, cost_pico=100_000)
    eng.settle(second, 10, NOW, cost_pico=100_000)
    assert eng.precheck(_ctx(600_000), NOW).block is None  # the real cost freed the room


def test_worst_case_usd_uses_the_routed_configuration_and_its_overrides() -> None:
    cfg = SimpleNamespace(prices=None)
    ctx = SimpleNamespace(
        extra={"ai_llm_id": "c", "ai_type": "OPENAI", "provider_model": "gpt-4o-mini"},
        snapshot=SimpleNamespace(configs={"c": cfg}),
        model="gpt-4o-mini",
    )
    # 1000 prompt tokens at $0.15 + 100 output tokens at $0.60 per 1M
    assert worst_usd_pico(ctx, 1000, 100) == int(Decimal("0.00021") * PICO_PER_USD)
    ctx.extra["provider_model"] = "no-such-model"
    assert worst_usd_pico(ctx, 1000, 100) is None  # unknown price: a blocking budget refuses it
    assert cost_pico(SimpleNamespace(cost_usd="0.000001")) == 1_000_000
    assert cost_pico(SimpleNamespace(cost_usd=None)) == 0


def test_output_cap_is_the_limit_else_the_model_cap_within_the_context_window() -> None:
    assert output_cap("OPENAI", "gpt-4o-mini", 100, 50) == 50
    assert output_cap("OPENAI", "gpt-4o-mini", 100, None) == 16_384  # published cap, not a flat 4096
    assert output_cap("OPENAI", "gpt-4o-mini", 127_000, None) < 4096  # 128k window: ~1000 left
    assert output_cap("GOOGLE", "gemini-2.5-flash", 10, None) == 65_536
    assert output_cap("AWS", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", 10, None) == 64_000
    assert output_cap("ANTHROPIC", "claude-sonnet-4-20250514", 10, None) == 4096  # what the adapter sends
    assert output_cap(None, "x", 10, None) == 4096  # unknown: the default ...
    assert output_cap("OTHER", "my-llama", 10, None, default=1000) == 1000  # ... which is a setting
    ov = PriceOverrides(parse_overrides({"my-llama*": {"input": "1", "output": "2", "maxOutputTokens": 2048}}))
    assert output_cap("OTHER", "my-llama-70b", 10, None, ov) == 2048  # the configuration's override
    assert output_cap("OTHER", "my-llama-70b", 10, 77, ov) == 77


def test_per_org_limits_count_in_the_consumer_windows_too() -> None:
    from policy.windows import _subject_id
    from schemas.events import RequestEvent

    ev = RequestEvent(
        gateway_id="g", request_id="r", org_id="org-1", workspace_id="w", repo_id="r", repo_ai_api_key_id="k"
    )
    from policy.rules import Per

    assert _subject_id(Per.ORG, ev) == "org-1"
    assert parse_rule({"type": "TOKEN_BUDGET", "limit": 10, "period": "DAY", "per": "ORG"}).per is Per.ORG
