"""`POST /v1/messages` and `POST /v1/messages/count_tokens`: the Anthropic Messages surface.

ANTHROPIC configurations get the client's body as sent (model renamed, Tollgate's metadata
tags reduced to `user_id`, `anthropic-beta` forwarded) and answer byte for byte; Claude on AWS
gets the same body through Bedrock's InvokeModel (`adapters.bedrock_claude`), its stream frames
decoded to Anthropic's events; usage is read on the way. Every other family goes through
`producers.translate` (Messages -> chat -> the family's adapter -> chat -> Messages), where
`thinking`, documents and server tools cannot follow. Errors use Anthropic's shape. Pure;
never blocks.
"""

from __future__ import annotations

from typing import Any

import orjson

from producers.adapters import bedrock_claude
from producers.adapters.anthropic import ANTHROPIC, usage_of
from producers.adapters.base import UpstreamRequest, Usage, join_url
from producers.gateway import families
from producers.gateway.errors import GatewayError
from producers.gateway.surfaces.base import Plan, Surface, forward_chat_body, loads_dict, read_tags
from producers.gateway.surfaces.chat import filter_chunks
from producers.gateway.usage import CHARS_PER_TOKEN, CompletionCounter, estimate_prompt_tokens
from producers.translate import anthropic_out
from producers.translate.anthropic_in import to_chat
from store.snapshot import ConfigEntry

NATIVE = "ANTHROPIC"


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", param)


def validate(body: dict[str, Any], need_max_tokens: bool) -> str:
    """Anthropic's own checks on the fields every path relies on; returns the model."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("model: Field required", "model")
    if need_max_tokens:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise _bad("max_tokens: Input should be a valid integer greater than or equal to 1", "max_tokens")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise _bad("messages: Input should be a non-empty list", "messages")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'", f"messages.{i}.role")
        if not isinstance(m.get("content"), (str, list)):
            raise _bad(f"messages.{i}.content: Input should be a valid string or list", f"messages.{i}.content")
    if body.get("system") is not None and not isinstance(body["system"], (str, list)):
        raise _bad("system: Input should be a valid string or list", "system")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _bad("stream: Input should be a valid boolean", "stream")
    for k in ("tools", "stop_sequences"):
        if body.get(k) is not None and not isinstance(body[k], list):
            raise _bad(f"{k}: Input should be a valid list", k)
    return model


def native_body(plan: Plan, provider_model: str, keep: frozenset[str] | None = None) -> bytes:
    """The client's body for Anthropic: provider model, metadata reduced to `user_id`."""
    body = {k: v for k, v in plan.body.items() if keep is None or k in keep}
    body["model"] = provider_model
    meta = body.pop("metadata", None)
    if keep is None and isinstance(meta, dict) and meta.get("user_id") is not None:
        body["metadata"] = {"user_id": meta["user_id"]}
    return orjson.dumps(body)


def native_request(cfg: ConfigEntry, path: str, body: bytes, plan: Plan) -> UpstreamRequest:
    headers = ANTHROPIC._headers(families.provider_config(cfg))
    if plan.headers.get("anthropic-beta"):
        headers["anthropic-beta"] = plan.headers["anthropic-beta"]
    if plan.stream:
        headers["accept"] = "text/event-stream"
    return UpstreamRequest("POST", join_url(cfg.endpoint, path), headers, body)


def refuse_untranslatable(plan: Plan, cfg: ConfigEntry) -> None:
    if plan.untranslatable:
        first = plan.untranslatable[0]
        raise _bad(f"{first} (this model is served by a {cfg.ai_type} configuration)", first.split(":")[0])


class NativePipe:
    """Anthropic's events relayed as they are (Bedrock's frames decoded to them first); the
    adapter's translator reads usage alongside."""

    def __init__(self, model: str, request_id: str, frames: bedrock_claude.InvokeStream | None = None) -> None:
        self._t = ANTHROPIC.stream_translator(model, request_id, include_usage=True)
        self._frames = frames
        self._counter = CompletionCounter()
        self.error_type: str | None = None

    @property
    def usage(self) -> Usage | None:
        return self._t.usage

    def feed(self, raw: bytes) -> bytes:
        if self._frames is not None:
            raw = self._frames.feed(raw)
        filter_chunks(self._t.feed(raw), self._counter, True)
        return raw

    def finish(self) -> bytes:
        self._t.finish()
        err = self._t.error or (self._frames.error if self._frames is not None else None)
        if err is not None:
            self.error_type = err.code or err.error_type or "upstream_stream_error"
        return b""

    def broken(self) -> bytes:
        return anthropic_out.stream_error(502, "The provider stream broke off.")

    def estimated_out(self) -> int:
        return self._counter.tokens


class TranslatedPipe:
    """A family's chat chunks (its adapter's translator) re-shaped into Anthropic events."""

    def __init__(self, ai_type: str, model: str, request_id: str) -> None:
        self._t = families.adapter(ai_type).stream_translator(model, request_id, include_usage=True)
        self._out = anthropic_out.MessagesStream(model, request_id)
        self.error_type: str | None = None

    @property
    def usage(self) -> Usage | None:
        return self._t.usage

    def feed(self, raw: bytes) -> bytes:
        return self._out.feed(self._t.feed(raw))

    def finish(self) -> bytes:
        body = self._out.feed(self._t.finish())
        err = self._t.error
        if err is not None:
            self.error_type = err.error_type or "upstream_stream_error"
            return body + self._out.close(self._t.usage, (502, err.message))
        return body + self._out.close(self._t.usage)

    def broken(self) -> bytes:
        return self._out.close(None, (502, "The provider stream broke off."))

    def estimated_out(self) -> int:
        return self._out.chars // CHARS_PER_TOKEN


class MessagesSurface(Surface):
    name = "messages"
    forward_headers = ("anthropic-beta",)

    def plan(self, body: dict[str, Any]) -> Plan:
        model = validate(body, need_max_tokens=True)
        uid, cid = read_tags(body)
        tr = to_chat(body)
        return Plan(
            self,
            model,
            body,
            tr.chat,
            stream=bool(body.get("stream")),
            include_usage=True,
            user_id=uid,
            conversation_id=cid,
            untranslatable=tr.unsupported,
        )

    def request(self, plan: Plan, cfg: ConfigEntry, provider_model: str) -> UpstreamRequest:
        plan.native = cfg.ai_type == NATIVE or (cfg.ai_type == "AWS" and bedrock_claude.is_claude(provider_model))
        if cfg.ai_type == NATIVE:
            return native_request(cfg, "/v1/messages", native_body(plan, provider_model), plan)
        if plan.native:  # Claude on Bedrock: the Messages body through InvokeModel
            return bedrock_claude.invoke_request(families.provider_config(cfg), provider_model, plan.body, plan.stream)
        refuse_untranslatable(plan, cfg)
        chat = forward_chat_body(plan.chat, cfg.ai_type)
        return families.adapter(cfg.ai_type).chat_request(families.provider_config(cfg), provider_model, chat)

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        if plan.native:
            out = loads_dict(body)
            if not isinstance(out.get("content"), list):
                raise ValueError("not an Anthropic message")
            return body, usage_of(out.get("usage")) if isinstance(out.get("usage"), dict) else None
        completion, usage = families.adapter(cfg.ai_type).chat_response(200, body, plan.model, request_id=request_id)
        return orjson.dumps(anthropic_out.to_message(completion, usage, plan.model, request_id)), usage

    def pipe(self, plan: Plan, cfg: ConfigEntry, request_id: str):
        if plan.native:
            return NativePipe(plan.model, request_id, bedrock_claude.InvokeStream() if cfg.ai_type == "AWS" else None)
        return TranslatedPipe(cfg.ai_type, plan.model, request_id)

    def error_body(self, err: GatewayError) -> bytes:
        return anthropic_out.error_body(err.status, err.message)

    def stream_error(self, status: int, message: str, code: str) -> bytes:
        return anthropic_out.stream_error(status, message)


COUNT_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management"}
)


class CountTokensSurface(MessagesSurface):
    """Anthropic's own count on ANTHROPIC configurations; elsewhere a local estimate.

    A count is not a generation: its event carries no tokens and policies do not see it.
    """

    name = "messages.count_tokens"
    policed = False

    def plan(self, body: dict[str, Any]) -> Plan:
        model = validate(body, need_max_tokens=False)
        uid, cid = read_tags(body)
        tr = to_chat(body)
        return Plan(self, model, body, tr.chat, user_id=uid, conversation_id=cid, untranslatable=tr.unsupported)

    def narrow(self, candidates: list) -> list:
        return [c for c in candidates if c[0].ai_type == NATIVE]

    def local_answer(self, plan: Plan) -> bytes:
        tools = orjson.dumps(plan.body.get("tools") or [])
        n = estimate_prompt_tokens(plan.chat) + (len(tools) // CHARS_PER_TOKEN if plan.body.get("tools") else 0)
        return orjson.dumps({"input_tokens": n})

    def request(self, plan: Plan, cfg: ConfigEntry, provider_model: str) -> UpstreamRequest:
        return native_request(cfg, "/v1/messages/count_tokens", native_body(plan, provider_model, COUNT_FIELDS), plan)

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        out = loads_dict(body)
        if not isinstance(out.get("input_tokens"), int):
            raise ValueError("not a token count")
        return body, Usage(0, 0)


MESSAGES = MessagesSurface()
COUNT_TOKENS = CountTokensSurface()
