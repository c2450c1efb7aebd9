"""Reading the adapters' OpenAI `chat.completion.chunk` SSE lines as plain deltas (pure).

Every family's stream translator yields complete `data: {...}\\n\\n` lines (OpenAI chunks, the
usage-only chunk, `[DONE]`, or one `data: {"error": ...}` line). The surfaces that are not chat
re-shape those deltas into their own events; `deltas(lines)` is the one reader they share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class Delta:
    """One thing a chunk said. kind: text | tool_start | tool_args | finish | usage | error."""

    kind: str
    text: str = ""
    index: int = 0  # tool-call index (tool_start / tool_args)
    call_id: str = ""
    name: str = ""
    data: Any = None  # finish reason, usage dict, or error object


def deltas(lines: list[bytes]) -> Iterator[Delta]:
    """The deltas of a batch of chunk lines, in order (unreadable lines are skipped)."""
    for line in lines:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        try:
            chunk = orjson.loads(line[6:])
        except orjson.JSONDecodeError:
            continue
        if not isinstance(chunk, dict):
            continue
        if isinstance(chunk.get("error"), dict):
            yield Delta("error", data=chunk["error"])
            continue
        for ch in chunk.get("choices") or ():
            if not isinstance(ch, dict) or ch.get("index", 0) != 0:
                continue
            delta = ch.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield Delta("text", text=delta["content"])
            for tc in delta.get("tool_calls") or ():
                idx = int(tc.get("index") or 0)
                fn = tc.get("function") or {}
                if tc.get("id") or fn.get("name"):
                    yield Delta(
                        "tool_start", index=idx, call_id=str(tc.get("id") or ""), name=str(fn.get("name") or "")
                    )
                if fn.get("arguments"):
                    yield Delta("tool_args", index=idx, text=fn["arguments"])
            if ch.get("finish_reason"):
                yield Delta("finish", data=ch["finish_reason"])
        if isinstance(chunk.get("usage"), dict):
            yield Delta("usage", data=chunk["usage"])
