"""Per-configuration price overrides: `{"<model glob>": {"input": "0.15", "cachedInput": "0.075",
"cacheWrite": null, "output": "0.60", "reasoning": null, "maxOutputTokens": "32768"}}` in USD per
1M tokens, for self-hosted models or negotiated prices. `maxOutputTokens` (optional, a whole
number as a string or an integer; stored as a string like the prices) is the model's output cap,
what a budget reserves for a request without `max_tokens`. Globs are case-insensitive
(`fnmatch`); the first glob in the configuration's order that matches wins. Pure;
`parse_overrides` raises `ValueError` with a message naming the field, for a 400.
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
CAP_FIELD = "maxOutputTokens"
MAX_OUTPUT_CAP = 10_000_000
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


def _cap(glob: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is not int or not 1 <= value <= MAX_OUTPUT_CAP:
        raise ValueError(f"prices.{glob}.{CAP_FIELD} must be a whole number of tokens from 1 to {MAX_OUTPUT_CAP}")
    return str(value)


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
        unknown = set(entry) - set(FIELDS) - {CAP_FIELD}
        if unknown:
            allowed = sorted([*FIELDS, CAP_FIELD])
            raise ValueError(f"prices.{glob}: unknown field(s) {sorted(unknown)}; allowed {allowed}")
        norm: dict[str, str | None] = {}
        for name in FIELDS:
            d = _price(glob, name, entry.get(name))
            if d is None and name in REQUIRED:
                raise ValueError(f"prices.{glob}.{name} is required")
            norm[name] = None if d is None else format(d, "f")
        cap = _cap(glob, entry.get(CAP_FIELD))
        if cap is not None:
            norm[CAP_FIELD] = cap
        out[glob.strip()] = norm
    return out


class PriceOverrides:
    """Compiled overrides of one configuration: model name -> Rates (and output cap) or None. Pure."""

    __slots__ = ("_rules", "_memo")

    def __init__(self, stored: Mapping[str, Mapping[str, str | None]] | None) -> None:
        rules: list[tuple[re.Pattern[str], Rates, int | None]] = []
        for glob, entry in (stored or {}).items():
            vals: dict[str, Any] = {
                FIELDS[k]: (None if v is None else Decimal(v)) for k, v in entry.items() if k in FIELDS
            }
            cap = entry.get(CAP_FIELD)
            rules.append((re.compile(fnmatch.translate(glob.lower())), Rates(**vals), int(cap) if cap else None))
        self._rules = tuple(rules)
        self._memo: dict[str, tuple[Rates, int | None] | None] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def _match(self, model: str) -> tuple[Rates, int | None] | None:
        try:
            return self._memo[model]
        except KeyError:
            pass
        low = model.lower()
        found = next(((r, cap) for pat, r, cap in self._rules if pat.match(low)), None)
        if len(self._memo) < 4096:
            self._memo[model] = found
        return found

    def rates(self, model: str) -> Rates | None:
        m = self._match(model)
        return None if m is None else m[0]

    def max_output(self, model: str) -> int | None:
        """The output cap the first matching glob sets (None: not set there, or no glob matches)."""
        m = self._match(model)
        return None if m is None else m[1]
