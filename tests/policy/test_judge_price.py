"""The policy judge's own calls are priced like gateway requests (table, override, unknown)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from pricing.overrides import PriceOverrides, parse_overrides
from producers.adapters.base import Usage
from producers.policy.judge import judge_price


def test_judge_call_priced_from_the_table_with_cache_and_reasoning() -> None:
    cfg = SimpleNamespace(ai_type="OPENAI", prices=None)
    p = judge_price(cfg, "gpt-4o-mini", Usage(1_000_000, 1_000_000, 500_000, reasoning=10))
    assert p.source.startswith("table:")
    assert p.cost_usd == Decimal("0.5") * Decimal("0.15") + Decimal("0.5") * Decimal("0.075") + Decimal("0.60")


def test_judge_call_override_and_unknown() -> None:
    ov = PriceOverrides(parse_overrides({"judge-*": {"input": "2", "output": "4"}}))
    p = judge_price(SimpleNamespace(ai_type="OTHER", prices=ov), "judge-small", Usage(500_000, 250_000))
    assert (p.cost_usd, p.source) == (Decimal(2), "override")
    p = judge_price(SimpleNamespace(ai_type="OTHER", prices=None), "judge-small", Usage(10, 10))
    assert p.cost_usd is None and p.source == "unknown"
    assert judge_price(SimpleNamespace(ai_type="OPENAI", prices=None), "gpt-4o-mini", None).cost_usd is None
