"""ANTHROPIC: OpenAI chat <-> Anthropic Messages API (pure).

Request mapping: system/developer messages -> `system`; user/assistant content (text, images)
-> content blocks; assistant `tool_calls` -> `tool_use` blocks; `tool` messages -> `tool_result`
blocks in a user turn (consecutive same-role turns are merged, as Anthropic requires
alternation); `tools` -> `tools` (`parameters` -> `input_schema`); `tool_choice` auto/required/
none/named -> auto/any/none/tool; `stop` -> `stop_sequences`; `temperature` clamped to [0, 1];
`user` or `metadata.user_id` -> `metadata.user_id`. `max_tokens` defaults to DEFAULT_MAX_TOKENS
when the client gives none (Anthropic requires it). JSON `response_format` has no Anthropic
equivalent: an instruction to answer with JSON only is appended to `system`.
Response mapping: text blocks -> `content`, tool_use -> `tool_calls`; stop reasons end_turn/
stop_sequence -> stop, max_tokens -> length, tool_use -> tool_calls, refusal -> content_filter.
Usage: prompt tokens = input + cache read + cache creation tokens; cached = cache read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.enums import AiType

from .base import (
    Adapter,
    ProviderConfig,
    StreamTranslator,
    TranslationError,
    UpstreamError,
    UpstreamRequest,
    Usage,
    bad_gateway,
    completion,
    dumps,
    is_retryable,
    join_url,
    loads_object,
    openai_error_type,
    parse_retry_after,
    require_messages,
)
from .common import (
    SSEStream,
    assistant_message,
    client_message,
    content_parts,
    error_object,
    json_instruction,
    model_ids,
    split_data_url,
    text_of,
    tool_call,
)
from .sse import Event

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else part.get("image_url")
    if not isinstance(url, str):
        raise TranslationError("image_url.url must be a string")
    if url.startswith("data:"):
        media, data = split_data_url(url)
        return {"type": "image", "source": {"type": "base64", "media_type": media or "image/png", "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": p.get("text", "")} if p["type"] == "text" else _image_block(p)
        for p in content_parts(content, "Anthropic")
    ]


def _parse_args(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    if raw in (None, ""):
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        raise TranslationError("tool_calls[].function.arguments must be a JSON string") from None


def translate_messages(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic system text, alternating Anthropic messages)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for m in messages:
        role = m["role"]
        content = m.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "user":
            add("user", _user_blocks(content))
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = text_of(content)
            if text:
                blocks.append({"type": "text", "text": text})
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function") or {}
                if not fn.get("name") or not tc.get("id"):
                    raise TranslationError("assistant tool_calls need an id and a function name")
                blocks.append(
                    {"type": "tool_use", "id": tc["id"], "name": fn["name"], "input": _parse_args(fn.get("arguments"))}
                )
            if blocks:
                add("assistant", blocks)
        elif role == "tool":
            if not m.get("tool_call_id"):
                raise TranslationError("tool messages need a tool_call_id")
            add("user", [{"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text_of(content)}])
        else:
            raise TranslationError(f"message role {role!r} is not supported")
    # Put tool_results first in each user turn (Anthropic wants them before other blocks).
    for t in turns:
        if t["role"] == "user":
            t["content"].sort(key=lambda b: 0 if b.get("type") == "tool_result" else 1)
    return ("\n\n".join(s for s in system if s) or None), turns


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for t in tools or []:
        if (
            not isinstance(t, dict)
            or t.get("type", "function") != "function"
            or not isinstance(t.get("function"), dict)
        ):
            raise TranslationError("only function tools are supported")
        fn = t["function"]
        if not fn.get("name"):
            raise TranslationError("tools[].function.name is required")
        tool = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(tool)
    return out


def translate_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        tc: dict[str, Any] | None = None
    elif choice == "auto":
        tc = {"type": "auto"}
    elif choice == "required":
        tc = {"type": "any"}
    elif choice == "none":
        tc = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        tc = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise TranslationError("tool_choice must be 'auto', 'required', 'none' or a named function")
    if parallel is False:
        tc = dict(tc or {"type": "auto"}, disable_parallel_tool_use=True)
    return tc


def build_body(provider_model: str, ob: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic Messages request body for an OpenAI chat body (pure)."""
    msgs = require_messages(ob)
    if (ob.get("n") or 1) != 1:
        raise TranslationError("n > 1 is not supported by Anthropic models")
    system, turns = translate_messages(msgs)
    max_tokens = ob.get("max_completion_tokens") or ob.get("max_tokens") or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": provider_model, "max_tokens": max_tokens, "messages": turns}
    hint = json_instruction(ob)
    if hint:
        system = f"{system}\n\n{hint}" if system else hint
    if system:
        body["system"] = system
    if ob.get("temperature") is not None:
        body["temperature"] = min(max(float(ob["temperature"]), 0.0), 1.0)
    if ob.get("top_p") is not None:
        body["top_p"] = ob["top_p"]
    stop = ob.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if ob.get("tools"):
        body["tools"] = translate_tools(ob["tools"])
        tc = translate_tool_choice(ob.get("tool_choice"), ob.get("parallel_tool_calls"))
        if tc:
            body["tool_choice"] = tc
    user = ob.get("user") or (
        (ob.get("metadata") or {}).get("user_id") if isinstance(ob.get("metadata"), dict) else None
    )
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    if ob.get("stream"):
        body["stream"] = True
    return body


def usage_of(u: Mapping[str, Any] | None) -> Usage:
    u = u or {}
    read = int(u.get("cache_read_input_tokens") or 0)
    created = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(
        int(u.get("input_tokens") or 0) + read + created, int(u.get("output_tokens") or 0), read, cache_write=created
    )


class AnthropicAdapter(Adapter):
    ai_types = (AiType.ANTHROPIC,)

    def serves(self, model_name: str) -> bool:
        return model_name.startswith("claude-")

    def _headers(self, cfg: ProviderConfig) -> dict[str, str]:
        return {
            "x-api-key": cfg.secret,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "application/json",
        }

    def models_request(self, cfg: ProviderConfig, *, now: datetime | None = None) -> UpstreamRequest:
        h = self._headers(cfg)
        del h["content-type"]
        return UpstreamRequest("GET", join_url(cfg.endpoint, "/v1/models?limit=1000"), h)

    def models_response(self, body: bytes) -> list[str]:
        return model_ids(body, "data", "id")

    def chat_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        body = build_body(provider_model, openai_body)
        h = self._headers(cfg)
        if body.get("stream"):
            h["accept"] = "text/event-stream"
        return UpstreamRequest("POST", join_url(cfg.endpoint, "/v1/messages"), h, dumps(body))

    def chat_response(
        self, status: int, body: bytes, model: str, *, request_id: str = ""
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        if obj is None or not isinstance(obj.get("content"), list):
            raise bad_gateway("the provider's answer is not an Anthropic message")
        texts, calls = [], []
        for b in obj["content"]:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "text":
                texts.append(b.get("text", ""))
            elif b.get("type") == "tool_use":
                calls.append(tool_call(b.get("id"), b.get("name"), b.get("input")))
        message = assistant_message(texts, calls)
        usage = usage_of(obj.get("usage"))
        finish = STOP_REASONS.get(obj.get("stop_reason") or "", "stop")
        return completion(request_id or str(obj.get("id", "")), model, message, finish, usage), usage

    def stream_translator(self, model: str, request_id: str, include_usage: bool = True) -> StreamTranslator:
        return AnthropicStream(model, request_id, include_usage)

    def error(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return _error(status, error_object(body), headers)


def _error(status: int, err: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> UpstreamError:
    message = client_message(status, err.get("message"))
    code = err.get("type") if isinstance(err.get("type"), str) else None
    return UpstreamError(
        status, is_retryable(status), message, openai_error_type(status), parse_retry_after(headers), code
    )


class AnthropicStream(SSEStream):
    """Anthropic SSE events -> OpenAI chunks (text deltas, tool-call argument deltas, usage)."""

    def __init__(self, model: str, request_id: str, include_usage: bool = True) -> None:
        super().__init__(model, request_id, include_usage)
        self._tool_index: dict[int, int] = {}
        self._in = Usage(0, 0, 0)
        self._out = 0
        self._sent_finish = False

    def _tail(self) -> list[bytes]:
        out = self._handle(self._sse.flush())
        if self.error is None and not self._sent_finish and self.finish_reason:
            out.append(self._chunk({}, self.finish_reason))
            self._sent_finish = True
        return out

    def _handle(self, events: list[Event]) -> list[bytes]:
        out: list[bytes] = []
        for ev, d in self._json_events(events):
            kind = d.get("type") or ev.event
            if kind == "message_start":
                u = usage_of((d.get("message") or {}).get("usage"))
                self._in, self._out = u, u.tokens_out
                self.usage = Usage(u.tokens_in, u.tokens_out, u.cached_tokens, u.cache_write)
                out.append(self._chunk({"role": "assistant", "content": ""}))
            elif kind == "content_block_start":
                block = d.get("content_block") or {}
                if block.get("type") == "tool_use":
                    k = len(self._tool_index)
                    self._tool_index[int(d.get("index", 0))] = k
                    out.append(
                        self._chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": k,
                                        "id": block.get("id"),
                                        "type": "function",
                                        "function": {"name": block.get("name"), "arguments": ""},
                                    }
                                ]
                            }
                        )
                    )
                elif block.get("type") == "text" and block.get("text"):
                    out.append(self._chunk({"content": block["text"]}))
            elif kind == "content_block_delta":
                delta = d.get("delta") or {}
                if delta.get("type") == "text_delta":
                    out.append(self._chunk({"content": delta.get("text", "")}))
                elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                    k = self._tool_index.get(int(d.get("index", 0)), 0)
                    out.append(
                        self._chunk({"tool_calls": [{"index": k, "function": {"arguments": delta["partial_json"]}}]})
                    )
            elif kind == "message_delta":
                reason = (d.get("delta") or {}).get("stop_reason")
                if reason:
                    self.finish_reason = STOP_REASONS.get(reason, "stop")
                delta_usage = d.get("usage") or {}
                if "output_tokens" in delta_usage:
                    self._out = int(delta_usage["output_tokens"] or 0)
                if delta_usage.get("input_tokens") is not None:
                    self._in = usage_of(delta_usage)
                self.usage = Usage(self._in.tokens_in, self._out, self._in.cached_tokens, self._in.cache_write)
                if self.finish_reason and not self._sent_finish:
                    out.append(self._chunk({}, self.finish_reason))
                    self._sent_finish = True
            elif kind == "error":
                err = d.get("error") or {}
                status = ERROR_STATUS.get(err.get("type", ""), 500)
                self.error = _error(status, err)
            # ping, content_block_stop, message_stop: nothing to relay
        return out


ANTHROPIC = AnthropicAdapter()
