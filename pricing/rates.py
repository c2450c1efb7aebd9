"""Token counts x rates -> USD (Decimal). Pure, never blocks.

Counting convention (the gateway's, for every provider family):
- `tokens_in` is the whole prompt, cache reads and cache writes included (Anthropic's and
  Bedrock's separate counters are added up by the adapters);
- `tokens_out` is the whole completion, reasoning (thinking) tokens included.
So uncached input = tokens_in - cache_read - cache_write, plain output = tokens_out - reasoning.
A rate left out (None) falls back to the plain input (cache) or output (reasoning) rate: what
providers bill when they publish no separate price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

PER_TOKENS = 1_000_000  # rates are USD per 1M tokens
COST_QUANTUM = Decimal("1E-12")  # stored precision (ClickHouse Decimal(38, 12))
PICO_PER_MICRO = 10**6  # USD per 1M tokens x 1e6 = 1e-12 USD per token
_PER = Decimal(PER_TOKENS)


@dataclass(slots=True)
class TokenCounts:
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per 1M tokens. `tiers`: (prompt tokens above which, rates) ascending; the whole
    request is billed at the highest tier its prompt passes (providers' cliff pricing)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    tiers: tuple[tuple[int, Rates], ...] = ()
    # (input, output, cached input, cache write, reasoning) in 1e-12 USD per token, when every
    # rate is a whole number of those (prices with <= 6 decimals): integer arithmetic, exact.
    pico: tuple[int, int, int, int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        vals = (
            self.input,
            self.output,
            self.input if self.cached_input is None else self.cached_input,
            self.input if self.cache_write is None else self.cache_write,
            self.output if self.reasoning is None else self.reasoning,
        )
        scaled = [v * PICO_PER_MICRO for v in vals]
        if all(v == v.to_integral_value() for v in scaled):
            object.__setattr__(self, "pico", tuple(int(v) for v in scaled))

    def for_prompt(self, tokens_in: int) -> Rates:
        for start, rates in reversed(self.tiers):
            if tokens_in > start:
                return rates
        return self


def cost_usd(rates: Rates, c: TokenCounts) -> Decimal:
    """Exact cost of one request, quantized to 1e-12 USD."""
    r = rates.for_prompt(c.tokens_in) if rates.tiers else rates
    # clamps as conditionals: min()/max() calls were half the cost of pricing a request
    tin = c.tokens_in if c.tokens_in > 0 else 0
    tout = c.tokens_out if c.tokens_out > 0 else 0
    read = c.cache_read if c.cache_read > 0 else 0
    if read > tin:
        read = tin
    write = c.cache_write if c.cache_write > 0 else 0
    if write > tin - read:
        write = tin - read
    plain_in = tin - read - write
    reasoning = c.reasoning if c.reasoning > 0 else 0
    if reasoning > tout:
        reasoning = tout
    plain_out = tout - reasoning
    p = r.pico
    if p is not None:
        return Decimal(plain_in * p[0] + plain_out * p[1] + read * p[2] + write * p[3] + reasoning * p[4]).scaleb(-12)
    total = plain_in * r.input + plain_out * r.output
    if read:
        total += read * (r.input if r.cached_input is None else r.cached_input)
    if write:
        total += write * (r.input if r.cache_write is None else r.cache_write)
    if reasoning:
        total += reasoning * (r.output if r.reasoning is None else r.reasoning)
    return (total / _PER).quantize(COST_QUANTUM)


def format_usd(value: Decimal | None) -> str | None:
    """Wire form of a cost: a plain decimal string without exponent, trailing zeros dropped."""
    if value is None:
        return None
    s = format(value, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"
