"""Bridge from the snapshot to the provider adapters (`producers.adapters`).

`adapter(ai_type)` returns the family module (OPENAI and OTHER share the OpenAI one);
`provider_config(cfg)` builds the adapter's `ProviderConfig` once per config version;
`serves(ai_type, model)` is the family's naming heuristic. All pure, never block.
"""

from __future__ import annotations

from functools import cache

from store.snapshot import ConfigEntry


@cache
def adapter(ai_type: str):
    """The family's `producers.adapters.base.Adapter` instance (ValueError if unknown)."""
    from producers.adapters import adapter_for

    try:
        return adapter_for(ai_type)
    except (KeyError, ValueError):
        raise ValueError(f"unknown provider type {ai_type}") from None


def serves(ai_type: str, model: str) -> bool:
    if ai_type == "OTHER":
        return False  # an OpenAI-compatible server's models are only known from its list
    try:
        return bool(adapter(ai_type).serves(model))
    except (ValueError, ImportError):
        return False


_PCFG: dict[tuple, object] = {}


def provider_config(cfg: ConfigEntry):
    """The adapter's ProviderConfig for this snapshot entry (memoized per version)."""
    hit = _PCFG.get(cfg.version)
    if hit is None:
        from producers.adapters.base import ProviderConfig
        from schemas.enums import AiType

        if len(_PCFG) > 10000:
            _PCFG.clear()
        hit = _PCFG[cfg.version] = ProviderConfig(
            ai_llm_id=cfg.ai_llm_id,
            ai_type=AiType(cfg.ai_type),
            endpoint=cfg.endpoint,
            key=cfg.key,
            secret=cfg.secret or "",
            region=cfg.region,
        )
    return hit
