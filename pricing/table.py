"""The offline price table: the data that ships inside the `genai-prices` wheel.

Nothing here touches the network: only the bundled snapshot is read (genai-prices' opt-in
`UpdatePrices` refresher is never started). Importing the data costs ~1 s of CPU once, so
`load()` is called off the event loop at startup; lookups after that are dict hits.
Blocking: `load()` blocks (import); `rates()` / `model_limits()` block only on the first call
when `load()` was not called.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from time import time as _time
from typing import Any

from pricing.rates import Rates

# The gateway's provider families -> genai-prices provider ids. OTHER (any OpenAI-compatible
# endpoint) has no provider: the model name alone picks one (self-hosted models need overrides).
PROVIDERS: dict[str, str | None] = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "GOOGLE": "google",
    "AWS": "aws",
    "OTHER": None,
}
MAX_CACHED = 4096

_lock = threading.Lock()
_snapshot: Any = None
_cache: dict[tuple[str | None, str], tuple[int, Entry | None]] = {}
VERSION = "table:genai-prices-" + version("genai-prices")


@dataclass(frozen=True, slots=True)
class Entry:
    rates: Rates
    context_window: int | None


def load() -> None:
    """Import the bundled price data (blocks ~1 s once; idempotent)."""
    global _snapshot
    if _snapshot is not None:
        return
    with _lock:
        if _snapshot is None:
            from genai_prices import data_snapshot

            snap = data_snapshot.get_snapshot()
            if snap.from_auto_update:  # only the bundled data is ever used
                snap = data_snapshot._bundled_snapshot()  # noqa: SLF001
            _snapshot = snap


def _dec(v: Any) -> Decimal | None:
    return v if isinstance(v, Decimal) else None


def _rates_of(mp: Any) -> Rates | None:
    """genai-prices ModelPrice -> Rates (tiered prices become `tiers`); None without a token price."""
    fields = {
        "input": mp.input_mtok,
        "output": mp.output_mtok,
        "cached_input": mp.cache_read_mtok,
        "cache_write": mp.cache_write_mtok,
        "reasoning": mp.output_reasoning_mtok,
    }
    if fields["input"] is None and fields["output"] is None:
        return None
    base: dict[str, Any] = {k: (getattr(v, "base", v) if v is not None else None) for k, v in fields.items()}
    base["input"] = base["input"] or Decimal(0)
    base["output"] = base["output"] or Decimal(0)
    starts = sorted({t.start for v in fields.values() if v is not None and hasattr(v, "tiers") for t in v.tiers})
    tiers: list[tuple[int, Rates]] = []
    for start in starts:
        tier_vals: dict[str, Any] = {}
        for k, v in fields.items():
            price = base[k]
            for t in getattr(v, "tiers", ()) or ():
                if t.start <= start:
                    price = t.price
            tier_vals[k] = price
        tier_fields: dict[str, Any] = {k: _dec(v) if k not in ("input", "output") else v for k, v in tier_vals.items()}
        tiers.append((start, Rates(**tier_fields)))
    return Rates(
        input=base["input"],
        output=base["output"],
        cached_input=_dec(base["cached_input"]),
        cache_write=_dec(base["cache_write"]),
        reasoning=_dec(base["reasoning"]),
        tiers=tuple(tiers),
    )


def _lookup(provider_id: str | None, model: str, now: datetime) -> Entry | None:
    load()
    try:
        _provider, info = _snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    rates = _rates_of(info.get_prices(now))
    return None if rates is None else Entry(rates, info.context_window)


def entry(ai_type: str, model: str, now: datetime | None = None) -> Entry | None:
    """Table rates and model data for a family's model, or None when the table has no price.
    Cached per UTC day (the table has dated price changes)."""
    day = int((now.timestamp() if now is not None else _time()) // 86400)  # UTC day number
    key = (PROVIDERS.get(ai_type), model)
    hit = _cache.get(key)
    if hit is not None and hit[0] == day:
        return hit[1]
    found = _lookup(key[0], model, now or datetime.now(UTC)) if model else None
    if len(_cache) >= MAX_CACHED:
        _cache.clear()
    _cache[key] = (day, found)
    return found
