"""Provider adapters: pure translation between OpenAI shapes and each provider family.

`adapter_for(ai_type)` gives the family's Adapter (see `base.Adapter`);
`family_for_model(name)` guesses the family from a bare model name (naming heuristics).
"""

from __future__ import annotations

from schemas.enums import AiType

from .anthropic import ANTHROPIC
from .base import Adapter, ProviderConfig, StreamTranslator, TranslationError, UpstreamError, UpstreamRequest, Usage
from .bedrock import AWS
from .google import GOOGLE
from .openai import OPENAI, OTHER

ADAPTERS: dict[AiType, Adapter] = {
    AiType.OPENAI: OPENAI,
    AiType.OTHER: OTHER,
    AiType.ANTHROPIC: ANTHROPIC,
    AiType.GOOGLE: GOOGLE,
    AiType.AWS: AWS,
}


def adapter_for(ai_type: AiType | str) -> Adapter:
    """The adapter for a config's aiType (KeyError if unknown)."""
    return ADAPTERS[AiType(ai_type)]


def family_for_model(model_name: str) -> AiType | None:
    """The provider family whose naming scheme covers `model_name`, if any.

    Order matters: Google's `text-embedding-004` before OpenAI's `text-embedding-*`,
    and Bedrock's `vendor.model[:v]` ids before the bare-name families.
    """
    for t in (AiType.AWS, AiType.GOOGLE, AiType.ANTHROPIC, AiType.OPENAI):
        a = ADAPTERS.get(t)
        if a is not None and a.serves(model_name):
            return t
    return None


__all__ = [
    "ADAPTERS",
    "Adapter",
    "ProviderConfig",
    "StreamTranslator",
    "TranslationError",
    "UpstreamError",
    "UpstreamRequest",
    "Usage",
    "adapter_for",
    "family_for_model",
]
