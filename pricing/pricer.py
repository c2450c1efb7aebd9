"""Price one request: a configuration override first, then the offline table, else unknown.

An unknown price is `Price(None, "unknown")`, never $0. Pure apart from the table's one-time
load; never blocks after `table.load()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing import table
from pricing.overrides import PriceOverrides
from pricing.rates import Rates, TokenCounts, cost_usd

OVERRIDE = "override"
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True, slots=True)
class Price:
    cost_usd: Decimal | None
    source: str  # table:<version> | override | unknown


UNKNOWN = Price(None, UNKNOWN_SOURCE)


def rates_for(
    ai_type: str | None, model: str, overrides: PriceOverrides | None, now: datetime | None = None
) -> tuple[Rates, str] | None:
    """The rates that price `model` on a configuration of family `ai_type`, with their source."""
    if overrides:
        r = overrides.rates(model)
        if r is not None:
            return r, OVERRIDE
    if not ai_type or not model:
        return None
    e = table.entry(ai_type, model, now)
    return None if e is None else (e.rates, table.VERSION)


def price(
    ai_type: str | None,
    model: str,
    counts: TokenCounts,
    overrides: PriceOverrides | None = None,
    now: datetime | None = None,
) -> Price:
    found = rates_for(ai_type, model, overrides, now)
    if found is None:
        return UNKNOWN
    return Price(cost_usd(found[0], counts), found[1])


def worst_case_usd(rates: Rates, prompt_tokens: int, output_tokens: int) -> Decimal:
    """Most a request can cost: the whole prompt uncached and cache-written at the dearer of
    the two input rates, every output token at the dearer of output and reasoning."""
    r = rates.for_prompt(prompt_tokens) if rates.tiers else rates
    in_rate = max(r.input, r.cache_write or r.input)
    out_rate = max(r.output, r.reasoning or r.output)
    return cost_usd(
        Rates(input=in_rate, output=out_rate),
        TokenCounts(tokens_in=max(prompt_tokens, 0), tokens_out=max(output_tokens, 0)),
    )
