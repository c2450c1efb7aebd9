"""Token estimates when the provider reports no usage (e.g. a client disconnected mid-stream).

tiktoken is not used: it downloads its BPE files from the network on first use, which this
deployment cannot rely on. The heuristic is OpenAI's own rule of thumb: ~4 characters per
token for English text, rounded up, plus the chat format's per-message overhead (3 tokens per
message + 3 for the reply primer). Events carry `usageSource: "estimated"` when it is used.
Pure functions; never block.
"""

from __future__ import annotations

import math
from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 3
REPLY_PRIMER = 3


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def estimate_prompt_tokens(body: dict) -> int:
    """Chat messages (or embeddings `input`) -> estimated prompt tokens."""
    messages = body.get("messages")
    if isinstance(messages, list):
        n = REPLY_PRIMER
        for m in messages:
            if isinstance(m, dict):
                n += PER_MESSAGE + text_tokens(_content_text(m.get("content")))
        return n
    inp = body.get("input")
    if isinstance(inp, str):
        return text_tokens(inp)
    if isinstance(inp, list):
        return sum(text_tokens(x) for x in inp if isinstance(x, str)) or len(inp)
    return 0


class CompletionCounter:
    """Accumulates streamed output text size from OpenAI-shaped chunks (dicts)."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0

    def add_chunk(self, chunk: dict) -> None:
        for ch in chunk.get("choices") or ():
            delta = ch.get("delta") or {}
            c = delta.get("content")
            if isinstance(c, str):
                self.chars += len(c)
            for tc in delta.get("tool_calls") or ():
                fn = tc.get("function") or {}
                self.chars += len(fn.get("arguments") or "") + len(fn.get("name") or "")

    @property
    def tokens(self) -> int:
        return math.ceil(self.chars / CHARS_PER_TOKEN)
