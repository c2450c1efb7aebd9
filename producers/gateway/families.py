"""Bridge from the snapshot to helper D's provider adapters (`producers.adapters`).

`adapter(ai_type)` returns the family module (OPENAI and OTHER share the OpenAI one);
`provider_config(cfg)` builds the adapter's `ProviderConfig` once per config version;
`serves(ai_type, model)` is the family's naming heuristic. All pure, never block.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from store.snapshot import ConfigEntry

# ai_type -> (module, names of the module-level adapter instance to look for)
_MODULES = {
    "OPENAI": ("producers.adapters.openai", ("OPENAI",)),
    "OTHER": ("producers.adapters.openai", ("OTHER",)),
    "ANTHROPIC": ("producers.adapters.anthropic", ("ANTHROPIC",)),
    "GOOGLE": ("producers.adapters.google", ("GOOGLE",)),
    "AWS": ("producers.adapters.bedrock", ("AWS", "BEDROCK")),
}


@lru_cache(maxsize=None)
def adapter(ai_type: str):
    """The family's `producers.adapters.base.Adapter` instance."""
    try:
        mod_name, names = _MODULES[ai_type]
    except KeyError:
        raise ValueError(f"unknown provider type {ai_type}") from None
    mod = importlib.import_module(mod_name)
    for n in names:
        if hasattr(mod, n):
            return getattr(mod, n)
    raise ValueError(f"no adapter instance for {ai_type} in {mod_name}")


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
            ai_llm_id=cfg.ai_llm_id, ai_type=AiType(cfg.ai_type), endpoint=cfg.endpoint,
            key=cfg.key, secret=cfg.secret or "", region=cfg.region,
        )
    return hit
