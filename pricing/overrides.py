"""Per-configuration price overrides: `{"<model glob>": {"input": "0.15", "cachedInput": "0.075",
"cacheWrite": null, "output": "0.60", "reasoning": null}}` in USD per 1M tokens, for
self-hosted models or negotiated prices. Globs are case-insensitive (`fnmatch`); the first glob
in the configuration's order that matches wins. Pure; `parse_overrides` raises `ValueError` with a
message naming the field, for a 400.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pricing.rates import Rates

FIELDS = {
    "input": "input",
    "output": "output",
    "cachedInput": "cached_input",
    "cacheWrite": "cache_write",
    "reasoning": "reasoning",
}
REQUIRED = ("input", "output")
MAX_GLOBS = 200
MAX_PRICE = Decimal(1_000_000)  # USD per 1M tokens: far above any real price, below nonsense


def _price(glob: str, name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"prices.{glob}.{name} must be a decimal string (USD per 1M tokens) or null")
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"prices.{glob}.{name} is not a decimal number: {value[:40]!r}") from None
    if not d.is_finite() or d < 0 or d > MAX_PRICE:
        raise ValueError(f"prices.{glob}.{name} must be between 0 and {MAX_PRICE}")
    return d


def parse_overrides(raw: Any) -> dict[str, dict[str, str | None]]:
    """Validate the API shape; returns it normalized (what is stored). Raises ValueError."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("prices must be an object of model glob -> prices")
    if len(raw) > MAX_GLOBS:
        raise ValueError(f"prices: at most {MAX_GLOBS} model globs")
    out: dict[str, dict[str, str | None]] = {}
    for glob, entry in raw.items():
        if not isinstance(glob, str) or not glob.strip() or len(glob) > 200:
            raise ValueError("prices: each key must be a model glob of 1-200 characters")
        if not isinstance(entry, Mapping):
            raise ValueError(f"prices.{glob} must be an object")
        unknown = set(entry) - set(FIELDS)
        if unknown:
            raise ValueError(f"prices.{glob}: unknown field(s) {sorted(unknown)}; allowed {sorted(FIELDS)}")
        norm: dict[str, str | None] = {}
        for name in FIELDS:
            d = _price(glob, name, entry.get(name))
            if d is None and name in REQUIRED:
                raise ValueError(f"prices.{glob}.{name} is required")
            norm[name] = None if d is None else format(d, "f")
        out[glob.strip()] = norm
    return out


class PriceOverrides:
    """Compiled overrides of one configuration: model name -> Rates or None. Pure."""

    __slots__ = ("_rules", "_memo")

    def __init__(self, stored: Mapping[str, Mapping[str, str | None]] | None) -> None:
        rules: list[tuple[re.Pattern[str], Rates]] = []
        for glob, entry in (stored or {}).items():
            vals: dict[str, Any] = {
                FIELDS[k]: (None if v is None else Decimal(v)) for k, v in entry.items() if k in FIELDS
            }
            rules.append((re.compile(fnmatch.translate(glob.lower())), Rates(**vals)))
        self._rules = tuple(rules)
        self._memo: dict[str, Rates | None] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def rates(self, model: str) -> Rates | None:
        try:
            return self._memo[model]
        except KeyError:
            pass
        low = model.lower()
        found = next((r for pat, r in self._rules if pat.match(low)), None)
        if len(self._memo) < 4096:
            self._memo[model] = found
        return found
