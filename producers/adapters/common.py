"""Translation pieces that several provider families share (pure, never block).

`base` holds the adapter interface; this module holds the rules that are the same for more
than one family, so that each rule has one home: how OpenAI content and tool arguments are
read, how OpenAI answers are shaped, and what of a provider error may reach the client.
"""

from __future__ import annotations

import base64
import json
import struct
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import StreamTranslator, TranslationError, bad_gateway, loads, loads_object
from .sse import Event, SSEDecoder

JSON_HINT = "Respond with a single valid JSON object and nothing else."


# --- reading the OpenAI request -------------------------------------------------------------


def text_of(content: Any) -> str:
    """The text of a message's content (string, or the text parts of an array; None -> "")."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise TranslationError("message content must be a string or an array of parts")


def content_parts(content: Any, provider: str) -> Iterator[dict[str, Any]]:
    """The parts of a user message's content, each a dict of type "text" or "image_url".

    A string is one text part. Lazy, so errors surface in part order: content that is not a
    string or array, a part that is not an object, or a part type other than text/image_url
    raises TranslationError (naming `provider` for the unsupported type).
    """
    if isinstance(content, str):
        yield {"type": "text", "text": content}
        return
    if not isinstance(content, list):
        raise TranslationError("user message content must be a string or an array of parts")
    for p in content:
        if not isinstance(p, dict):
            raise TranslationError("content parts must be objects")
        if p.get("type") not in ("text", "image_url"):
            raise TranslationError(f"content part type {p.get('type')!r} is not supported for {provider}")
        yield p


def split_data_url(url: str) -> tuple[str, str]:
    """`data:<media type>[;base64],<data>` -> (media type, possibly "", data)."""
    header, _, data = url.partition(",")
    return header[5:].split(";")[0], data


def tool_arguments(raw: Any) -> Any:
    """An assistant tool call's `arguments`: a JSON string is parsed, anything else kept (falsy -> {})."""
    try:
        return json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    except ValueError:
        raise TranslationError("tool_calls[].function.arguments must be a JSON string") from None


def json_instruction(ob: Mapping[str, Any]) -> str | None:
    """For providers without a JSON mode: the system instruction standing in for a JSON
    `response_format` (with its schema when one is given), else None."""
    raw = ob.get("response_format")
    fmt: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if fmt.get("type") not in ("json_object", "json_schema"):
        return None
    hint = JSON_HINT
    schema = (fmt.get("json_schema") or {}).get("schema")
    if schema:
        hint += " It must match this JSON schema: " + json.dumps(schema, separators=(",", ":"))
    return hint


# --- shaping the OpenAI answer --------------------------------------------------------------


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI `tool_calls[]` entry; `arguments` (an object) is sent as compact JSON text."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments or {}, separators=(",", ":"))},
    }


def assistant_message(texts: Sequence[str], calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI assistant message: content is None only when the answer is tool calls alone."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = list(calls)
    return message


def embeddings_list(
    vectors: Sequence[Sequence[float]], model: str, openai_body: Mapping[str, Any] | None, prompt_tokens: int
) -> dict[str, Any]:
    """An OpenAI embeddings `list`; vectors become base64 little-endian float32 when the client
    asked for `encoding_format: base64`."""
    b64 = openai_body is not None and openai_body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if b64 else v,
        }
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def model_ids(body: bytes, list_key: str, id_key: str) -> list[str]:
    """The string `id_key` of each entry of a model-list answer's `list_key` array.

    Raises UpstreamError (502) when the answer has no such array.
    """
    obj = loads_object(body)
    items = obj.get(list_key) if obj else None
    if not isinstance(items, list):
        raise bad_gateway("the provider's model list is not readable")
    return [m[id_key] for m in items if isinstance(m, dict) and isinstance(m.get(id_key), str)]


# --- provider errors ------------------------------------------------------------------------


def error_object(body: bytes) -> dict[str, Any]:
    """The `error` object of a JSON error body ({} when there is none)."""
    obj = loads_object(body) or {}
    err = obj.get("error")
    return err if isinstance(err, dict) else {}


def client_message(status: int, message: Any, *, credentials: bool = False) -> str:
    """The error text the client may see. Credential failures (401/403, or `credentials`) get a
    fixed text, never the provider's, which may quote the key; otherwise the provider's message
    when it is a string, else a generic one."""
    if credentials or status in (401, 403):
        return f"The provider rejected the configured credentials ({status})."
    return message if isinstance(message, str) else f"Upstream answered {status}."


# --- streaming ------------------------------------------------------------------------------


class SSEStream(StreamTranslator):
    """A translator for providers that stream Server-Sent Events: feed() decodes the bytes
    into events and hands them to `_handle`."""

    def __init__(self, model: str, request_id: str, include_usage: bool = True) -> None:
        super().__init__(model, request_id, include_usage)
        self._sse = SSEDecoder()

    def feed(self, raw: bytes) -> list[bytes]:
        return self._handle(self._sse.feed(raw))

    @abstractmethod
    def _handle(self, events: list[Event]) -> list[bytes]:
        """OpenAI SSE lines for these events."""

    def _json_events(self, events: list[Event]) -> Iterator[tuple[Event, Any]]:
        """(event, parsed data) for each event with data, until `error` is set; data that is not
        a JSON object sets `error` (502) and ends the iteration."""
        for ev in events:
            if self.error is not None:
                return
            if not ev.data:
                continue
            try:
                d = loads(ev.data)
            except ValueError:
                self.error = bad_gateway("the provider sent an unreadable stream event")
                return
            if not isinstance(d, dict):
                self.error = bad_gateway("the provider sent a stream event that is not a JSON object")
                return
            yield ev, d
