"""Request pricing: pure, offline, in Decimal USD.

`rates` holds the arithmetic (tokens x USD per 1M tokens), `overrides` the per-configuration
price overrides (model globs), `table` the lookup in the price table that ships inside the
`genai-prices` wheel (no network), and `pricer` puts them together for the gateway and judge.
"""
