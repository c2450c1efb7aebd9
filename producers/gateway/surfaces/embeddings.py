"""`POST /v1/embeddings`: OpenAI's embeddings surface on every family that offers embeddings.

Pure; never blocks.
"""
from __future__ import annotations

from typing import Any

import orjson

from producers.adapters.base import UpstreamRequest, Usage
from producers.gateway import families
from producers.gateway.errors import GatewayError
from producers.gateway.surfaces.base import (Plan, Surface, forward_chat_body, loads_dict, openai_usage,
                                             read_tags, require_model)
from producers.gateway.surfaces.chat import PASSTHROUGH
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
            raise GatewayError(400, f"{cfg.ai_type} configurations do not offer embeddings",
                               "embeddings_not_supported")
        return ad.embeddings_request(families.provider_config(cfg), provider_model,
                                     forward_chat_body(plan.chat, cfg.ai_type))

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        if cfg.ai_type in PASSTHROUGH:
            out = loads_dict(body)
            if not isinstance(out.get("data"), list):
                raise ValueError("not an OpenAI answer")
            return body, openai_usage(out.get("usage"), with_output=False)
        obj, usage = families.adapter(cfg.ai_type).embeddings_response(
            200, body, plan.model, forward_chat_body(plan.chat, cfg.ai_type))
        return orjson.dumps(obj), usage


EMBEDDINGS = EmbeddingsSurface()
