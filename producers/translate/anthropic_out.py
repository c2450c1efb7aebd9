"""OpenAI chat answers -> Anthropic Messages answers, plain and streamed (pure).

`to_message` turns a `chat.completion` into an Anthropic `message`; `MessagesStream` turns the
adapters' chunk lines into Anthropic's SSE events (`message_start`, `content_block_start` /
`content_block_delta` / `content_block_stop`, `ping`, `message_delta` with usage,
`message_stop`; an `error` event when the provider failed mid-stream). Finish reasons: stop ->
end_turn, length -> max_tokens, tool_calls -> tool_use, content_filter -> refusal. Usage: chat
`prompt_tokens` counts cached tokens, Anthropic's `input_tokens` does not, so input_tokens =
prompt - cached and `cache_read_input_tokens` = cached.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from producers.adapters.base import Usage
from producers.translate.chunks import deltas

STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str) -> bytes:
    """Anthropic's error shape."""
    return orjson.dumps({"type": "error", "error": {"type": error_type(status), "message": message}})


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream_error(status: int, message: str) -> bytes:
    return event("error", {"type": "error", "error": {"type": error_type(status), "message": message}})


def usage_block(u: Usage | None) -> dict[str, int]:
    if u is None:
        return {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    return {
        "input_tokens": max(u.tokens_in - u.cached_tokens - u.cache_write, 0),
        "output_tokens": u.tokens_out,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cached_tokens,
    }


def _input(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def to_message(completion: dict[str, Any], usage: Usage | None, model: str, request_id: str) -> dict[str, Any]:
    """An Anthropic `message` for an OpenAI `chat.completion` (first choice)."""
    choices = completion.get("choices") or [{}]
    msg = choices[0].get("message") or {}
    content: list[dict[str, Any]] = []
    if isinstance(msg.get("content"), str) and msg["content"]:
        content.append({"type": "text", "text": msg["content"]})
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tc.get("id") or f"toolu_{request_id}_{len(content)}",
                "name": fn.get("name", ""),
                "input": _input(fn.get("arguments")),
            }
        )
    reason = STOP.get(choices[0].get("finish_reason") or "stop", "end_turn")
    if reason == "end_turn" and msg.get("tool_calls"):
        reason = "tool_use"
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": usage_block(usage),
    }


class MessagesStream:
    """Chunk lines in, Anthropic SSE events out. `feed` per batch, `close` once at the end."""

    def __init__(self, model: str, request_id: str) -> None:
        self.model = model
        self.request_id = request_id
        self.started = False
        self.block = -1  # index of the open content block (-1: none)
        self.block_kind = ""  # text | tool_use
        self.tools: dict[int, int] = {}  # chat tool-call index -> block index
        self.reason: str | None = None
        self.error: dict[str, Any] | None = None
        self.chars = 0  # output characters seen (for estimates)

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        return event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{self.request_id}",
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_block(None),
                },
            },
        ) + event("ping", {"type": "ping"})

    def _close_block(self) -> bytes:
        if self.block < 0 or not self.block_kind:
            return b""
        self.block_kind = ""
        return event("content_block_stop", {"type": "content_block_stop", "index": self.block})

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self.block += 1
        self.block_kind = block["type"]
        return out + event(
            "content_block_start", {"type": "content_block_start", "index": self.block, "content_block": block}
        )

    def feed(self, lines: list[bytes]) -> bytes:
        out = [self._start()] if lines else []
        for d in deltas(lines):
            if d.kind == "text":
                self.chars += len(d.text)
                if self.block_kind != "text":
                    out.append(self._open({"type": "text", "text": ""}))
                out.append(
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": self.block,
                            "delta": {"type": "text_delta", "text": d.text},
                        },
                    )
                )
            elif d.kind == "tool_start" and d.index not in self.tools:
                self.chars += len(d.name)
                out.append(
                    self._open(
                        {
                            "type": "tool_use",
                            "id": d.call_id or f"toolu_{self.request_id}_{d.index}",
                            "name": d.name,
                            "input": {},
                        }
                    )
                )
                self.tools[d.index] = self.block
            elif d.kind == "tool_args":
                self.chars += len(d.text)
                idx = self.tools.get(d.index, self.block)
                out.append(
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": idx,
                            "delta": {"type": "input_json_delta", "partial_json": d.text},
                        },
                    )
                )
            elif d.kind == "finish":
                self.reason = STOP.get(d.data, "end_turn")
            elif d.kind == "error":
                self.error = d.data
        return b"".join(out)

    def close(self, usage: Usage | None, error: tuple[int, str] | None = None) -> bytes:
        """The tail: close the open block, then message_delta + message_stop, or an error event."""
        out = [self._start(), self._close_block()]
        if error is not None or self.error is not None:
            status, message = error or (502, str((self.error or {}).get("message") or "upstream stream error"))
            out.append(stream_error(status, message))
            return b"".join(out)
        reason = self.reason or "end_turn"
        if reason == "end_turn" and self.tools:
            reason = "tool_use"
        u = usage_block(usage)
        out.append(
            event(
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}, "usage": u},
            )
        )
        out.append(event("message_stop", {"type": "message_stop"}))
        return b"".join(out)
