"""What a client-facing API surface is to the gateway: a pure request -> plan step and the
translators around one shared flow (route, policies, attempts with fallback, metering).

A surface turns the client's body into a `Plan` (validated, with the request also expressed as
an OpenAI chat or embeddings body: what adapters translate and policies read), builds the
provider request for a configuration, turns a provider answer or stream back into the client's
wire format, and renders errors in the client's error shape. Everything here is pure and never
blocks; the I/O lives in `producers.gateway.attempts` and `producers.gateway.relay`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from producers.adapters.base import UpstreamError, UpstreamRequest, Usage
from producers.gateway import families
from producers.gateway.errors import GatewayError, sse_error
from store.snapshot import ConfigEntry


@dataclass(slots=True)
class Plan:
    """One validated request: what to ask for, whether to stream, and who asked."""

    surface: Surface
    model: str
    body: dict[str, Any]  # the client's body as sent
    chat: dict[str, Any]  # the request as an OpenAI chat / embeddings body
    stream: bool = False
    include_usage: bool = False  # chat only: the client asked for the usage chunk
    user_id: str | None = None
    conversation_id: str | None = None
    untranslatable: list[str] = field(default_factory=list)  # "field path: why" (translated families only)
    headers: dict[str, str] = field(default_factory=dict)  # client headers the surface forwards natively
    native: bool = False  # the current attempt speaks the surface's own API (set by `request`)


class Pipe(Protocol):
    """Provider stream bytes in, client stream bytes out (one per streamed attempt)."""

    usage: Usage | None
    error_type: str | None  # set when the provider signalled an error inside the stream

    def feed(self, raw: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def broken(self) -> bytes: ...  # the tail when the provider stream broke off
    def estimated_out(self) -> int: ...  # output tokens seen so far (when usage never came)


def require_model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise GatewayError(400, "'model' is required and must be a non-empty string", "invalid_request", "model")
    return model


def read_stream_flag(body: Mapping[str, Any]) -> bool:
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise GatewayError(400, "'stream' must be a boolean", "invalid_request", "stream")
    return bool(stream)


def read_tags(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Tollgate's own `metadata.user_id` / `metadata.conversation_id` tags (go on the event)."""
    meta = body.get("metadata")
    if meta is None:
        return None, None
    if not isinstance(meta, dict):
        raise GatewayError(400, "'metadata' must be an object", "invalid_request", "metadata")
    uid, cid = meta.get("user_id"), meta.get("conversation_id")
    return (str(uid)[:256] if uid is not None else None), (str(cid)[:256] if cid is not None else None)


def forward_chat_body(body: dict[str, Any], ai_type: str) -> dict[str, Any]:
    """Strip fields only the gateway understands (metadata goes on the event)."""
    if "metadata" in body and not (ai_type == "OPENAI" and body.get("store")):
        body = {k: v for k, v in body.items() if k != "metadata"}
    return body


def openai_usage(u: Any, with_output: bool = True) -> Usage | None:
    """Usage from an OpenAI chat/embeddings `usage` object (None when absent)."""
    if not isinstance(u, dict):
        return None
    details = u.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    out = int(u.get("completion_tokens") or 0) if with_output else 0
    out_details = u.get("completion_tokens_details")
    reasoning = out_details.get("reasoning_tokens") if with_output and isinstance(out_details, dict) else 0
    return Usage(int(u.get("prompt_tokens") or 0), out, int(cached or 0), reasoning=int(reasoning or 0))


def loads_dict(raw: bytes) -> dict[str, Any]:
    obj = orjson.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


class Surface:
    """Defaults shared by the surfaces: OpenAI error shape, chat translation by the adapter."""

    name = ""  # the event's `endpoint` (chat|embeddings|responses|messages[.count_tokens])
    policed = True  # policies (and budgets) see this surface's requests
    forward_headers: tuple[str, ...] = ()  # client headers kept on the plan for native forwarding

    def plan(self, body: dict[str, Any]) -> Plan:
        raise NotImplementedError

    def narrow(self, candidates: list) -> list:
        """The candidates this surface can send to (all, by default); none left -> `local_answer`."""
        return candidates

    def local_answer(self, plan: Plan) -> bytes:
        """The answer when no candidate can serve the call (only surfaces that narrow)."""
        raise NotImplementedError

    def request(self, plan: Plan, cfg: ConfigEntry, provider_model: str) -> UpstreamRequest:
        """The provider request for one attempt (TranslationError/ValueError: a 400)."""
        return families.adapter(cfg.ai_type).chat_request(
            families.provider_config(cfg), provider_model, forward_chat_body(plan.chat, cfg.ai_type)
        )

    def upstream_error(self, cfg: ConfigEntry, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return families.adapter(cfg.ai_type).error(status, body, headers)

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        """A 2xx provider answer -> (client bytes, usage or None). Raises on unreadable answers."""
        raise NotImplementedError

    def pipe(self, plan: Plan, cfg: ConfigEntry, request_id: str) -> Pipe:
        raise NotImplementedError

    def error_body(self, err: GatewayError) -> bytes:
        return err.body()

    def stream_error(self, status: int, message: str, code: str) -> bytes:
        return sse_error(status, message, code)
