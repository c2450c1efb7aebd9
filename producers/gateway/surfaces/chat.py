"""`POST /v1/chat/completions`: the OpenAI chat surface, the gateway's native shape.

OPENAI and OTHER answers are relayed byte for byte; other families go through their adapter.
Pure; never blocks.
"""

from __future__ import annotations

from typing import Any

import orjson

from producers.adapters.base import Usage
from producers.gateway import families
from producers.gateway.errors import GatewayError, sse_error
from producers.gateway.surfaces.base import (
    Plan,
    Surface,
    loads_dict,
    openai_usage,
    read_stream_flag,
    read_tags,
    require_model,
)
from producers.gateway.usage import CompletionCounter
from store.snapshot import ConfigEntry

PASSTHROUGH = frozenset({"OPENAI", "OTHER"})


def filter_chunks(lines: list[bytes], counter: CompletionCounter, client_wants_usage: bool) -> bytes:
    """Count output text; drop the usage-only chunk when the client did not ask for it."""
    if not lines:
        return b""
    keep: list[bytes] = []
    for line in lines:
        if line.startswith(b"data: {"):
            try:
                chunk = orjson.loads(line[6:])
            except orjson.JSONDecodeError:
                keep.append(line)
                continue
            counter.add_chunk(chunk)
            if not client_wants_usage and chunk.get("usage") is not None:
                if not chunk.get("choices"):
                    continue
                chunk.pop("usage", None)
                line = b"data: " + orjson.dumps(chunk) + b"\n\n"
        keep.append(line)
    return b"".join(keep)


class ChatPipe:
    """Adapter stream translator -> OpenAI chunk lines, filtered for the client."""

    def __init__(self, translator: Any, include_usage: bool) -> None:
        self._t = translator
        self._include_usage = include_usage
        self._counter = CompletionCounter()
        self.error_type: str | None = None

    @property
    def usage(self) -> Usage | None:
        return self._t.usage

    def feed(self, raw: bytes) -> bytes:
        return filter_chunks(self._t.feed(raw), self._counter, self._include_usage)

    def finish(self) -> bytes:
        tail = filter_chunks(self._t.finish(), self._counter, self._include_usage)
        err = getattr(self._t, "error", None)
        if err is not None:
            self.error_type = err.error_type or "upstream_stream_error"
        return tail

    def broken(self) -> bytes:
        return sse_error(502, "The provider stream broke off.", "upstream_stream_error")

    def estimated_out(self) -> int:
        return self._counter.tokens


def check_tool_calls(msgs: list[dict[str, Any]]) -> None:
    """Assistant `tool_calls` are arrays of objects whose `function` is an object naming a
    string (the translators rely on it): a 400 naming the entry otherwise. Pure."""
    for i, m in enumerate(msgs):
        calls = m.get("tool_calls")
        if calls is None:
            continue
        where = f"messages[{i}].tool_calls"
        if not isinstance(calls, list):
            raise GatewayError(400, f"'{where}' must be an array of objects", "invalid_request", where)
        for j, c in enumerate(calls):
            fn = c.get("function") if isinstance(c, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise GatewayError(
                    400,
                    f"'{where}[{j}]' must be an object with a 'function' object that has a string 'name'",
                    "invalid_request",
                    f"{where}[{j}]",
                )


class ChatSurface(Surface):
    name = "chat"

    def plan(self, body: dict[str, Any]) -> Plan:
        model = require_model(body)
        msgs = body.get("messages")
        if (
            not isinstance(msgs, list)
            or not msgs
            or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in msgs)
        ):
            raise GatewayError(
                400, "'messages' must be a non-empty array of objects with a 'role'", "invalid_request", "messages"
            )
        check_tool_calls(msgs)
        stream = read_stream_flag(body)
        so = body.get("stream_options")
        if so is not None and not isinstance(so, dict):
            raise GatewayError(400, "'stream_options' must be an object", "invalid_request", "stream_options")
        uid, cid = read_tags(body)
        return Plan(
            self,
            model,
            body,
            body,
            stream=stream,
            include_usage=bool((so or {}).get("include_usage")),
            user_id=uid,
            conversation_id=cid,
        )

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        if cfg.ai_type in PASSTHROUGH:
            # OpenAI wire already: relay the provider's bytes, read usage with orjson.
            out = loads_dict(body)
            if not isinstance(out.get("choices"), list):
                raise ValueError("not an OpenAI answer")
            return body, openai_usage(out.get("usage"))
        obj, usage = families.adapter(cfg.ai_type).chat_response(200, body, plan.model, request_id=request_id)
        return orjson.dumps(obj), usage

    def pipe(self, plan: Plan, cfg: ConfigEntry, request_id: str) -> ChatPipe:
        translator = families.adapter(cfg.ai_type).stream_translator(
            plan.model, request_id, include_usage=plan.include_usage
        )
        return ChatPipe(translator, plan.include_usage)


CHAT = ChatSurface()
