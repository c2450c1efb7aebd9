"""OPENAI and OTHER (any OpenAI-compatible endpoint): pass-through.

Only changes: `model` becomes the provider model, streaming requests get
`stream_options.include_usage = true` (so usage is always known), and `metadata` (Tollgate's
own user/conversation tags) is dropped unless `store` is set, since OpenAI refuses it otherwise.
The stream translator relays the provider's chunk bytes unchanged, reads usage and
finish_reason as they pass, and drops the usage-only chunk when the client did not ask for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.enums import AiType

from .base import (
    DONE,
    Adapter,
    ProviderConfig,
    StreamTranslator,
    TranslationError,
    UpstreamError,
    UpstreamRequest,
    Usage,
    bad_gateway,
    dumps,
    is_retryable,
    join_url,
    loads,
    loads_object,
    openai_error_type,
    parse_retry_after,
    require_messages,
    sse,
)
from .common import SSEStream, client_message, error_object, model_ids
from .sse import Event

_OPENAI_NAMES = re.compile(r"^(gpt-|chatgpt-|o[1-9](-|$)|text-embedding-(3|ada)|omni-moderation|davinci|babbage)")


def _usage(obj: Mapping[str, Any] | None) -> Usage | None:
    if not isinstance(obj, Mapping):
        return None
    details = obj.get("prompt_tokens_details") or {}
    out_details = obj.get("completion_tokens_details") or {}
    return Usage(
        int(obj.get("prompt_tokens") or 0),
        int(obj.get("completion_tokens") or 0),
        int(details.get("cached_tokens") or 0) if isinstance(details, Mapping) else 0,
        reasoning=int(out_details.get("reasoning_tokens") or 0) if isinstance(out_details, Mapping) else 0,
    )


class OpenAIAdapter(Adapter):
    supports_embeddings = True

    def __init__(self, ai_type: AiType = AiType.OPENAI, naming: bool = True) -> None:
        self.ai_types = (ai_type,)
        self._naming = naming

    def serves(self, model_name: str) -> bool:
        return self._naming and bool(_OPENAI_NAMES.match(model_name))

    def _headers(self, cfg: ProviderConfig) -> dict[str, str]:
        return {
            "authorization": f"Bearer {cfg.secret}",
            "content-type": "application/json",
            "accept": "application/json",
        }

    def models_request(self, cfg: ProviderConfig, *, now: datetime | None = None) -> UpstreamRequest:
        h = self._headers(cfg)
        del h["content-type"]
        return UpstreamRequest("GET", join_url(cfg.endpoint, "/models"), h)

    def models_response(self, body: bytes) -> list[str]:
        return model_ids(body, "data", "id")

    def chat_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        require_messages(openai_body)
        body = dict(openai_body)
        body["model"] = provider_model
        if body.get("stream"):
            opts = body.get("stream_options")
            body["stream_options"] = dict(opts if isinstance(opts, dict) else {}, include_usage=True)
        else:
            body.pop("stream_options", None)
        if "metadata" in body and not body.get("store"):
            del body["metadata"]
        h = self._headers(cfg)
        if body.get("stream"):
            h["accept"] = "text/event-stream"
        return UpstreamRequest("POST", join_url(cfg.endpoint, "/chat/completions"), h, dumps(body))

    def chat_response(
        self, status: int, body: bytes, model: str, *, request_id: str = ""
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        if obj is None or not isinstance(obj.get("choices"), list):
            raise bad_gateway("the provider's answer is not a chat completion")
        return obj, _usage(obj.get("usage"))

    def stream_translator(self, model: str, request_id: str, include_usage: bool = True) -> StreamTranslator:
        return OpenAIStream(model, request_id, include_usage)

    def embeddings_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        if "input" not in openai_body:
            raise TranslationError("'input' is required")
        body = dict(openai_body, model=provider_model)
        return UpstreamRequest("POST", join_url(cfg.endpoint, "/embeddings"), self._headers(cfg), dumps(body))

    def embeddings_response(
        self, status: int, body: bytes, model: str, openai_body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        if obj is None or not isinstance(obj.get("data"), list):
            raise bad_gateway("the provider's answer is not an embeddings list")
        u = obj.get("usage")
        usage = Usage(int(u.get("prompt_tokens") or 0), 0) if isinstance(u, dict) else None
        return obj, usage

    def error(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return openai_style_error(status, body, headers)


def openai_style_error(status: int, body: bytes, headers: Mapping[str, str] | None) -> UpstreamError:
    """UpstreamError from an OpenAI-shaped error body (credential errors get a fixed message)."""
    err = error_object(body)
    message = client_message(status, err.get("message"))
    raw_type = err.get("type")
    etype = raw_type if isinstance(raw_type, str) else openai_error_type(status)
    code = err.get("code") if isinstance(err.get("code"), str) else None
    return UpstreamError(status, is_retryable(status), message, etype, parse_retry_after(headers), code)


class OpenAIStream(SSEStream):
    """Pass-through: relays each upstream event's bytes, noting usage and finish_reason."""

    def _handle(self, events: list[Event]) -> list[bytes]:
        out: list[bytes] = []
        for ev in events:
            if self.error is not None:
                break
            data = ev.data
            if not data or data == "[DONE]":
                continue
            if '"usage"' in data or '"finish_reason":"' in data or '"error"' in data or '"finish_reason": "' in data:
                try:
                    obj = loads(data)
                except ValueError:
                    self.error = bad_gateway("the provider sent an unreadable stream event")
                    break
                if isinstance(obj.get("error"), dict):
                    e = obj["error"]
                    self.error = UpstreamError(
                        502,
                        True,
                        str(e.get("message") or "upstream stream error"),
                        str(e.get("type") or "server_error"),
                    )
                    break
                u = _usage(obj.get("usage"))
                if u is not None:
                    self.usage = u
                for ch in obj.get("choices") or []:
                    if isinstance(ch, dict) and ch.get("finish_reason"):
                        self.finish_reason = ch["finish_reason"]
                if not obj.get("choices") and u is not None and not self.include_usage:
                    continue  # the usage-only chunk the client did not ask for
            out.append(b"data: " + data.encode("utf-8") + b"\n\n")
        return out

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        tail = self._handle(self._sse.flush())
        self._finished = True
        if self.error is not None:
            return tail + [sse(self.error.openai_body())]
        return tail + [DONE]


OPENAI = OpenAIAdapter(AiType.OPENAI, naming=True)
OTHER = OpenAIAdapter(AiType.OTHER, naming=False)
