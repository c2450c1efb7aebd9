"""Claude on AWS Bedrock through InvokeModel / InvokeModelWithResponseStream: the Anthropic Messages
body with `anthropic_version: "bedrock-2023-05-31"` (no `model`, no `stream`); the answer is an
Anthropic message, or event-stream `chunk` frames whose payload `{"bytes": base64}` holds one
Anthropic stream event each (`message_stop` adds `amazon-bedrock-invocationMetrics`).
Validation and behaviour are the Anthropic fake's, refusals in Bedrock's shape.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
from starlette.responses import Response

from . import anthropic
from .common import Ctx, reply, stream
from .eventstream import encode_frame

VERSION = "bedrock-2023-05-31"
REFUSED_KEYS = ("model", "stream")


def check(ctx: Ctx, body: dict[str, Any], error) -> tuple[dict[str, Any] | None, Response | None]:
    """The body as the Anthropic fake reads it, or Bedrock's refusal."""
    for k in REFUSED_KEYS:
        if k in body:
            return None, error(
                400,
                f"Malformed input request: #: extraneous key [{k}] is not permitted, "
                "please reformat your input and try again.",
            )
    if body.get("anthropic_version") != VERSION:
        return None, error(
            400,
            f"Malformed input request: #/anthropic_version: {body.get('anthropic_version')} is not a valid enum value",
        )
    probe = {k: v for k, v in body.items() if k not in ("anthropic_version", "anthropic_beta")}
    probe["model"] = ctx.models[anthropic.FAMILY][0]
    bad = anthropic._validate(ctx, probe)
    if bad is not None:
        message = orjson.loads(bad.body)["error"]["message"]
        return None, error(400, message)
    return probe, None


def _chunk(event_sse: bytes, metrics: dict[str, int] | None = None) -> bytes:
    data = orjson.loads(event_sse.split(b"\ndata: ", 1)[1])
    if metrics is not None and data.get("type") == "message_stop":
        data["amazon-bedrock-invocationMetrics"] = metrics
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(data)).decode()})
    return encode_frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload
    )


def answer(model: str, probe: dict[str, Any], streamed: bool, fault) -> Response:
    o = anthropic._decide(probe)
    mid = "msg_bdrk_01" + uuid.uuid4().hex[:20]
    if not streamed:
        return reply(anthropic.message_payload(o, mid, model), fault, headers={"x-amzn-RequestId": str(uuid.uuid4())})
    metrics = {
        "inputTokenCount": o.plain_in,
        "outputTokenCount": o.tokens_out,
        "invocationLatency": 1,
        "firstByteLatency": 1,
    }
    frames = (_chunk(ev, metrics) for ev in anthropic._events(o, mid, model))
    return stream(frames, "application/vnd.amazon.eventstream", fault, headers={"x-amzn-RequestId": str(uuid.uuid4())})
