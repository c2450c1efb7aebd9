"""`POST /v1/embeddings`: OpenAI's embeddings surface on every family that offers embeddings.

Pure; never blocks.
"""

from __future__ import annotations

from typing import Any

import orjson

from producers.adapters.base import UpstreamRequest, Usage
from producers.gateway import families
from producers.gateway.errors import GatewayError
from producers.gateway.surfaces.base import (
    Plan,
    Surface,
    forward_chat_body,
    loads_dict,
    openai_usage,
    read_tags,
    require_model,
)
from producers.gateway.surfaces.chat import PASSTHROUGH
from producers.gateway.usage import estimate_prompt_tokens
from store.snapshot import ConfigEntry


class EmbeddingsSurface(Surface):
    name = "embeddings"

    def plan(self, body: dict[str, Any]) -> Plan:
        model = require_model(body)
        inp = body.get("input")
        if not (isinstance(inp, str) and inp) and not (isinstance(inp, list) and inp):
            raise GatewayError(400, "'input' must be a non-empty string or array", "invalid_request", "input")
        uid, cid = read_tags(body)
        return Plan(self, model, body, body, user_id=uid, conversation_id=cid)

    def request(self, plan: Plan, cfg: ConfigEntry, provider_model: str) -> UpstreamRequest:
        ad = families.adapter(cfg.ai_type)
        if not getattr(ad, "supports_embeddings", True):
            raise GatewayError(400, f"{cfg.ai_type} configurations do not offer embeddings", "embeddings_not_supported")
        body = forward_chat_body(plan.chat, cfg.ai_type)
        inp = body.get("input")
        if one_input(cfg.ai_type, provider_model) and isinstance(inp, list) and len(inp) > 1:
            # a list to a one-input model: one provider call per input, merged in `answer`
            return [
                ad.embeddings_request(families.provider_config(cfg), provider_model, dict(body, input=x)) for x in inp
            ]  # type: ignore[return-value]
        return ad.embeddings_request(families.provider_config(cfg), provider_model, body)

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        if isinstance(body, list):
            return self._merge(plan, cfg, body)
        if cfg.ai_type in PASSTHROUGH:
            out = loads_dict(body)
            if not isinstance(out.get("data"), list):
                raise ValueError("not an OpenAI answer")
            return body, openai_usage(out.get("usage"), with_output=False)
        obj, usage = families.adapter(cfg.ai_type).embeddings_response(
            200, body, plan.model, forward_chat_body(plan.chat, cfg.ai_type)
        )
        if usage is None:  # the provider counts nothing (Gemini): tell the client what is metered
            est = estimate_prompt_tokens(plan.chat)
            obj["usage"] = {"prompt_tokens": est, "total_tokens": est}
        return orjson.dumps(obj), usage

    def _merge(self, plan: Plan, cfg: ConfigEntry, bodies: list[bytes]) -> tuple[bytes, Usage | None]:
        """One embeddings list from the answers of a fanned-out call (usage summed when all have it)."""
        ad = families.adapter(cfg.ai_type)
        chat = forward_chat_body(plan.chat, cfg.ai_type)
        data: list[dict[str, Any]] = []
        total: int | None = 0
        for x, raw in zip(chat["input"], bodies):
            obj, usage = ad.embeddings_response(200, raw, plan.model, dict(chat, input=x))
            for item in obj["data"]:
                data.append(dict(item, index=len(data)))
            total = None if usage is None or total is None else total + usage.tokens_in
        told = total if total is not None else estimate_prompt_tokens(plan.chat)  # = what is metered
        out = {
            "object": "list",
            "data": data,
            "model": plan.model,
            "usage": {"prompt_tokens": told, "total_tokens": told},
        }
        return orjson.dumps(out), (Usage(total, 0) if total is not None else None)


def one_input(ai_type: str, provider_model: str) -> bool:
    """Models whose embeddings API takes one input per call (Titan on Bedrock)."""
    return ai_type == "AWS" and "titan-embed" in provider_model


EMBEDDINGS = EmbeddingsSurface()
