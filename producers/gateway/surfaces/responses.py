"""`POST /v1/responses`: the OpenAI Responses surface.

OPENAI configurations get the client's body as sent (model renamed) at their `/responses` and
answer byte for byte, usage read on the way (`response.completed` when streamed). Every other
family, OTHER (often chat-only) included, goes through `producers.translate` (Responses -> chat
-> the family's adapter -> chat -> Responses). What needs the provider's stored state or its
built-in tools is refused with a 400 naming the field on translated families. OpenAI's error
shape. Pure; never blocks.
"""

from __future__ import annotations

from typing import Any

import orjson

from producers.adapters.base import UpstreamRequest, Usage, join_url, loads
from producers.adapters.sse import SSEDecoder
from producers.gateway import families
from producers.gateway.errors import GatewayError, sse_error
from producers.gateway.surfaces.base import Plan, Surface, forward_chat_body, loads_dict, read_tags
from producers.gateway.usage import CHARS_PER_TOKEN
from producers.translate import responses_in, responses_out
from store.snapshot import ConfigEntry

NATIVE = "OPENAI"
_USAGE_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def responses_usage(u: Any) -> Usage | None:
    """Usage from a Responses `usage` object (None when absent)."""
    if not isinstance(u, dict):
        return None
    details = u.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    out_details = u.get("output_tokens_details")
    reasoning = out_details.get("reasoning_tokens") if isinstance(out_details, dict) else 0
    return Usage(
        int(u.get("input_tokens") or 0),
        int(u.get("output_tokens") or 0),
        int(cached or 0),
        reasoning=int(reasoning or 0),
    )


class NativePipe:
    """OpenAI's Responses events relayed as they are; usage read from the final event."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._chars = 0
        self.usage: Usage | None = None
        self.error_type: str | None = None

    def _read(self, events) -> None:
        for ev in events:
            if not ev.data or not (
                ev.event in _USAGE_EVENTS
                or ev.event in ("error", "response.output_text.delta")
                or ev.event == "message"
            ):
                continue
            try:
                d = loads(ev.data)
            except ValueError:
                continue
            kind = d.get("type") if isinstance(d, dict) else None
            if kind == "response.output_text.delta":
                self._chars += len(d.get("delta") or "")
            elif kind in _USAGE_EVENTS:
                resp = d.get("response") or {}
                self.usage = responses_usage(resp.get("usage")) or self.usage
                if kind == "response.failed":
                    self.error_type = str((resp.get("error") or {}).get("code") or "upstream_stream_error")
            elif kind == "error":
                self.error_type = str(d.get("code") or "upstream_stream_error")

    def feed(self, raw: bytes) -> bytes:
        self._read(self._sse.feed(raw))
        return raw

    def finish(self) -> bytes:
        self._read(self._sse.flush())
        return b""

    def broken(self) -> bytes:
        return sse_error(502, "The provider stream broke off.", "upstream_stream_error")

    def estimated_out(self) -> int:
        return self._chars // CHARS_PER_TOKEN


class TranslatedPipe:
    """A family's chat chunks (its adapter's translator) re-shaped into Responses events."""

    def __init__(self, plan: Plan, ai_type: str, request_id: str) -> None:
        self._t = families.adapter(ai_type).stream_translator(plan.model, request_id, include_usage=True)
        self._out = responses_out.ResponsesStream(plan.body, plan.model, request_id)
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
            return body + self._out.close(self._t.usage, ("server_error", err.message))
        return body + self._out.close(self._t.usage)

    def broken(self) -> bytes:
        return self._out.close(None, ("server_error", "The provider stream broke off."))

    def estimated_out(self) -> int:
        return self._out.chars // CHARS_PER_TOKEN


class ResponsesSurface(Surface):
    name = "responses"

    def plan(self, body: dict[str, Any]) -> Plan:
        try:
            responses_in.check(body)
        except responses_in.Invalid as exc:
            raise GatewayError(400, exc.message, "invalid_request", exc.param) from None
        uid, cid = read_tags(body)
        tr = responses_in.to_chat(body)
        return Plan(
            self,
            body["model"],
            body,
            tr.chat,
            stream=bool(body.get("stream")),
            include_usage=True,
            user_id=uid,
            conversation_id=cid,
            untranslatable=tr.unsupported,
        )

    def request(self, plan: Plan, cfg: ConfigEntry, provider_model: str) -> UpstreamRequest:
        if cfg.ai_type == NATIVE:
            pc = families.provider_config(cfg)
            headers = {
                "authorization": f"Bearer {pc.secret}",
                "content-type": "application/json",
                "accept": "text/event-stream" if plan.stream else "application/json",
            }
            return UpstreamRequest(
                "POST",
                join_url(cfg.endpoint, "/responses"),
                headers,
                orjson.dumps(dict(plan.body, model=provider_model)),
            )
        if plan.untranslatable:
            first = plan.untranslatable[0]
            raise GatewayError(
                400,
                f"{first} (this model is served by a {cfg.ai_type} configuration)",
                "unsupported_parameter",
                first.split(":")[0],
            )
        return families.adapter(cfg.ai_type).chat_request(
            families.provider_config(cfg), provider_model, forward_chat_body(plan.chat, cfg.ai_type)
        )

    def answer(self, plan: Plan, cfg: ConfigEntry, body: bytes, request_id: str) -> tuple[bytes, Usage | None]:
        if cfg.ai_type == NATIVE:
            out = loads_dict(body)
            if not isinstance(out.get("output"), list):
                raise ValueError("not a Responses answer")
            return body, responses_usage(out.get("usage"))
        completion, usage = families.adapter(cfg.ai_type).chat_response(200, body, plan.model, request_id=request_id)
        resp = responses_out.to_response(completion, usage, plan.body, plan.model, request_id)
        return orjson.dumps(resp), usage

    def pipe(self, plan: Plan, cfg: ConfigEntry, request_id: str):
        if cfg.ai_type == NATIVE:
            return NativePipe()
        return TranslatedPipe(plan, cfg.ai_type, request_id)


RESPONSES = ResponsesSurface()
