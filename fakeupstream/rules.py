"""The fake's deterministic behaviour, shared by the four families (pure, no I/O).

Rules (tests rely on them; keep in sync with the module docstring of `fakeupstream`):

* Token counting: a "token" is a whitespace-separated word. Prompt tokens are the words of
  every text the request carries in its messages (system prompt, user/assistant text, tool
  results; for structured tool results every string value inside counts). Tool definitions
  and tool-call arguments sent back by the client are not counted.
* Reply: ``"fake reply to: " + <text of the last message>[:30]`` (the last message's text,
  whatever its role). Completion tokens are the words of the reply.
* JSON mode (OpenAI ``response_format`` json_object/json_schema, Gemini
  ``responseMimeType: application/json``): the reply is ``{"reply": "<reply>"}`` (compact JSON).
* ``max_tokens`` (any family's spelling) smaller than the reply's word count truncates the
  reply to that many words, and the finish reason becomes the family's "length".
* Tool calls: when tools are offered (and tool choice is not "none") and the last message's
  text contains ``call <toolname>`` for an offered tool, or tool choice forces a tool
  (a named tool, or "required"/"any" which picks the first tool), the answer is one tool
  call with arguments ``{"query": "<text after 'call <toolname>'>"}``. Its completion tokens
  are the words of ``<toolname> <arguments JSON>``.
* Streaming: the reply is split into words; each text chunk carries one word (with a leading
  space after the first).
* Embeddings: 8 floats in [-1, 1] derived from sha256 of the input text; tokens = words.
* Policy judge: when the last message's text contains ``JUDGE_MARKER``
  (``[tollgate-policy-judge]``, which Tollgate's LLM judge puts in its prompt), the reply is a
  fixed compact JSON verdict ``{"violation": V, "severity": "HIGH", "explanation": "..."}``
  with V true iff the text also contains ``JUDGE_VIOLATION`` (``FAKE-VIOLATION``); if it
  contains ``JUDGE_GARBAGE`` (``FAKE-JUDGE-GARBAGE``) the reply is not JSON. Never truncated
  by max_tokens; tokens as usual (prompt words in, reply words out).
* Prompt caching and reasoning (every family, streamed or not): when the last message's text
  contains ``CACHE_READ_MARKER`` (``FAKE-CACHE-READ``), half the prompt tokens (rounded down)
  are reported as read from the cache; ``CACHE_WRITE_MARKER`` (``FAKE-CACHE-WRITE``) reports a
  quarter of them (rounded down) as written to it (families without cache writes — OpenAI —
  report none); ``REASONING_MARKER`` (``FAKE-REASONING``) adds ``REASONING_TOKENS`` reasoning
  tokens to the completion tokens (families without a reasoning counter — Anthropic, Bedrock —
  report them as plain output). Each family reports them in its own usage fields.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

REPLY_PREFIX = "fake reply to: "
JUDGE_MARKER = "[tollgate-policy-judge]"
JUDGE_VIOLATION = "FAKE-VIOLATION"
JUDGE_GARBAGE = "FAKE-JUDGE-GARBAGE"
EMBED_DIM = 8
CACHE_READ_MARKER = "FAKE-CACHE-READ"
CACHE_WRITE_MARKER = "FAKE-CACHE-WRITE"
REASONING_MARKER = "FAKE-REASONING"
REASONING_TOKENS = 5


def words(text: str) -> int:
    """Number of whitespace-separated words in `text`."""
    return len(text.split())


def words_in(obj: Any) -> int:
    """Words of every string found anywhere inside `obj` (dicts, lists, scalars)."""
    if isinstance(obj, str):
        return words(obj)
    if isinstance(obj, dict):
        return sum(words_in(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(words_in(v) for v in obj)
    return 0


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class Outcome:
    """What the fake answers, independent of the wire format."""

    text: str = ""
    tool_call: ToolCall | None = None
    truncated: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    chunks: list[str] = field(default_factory=list)
    cache_read: int = 0  # of tokens_in
    cache_write: int = 0  # of tokens_in
    reasoning: int = 0  # of tokens_out

    @property
    def plain_in(self) -> int:
        """Prompt tokens neither read from nor written to the cache."""
        return self.tokens_in - self.cache_read - self.cache_write


def _cache_and_reasoning(o: Outcome, last_text: str) -> Outcome:
    if CACHE_READ_MARKER in last_text:
        o.cache_read = o.tokens_in // 2
    if CACHE_WRITE_MARKER in last_text:
        o.cache_write = min(o.tokens_in // 4, o.tokens_in - o.cache_read)
    if REASONING_MARKER in last_text:
        o.reasoning = REASONING_TOKENS
        o.tokens_out += REASONING_TOKENS
    return o


def decide(
    *,
    prompt_tokens: int,
    last_text: str,
    tool_names: list[str],
    tool_choice: str | None = None,
    max_tokens: int | None = None,
    json_mode: bool = False,
) -> Outcome:
    """Compute the deterministic answer from the request's normalized facts.

    `tool_choice`: None/"auto", "none", "required" (any tool), or a tool name (forced).
    """
    return _cache_and_reasoning(
        _decide(
            prompt_tokens=prompt_tokens,
            last_text=last_text,
            tool_names=tool_names,
            tool_choice=tool_choice,
            max_tokens=max_tokens,
            json_mode=json_mode,
        ),
        last_text,
    )


def _decide(
    *,
    prompt_tokens: int,
    last_text: str,
    tool_names: list[str],
    tool_choice: str | None,
    max_tokens: int | None,
    json_mode: bool,
) -> Outcome:
    call = _pick_tool(last_text, tool_names, tool_choice)
    if call is not None:
        out_words = words(call.name + " " + call.arguments_json)
        return Outcome(tool_call=call, tokens_in=prompt_tokens, tokens_out=out_words)
    if JUDGE_MARKER in last_text:
        return _judge_outcome(prompt_tokens, last_text)
    reply = REPLY_PREFIX + last_text[:30]
    if json_mode:
        reply = json.dumps({"reply": reply}, separators=(",", ":"))
    parts = reply.split()
    truncated = False
    if max_tokens is not None and max_tokens >= 0 and len(parts) > max_tokens:
        parts = parts[:max_tokens]
        truncated = True
    chunks = [p if i == 0 else " " + p for i, p in enumerate(parts)]
    return Outcome(
        text="".join(chunks),
        truncated=truncated,
        tokens_in=prompt_tokens,
        tokens_out=len(parts),
        chunks=chunks,
    )


def _judge_outcome(prompt_tokens: int, last_text: str) -> Outcome:
    """The fixed verdict of the policy-judge rule (see the module docstring)."""
    if JUDGE_GARBAGE in last_text:
        reply = "I cannot decide."
    else:
        hit = JUDGE_VIOLATION in last_text
        reply = json.dumps(
            {
                "violation": hit,
                "severity": "HIGH",
                "explanation": "fake judge: marker found" if hit else "fake judge: compliant",
            },
            separators=(",", ":"),
        )
    parts = reply.split()
    chunks = [p if i == 0 else " " + p for i, p in enumerate(parts)]
    return Outcome(text="".join(chunks), tokens_in=prompt_tokens, tokens_out=len(parts), chunks=chunks)


def _pick_tool(last_text: str, tool_names: list[str], tool_choice: str | None) -> ToolCall | None:
    if not tool_names or tool_choice == "none":
        return None
    lowered = last_text.lower()
    for name in tool_names:
        marker = f"call {name.lower()}"
        pos = lowered.find(marker)
        if pos >= 0:
            rest = last_text[pos + len(marker) :].strip()
            return ToolCall(name=name, arguments={"query": rest})
    if tool_choice == "required":
        return ToolCall(name=tool_names[0], arguments={"query": last_text[:30]})
    if tool_choice and tool_choice not in ("auto", "none", "required") and tool_choice in tool_names:
        return ToolCall(name=tool_choice, arguments={"query": last_text[:30]})
    return None


def embedding(text: str) -> list[float]:
    """Deterministic EMBED_DIM-dimensional vector for `text`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round((b / 127.5) - 1.0, 6) for b in digest[:EMBED_DIM]]


def embedding_base64(vec: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32 array, base64."""
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
