"""Pricing against provider list prices (USD per 1M tokens), overrides and unknown models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pricing import table
from pricing.overrides import PriceOverrides, parse_overrides
from pricing.pricer import UNKNOWN, price, rates_for, worst_case_usd
from pricing.rates import Rates, TokenCounts, cost_usd, format_usd

M = 1_000_000
NOW = datetime(2026, 11, 1, tzinfo=UTC)

# (family, model, counts, expected USD) — list prices: gpt-4o-mini $0.15 in / $0.075 cached /
# $0.60 out; claude-3-5-sonnet $3 in / $0.30 cache read / $3.75 cache write / $15 out;
# gemini-2.0-flash $0.10 / $0.025 cached / $0.40 out; Claude 3 Haiku on Bedrock $0.25 / $1.25
# (no cache price there: cache tokens billed as input); o3-mini $1.10 / $4.40 (reasoning = output).
LIST_PRICES = [
    ("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=M), "0.15"),
    ("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=M, cache_read=M), "0.075"),
    ("OPENAI", "gpt-4o-mini", TokenCounts(tokens_out=M), "0.6"),
    ("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=2 * M, cache_read=M, tokens_out=M), "0.825"),
    ("OPENAI", "gpt-4o-mini-2024-07-18", TokenCounts(tokens_in=1000, tokens_out=500), "0.00045"),
    ("ANTHROPIC", "claude-3-5-sonnet-20241022", TokenCounts(tokens_in=3 * M, cache_read=M, cache_write=M), "7.05"),
    ("ANTHROPIC", "claude-3-5-sonnet-20241022", TokenCounts(tokens_out=M), "15"),
    ("GOOGLE", "gemini-2.0-flash", TokenCounts(tokens_in=M, cache_read=M // 2, tokens_out=M), "0.4625"),
    ("AWS", "anthropic.claude-3-haiku-20240307-v1:0", TokenCounts(tokens_in=M, cache_read=M // 2, tokens_out=M), "1.5"),
    ("OPENAI", "o3-mini", TokenCounts(tokens_in=M, tokens_out=M, reasoning=M // 2), "5.5"),
    ("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=1, cache_read=1), "0.000000075"),
]


@pytest.mark.parametrize("family,model,counts,usd", LIST_PRICES)
def test_list_prices(family, model, counts, usd):
    p = price(family, model, counts, now=NOW)
    assert p.source == table.VERSION and p.source.startswith("table:genai-prices-")
    assert p.cost_usd == Decimal(usd)
    assert format_usd(p.cost_usd) == usd


def test_tiered_prices_bill_the_whole_request_at_the_tier_its_prompt_reaches():
    small = price("GOOGLE", "gemini-2.5-pro", TokenCounts(tokens_in=200_000, tokens_out=M), now=NOW)
    large = price("GOOGLE", "gemini-2.5-pro", TokenCounts(tokens_in=200_001, tokens_out=M), now=NOW)
    assert small.cost_usd == Decimal("0.25") + Decimal("10")  # $1.25 in, $10 out
    assert large.cost_usd == Decimal("0.5000025") + Decimal("15")  # $2.50 in, $15 out


def test_unknown_model_is_unknown_never_zero():
    for family, model in [
        ("OPENAI", "no-such-model-xyz"),
        ("OTHER", "my-local-llama"),
        (None, "gpt-4o-mini"),
        ("ANTHROPIC", ""),
    ]:
        p = price(family, model, TokenCounts(tokens_in=10, tokens_out=10), now=NOW)
        assert p is UNKNOWN and p.cost_usd is None and p.source == "unknown"
    assert format_usd(None) is None


def test_override_beats_table_first_glob_wins_case_insensitive():
    stored = parse_overrides(
        {
            "GPT-4o-mini*": {"input": "1", "cachedInput": "0.5", "cacheWrite": None, "output": "2"},
            "gpt-*": {"input": "9", "output": "9"},
            "llama-*": {"input": "0.05", "output": "0.10", "reasoning": "0.2"},
        }
    )
    assert stored["GPT-4o-mini*"] == {
        "input": "1",
        "output": "2",
        "cachedInput": "0.5",
        "cacheWrite": None,
        "reasoning": None,
    }
    ov = PriceOverrides(stored)
    p = price("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=M, cache_read=M // 2, tokens_out=M), ov, NOW)
    assert (p.cost_usd, p.source) == (Decimal("2.75"), "override")
    assert price("OPENAI", "gpt-4.1", TokenCounts(tokens_in=M), ov, NOW).cost_usd == Decimal("9")
    p = price("OTHER", "llama-3-8b", TokenCounts(tokens_in=M, tokens_out=M, reasoning=M // 2), ov, NOW)
    assert (p.cost_usd, p.source) == (Decimal("0.2"), "override")  # 0.05 + 0.05 + 0.10
    # a model no glob matches falls back to the table
    assert price("ANTHROPIC", "claude-3-5-sonnet-20241022", TokenCounts(tokens_out=M), ov, NOW).cost_usd == 15


@pytest.mark.parametrize(
    "raw,msg",
    [
        ([], "prices must be an object"),
        ({"m": {"input": "0.1"}}, "prices.m.output is required"),
        ({"m": {"input": 0.1, "output": "1"}}, "decimal string"),
        ({"m": {"input": "abc", "output": "1"}}, "not a decimal"),
        ({"m": {"input": "-1", "output": "1"}}, "between 0"),
        ({"m": {"input": "NaN", "output": "1"}}, "between 0"),
        ({"m": {"input": "1", "output": "1", "cached": "1"}}, "unknown field"),
        ({"": {"input": "1", "output": "1"}}, "model glob"),
    ],
)
def test_override_validation_names_the_field(raw, msg):
    with pytest.raises(ValueError, match=msg):
        parse_overrides(raw)


def test_cache_counts_never_exceed_the_prompt():
    r = Rates(input=Decimal(1), output=Decimal(2), cached_input=Decimal("0.1"), cache_write=Decimal(5))
    # a provider reporting more cached tokens than prompt tokens is clamped, never negative input
    assert cost_usd(r, TokenCounts(tokens_in=10, cache_read=30, cache_write=5)) == Decimal("0.000001")
    assert cost_usd(r, TokenCounts(tokens_in=10, cache_read=4, cache_write=10)) == Decimal("0.0000304")


def test_worst_case_uses_the_dearest_rates():
    r = Rates(input=Decimal(3), output=Decimal(15), cache_write=Decimal("3.75"), reasoning=None)
    assert worst_case_usd(r, M, M) == Decimal("18.75")
    found = rates_for("OPENAI", "gpt-4o-mini", None, NOW)
    assert found is not None and worst_case_usd(found[0], 1000, 1000) == Decimal("0.00075")


def test_table_model_data_gives_the_context_window():
    e = table.entry("OPENAI", "gpt-4o-mini", NOW)
    assert e is not None and e.context_window == 128_000


@pytest.mark.integration
def test_pricing_works_with_the_network_cut_off():
    """The wheel's own data is all that is read: with sockets disabled pricing still works."""
    code = textwrap.dedent("""
        import socket
        def refuse(*a, **k):
            raise RuntimeError("network touched")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from pricing.pricer import price
        from pricing.rates import TokenCounts
        p = price("OPENAI", "gpt-4o-mini", TokenCounts(tokens_in=1_000_000))
        print(p.source, p.cost_usd)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[1] == "0.150000000000"
