"""The provider adapter interface: pure translation between OpenAI shapes and a provider's wire
format. No I/O, no clients: the gateway sends the `UpstreamRequest` and feeds the answer back.

Flow for one attempt (all calls are pure and never block):

    req = adapter.chat_request(cfg, provider_model, openai_body, now=now)
    # ... gateway sends req ...
    if 200 <= status < 300 and not stream:
        completion, usage = adapter.chat_response(status, body, model, request_id=rid)
    elif 200 <= status < 300:
        t = adapter.stream_translator(model, request_id, include_usage=...)
        for raw in upstream_bytes: out = t.feed(raw)   # -> list of OpenAI SSE lines to relay
        out = t.finish()                              # tail: finish chunk, usage chunk, [DONE]
        t.usage, t.error                              # Usage | None, UpstreamError | None
    else:
        err = adapter.error(status, body, headers)    # UpstreamError (OpenAI-shaped message)

`UpstreamError.retryable` is True for 408/409/429/5xx (fallback material), False otherwise.
`TranslationError` (a ValueError) means the client's OpenAI body cannot be expressed for this
provider: answer 400 without calling upstream.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from schemas.enums import AiType


@dataclass(frozen=True)
class ProviderConfig:
    """A decrypted AI LLM configuration, as the gateway's snapshot holds it.

    endpoint: provider base URL (OPENAI/OTHER include `/v1`; ANTHROPIC/GOOGLE are the host root;
    AWS: empty means `https://bedrock[-runtime].{region}.amazonaws.com`).
    key: AWS access key id (unused by other families). secret: API key / AWS secret key.
    """

    ai_llm_id: str
    ai_type: AiType
    endpoint: str
    key: str | None
    secret: str
    region: str | None = None


@dataclass
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""

    def __repr__(self) -> str:  # never print credentials
        return f"UpstreamRequest({self.method} {self.url}, {len(self.body)} bytes)"


@dataclass
class Usage:
    """Provider-reported usage. `tokens_in` is the whole prompt (cache reads and writes
    included), `tokens_out` the whole completion (reasoning included); `cached_tokens` are the
    prompt tokens read from the provider's cache, `cache_write` those written to it."""

    tokens_in: int
    tokens_out: int
    cached_tokens: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass
class UpstreamError(Exception):
    """A provider error normalized for the gateway; `message` is safe to show the client."""

    status: int
    retryable: bool
    message: str
    error_type: str
    retry_after: float | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status} {self.error_type}: {self.message}")

    def openai_body(self) -> dict[str, Any]:
        """OpenAI's error shape for this error (the gateway may re-map the status)."""
        return {"error": {"message": self.message, "type": self.error_type, "param": None, "code": self.code}}


class TranslationError(ValueError):
    """The OpenAI request cannot be translated for this provider (client error -> 400)."""


def is_retryable(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def openai_error_type(status: int) -> str:
    """OpenAI's `type` for a status: what the official SDKs expect."""
    if status == 429:
        return "rate_limit_exceeded"
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a `retry-after` (or `retry-after-ms`) header, if numeric."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return float(lower["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
    if "retry-after" in lower:
        try:
            return float(lower["retry-after"])
        except ValueError:
            return None
    return None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (orjson: request bodies and stream chunks are on the hot path). What
    orjson refuses (non-string keys, integers over 64 bits) goes through the stdlib instead."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse JSON with orjson; on refusal retry with the stdlib, which also accepts NaN/Infinity
    and integers over 64 bits. Raises ValueError (incl. UnicodeDecodeError) when neither can."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def loads_object(body: bytes) -> dict[str, Any] | None:
    """Parse a JSON object; None when the body is not one."""
    try:
        value = loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def bad_gateway(message: str) -> UpstreamError:
    """The provider answered 2xx with something we cannot read."""
    return UpstreamError(502, True, message, "upstream_error")


def sse(obj: Mapping[str, Any]) -> bytes:
    """One OpenAI SSE event line."""
    return b"data: " + dumps(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"


class StreamTranslator(ABC):
    """Turns provider stream bytes into OpenAI `chat.completion.chunk` SSE lines.

    feed() accepts arbitrary byte slices (events may be split anywhere) and returns complete
    `data: {...}\\n\\n` lines ready to relay. finish() returns the tail (last finish chunk if
    pending, the usage chunk `{"choices": [], "usage": {...}}` when include_usage and usage is
    known, and `data: [DONE]\\n\\n`). When the provider signalled an error inside the stream,
    `error` is set, feed() stops producing, and finish() returns one OpenAI error event
    (`data: {"error": {...}}`) instead of [DONE]. Never blocks, never raises on bad bytes
    (bad bytes become `error`).
    """

    def __init__(self, model: str, request_id: str, include_usage: bool = True) -> None:
        self.model = model
        self.request_id = request_id
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.error: UpstreamError | None = None
        self.finish_reason: str | None = None
        self.created = int(time.time())
        self.chunk_id = f"chatcmpl-{request_id}"
        self._finished = False

    @abstractmethod
    def feed(self, raw: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        self._finished = True
        out = self._tail()
        if self.error is not None:
            return out + [sse(self.error.openai_body())]
        if self.include_usage and self.usage is not None:
            out.append(sse(self._chunk_base(choices=[], usage=usage_dict(self.usage))))
        out.append(DONE)
        return out

    def _tail(self) -> list[bytes]:
        """Chunks still owed before the usage chunk: flush partial input, pending finish chunk.

        May set `error` (then finish() appends the error event instead of usage and [DONE]).
        """
        return []

    # helpers for subclasses
    def _chunk_base(self, **extra: Any) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.chunk_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }
        d.update(extra)
        return d

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        d = self._chunk_base(choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])
        if self.include_usage:
            d["usage"] = None
        return sse(d)


def usage_dict(u: Usage) -> dict[str, Any]:
    """OpenAI `usage` object for a Usage."""
    return {
        "prompt_tokens": u.tokens_in,
        "completion_tokens": u.tokens_out,
        "total_tokens": u.tokens_in + u.tokens_out,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    }


def completion(
    request_id: str,
    model: str,
    message: dict[str, Any],
    finish_reason: str | None,
    usage: Usage,
    created: int | None = None,
) -> dict[str, Any]:
    """An OpenAI `chat.completion` object with one choice."""
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage_dict(usage),
    }


class Adapter(ABC):
    """One provider family. Every method is pure (no I/O) and never blocks."""

    ai_types: tuple[AiType, ...] = ()
    supports_embeddings: bool = False

    @abstractmethod
    def serves(self, model_name: str) -> bool:
        """Does this family's naming scheme cover `model_name` (used when no model list is known)?"""

    @abstractmethod
    def models_request(self, cfg: ProviderConfig, *, now: datetime | None = None) -> UpstreamRequest:
        """The provider's model-listing call (also used to validate credentials)."""

    @abstractmethod
    def models_response(self, body: bytes) -> list[str]:
        """Model ids from a 2xx model-listing answer (raises UpstreamError if unreadable)."""

    @abstractmethod
    def chat_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        """Translate an OpenAI chat request (`stream` honoured). Raises TranslationError."""

    @abstractmethod
    def chat_response(
        self, status: int, body: bytes, model: str, *, request_id: str = ""
    ) -> tuple[dict[str, Any], Usage | None]:
        """Translate a 2xx chat answer into an OpenAI chat.completion (model = name to report).

        Usage is None only when the provider reported none (OpenAI-compatible servers may not):
        the gateway then estimates. Raises UpstreamError (502) when the body is unreadable.
        """

    @abstractmethod
    def stream_translator(self, model: str, request_id: str, include_usage: bool = True) -> StreamTranslator:
        """A fresh translator for one streamed answer."""

    def embeddings_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        """Translate an OpenAI embeddings request. Raises TranslationError if unsupported."""
        raise TranslationError(f"embeddings are not offered by {self.ai_types[0].value} providers")

    def embeddings_response(
        self, status: int, body: bytes, model: str, openai_body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Usage | None]:
        """Translate a 2xx embeddings answer; Usage is None when the provider reports none."""
        raise TranslationError(f"embeddings are not offered by {self.ai_types[0].value} providers")

    @abstractmethod
    def error(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        """Normalize a non-2xx answer (or an in-band error) into an UpstreamError."""


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def require_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise TranslationError("'messages' must be a non-empty array")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise TranslationError(f"messages[{i}] must be an object with a 'role'")
    return msgs
