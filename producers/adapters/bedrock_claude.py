"""Claude on AWS Bedrock, spoken in Anthropic's own Messages format (pure; SigV4 via `sigv4.sign`).

Bedrock's InvokeModel takes the Messages body with `anthropic_version: "bedrock-2023-05-31"`
instead of `model` and `stream` and answers an Anthropic message; InvokeModelWithResponseStream
answers event-stream `chunk` frames whose payload `{"bytes": base64}` is one Anthropic stream
event. `invoke_request` builds the signed call; `InvokeStream` turns the frames back into
Anthropic's SSE events (an in-stream exception becomes an Anthropic `error` event and `error`).
Tollgate's metadata tags and the client's beta flags stay behind: Bedrock refuses flags it does
not know.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from .base import ProviderConfig, UpstreamError, UpstreamRequest, bad_gateway, dumps, join_url
from .bedrock import AWS, EXCEPTION_STATUS, _error, _model_path, runtime_base

VERSION = "bedrock-2023-05-31"
DROPPED = ("model", "stream", "metadata", "service_tier", "container", "mcp_servers")


def is_claude(provider_model: str) -> bool:
    return "anthropic.claude" in provider_model


def invoke_request(
    cfg: ProviderConfig, provider_model: str, body: dict[str, Any], stream: bool, *, now: datetime | None = None
) -> UpstreamRequest:
    """The signed InvokeModel[WithResponseStream] call for an Anthropic Messages body."""
    out = {k: v for k, v in body.items() if k not in DROPPED}
    out["anthropic_version"] = VERSION
    action = "invoke-with-response-stream" if stream else "invoke"
    headers = {
        "content-type": "application/json",
        "accept": "application/vnd.amazon.eventstream" if stream else "application/json",
    }
    req = UpstreamRequest("POST", join_url(runtime_base(cfg), _model_path(provider_model, action)), headers, dumps(out))
    return AWS._signed(cfg, req, now)


def _sse(data: dict[str, Any]) -> bytes:
    return b"event: " + str(data.get("type") or "message").encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class InvokeStream:
    """Event-stream frames in, Anthropic SSE bytes out (never raises on bad bytes: sets `error`)."""

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._parser_error = ParserError
        self._buf = EventStreamBuffer()
        self.error: UpstreamError | None = None

    def feed(self, raw: bytes) -> bytes:
        if self.error is not None:
            return b""
        out: list[bytes] = []
        self._buf.add_data(raw)
        try:
            for msg in self._buf:
                out.append(self._frame(msg.headers, msg.payload))
                if self.error is not None:
                    break
        except self._parser_error:
            self.error = bad_gateway("the provider sent a corrupt event-stream frame")
        return b"".join(out)

    def _frame(self, headers: dict[str, Any], payload: bytes) -> bytes:
        try:
            d = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            d = None
        mtype = headers.get(":message-type")
        if mtype in ("exception", "error") or not isinstance(d, dict):
            etype = str(headers.get(":exception-type") or headers.get(":error-code") or "internalServerException")
            message = (d or {}).get("message") if isinstance(d, dict) else None
            self.error = _error(
                EXCEPTION_STATUS.get(etype, 500),
                etype[:1].upper() + etype[1:],
                message or headers.get(":error-message"),
            )
            kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(self.error.status, "api_error")
            return _sse({"type": "error", "error": {"type": kind, "message": self.error.message}})
        try:
            event = orjson.loads(base64.b64decode(d.get("bytes") or ""))
        except (ValueError, orjson.JSONDecodeError):
            self.error = bad_gateway("the provider sent an unreadable stream event")
            return b""
        if isinstance(event, dict):
            event.pop("amazon-bedrock-invocationMetrics", None)
            return _sse(event)
        return b""
