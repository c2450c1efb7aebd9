"""Anthropic wire format: `/v1/models` (x-api-key), `/v1/messages` (incl. SSE streaming) and
`/v1/messages/count_tokens`; unknown fields are refused as Anthropic refuses them."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import rules
from .common import Ctx, apply_faults, json_response, listing_refusal, read_call, reply, stream

FAMILY = "anthropic"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
DISPLAY = {
    "claude-sonnet-4-20250514": ("Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    type_ = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    h = {"request-id": "req_" + uuid.uuid4().hex[:24]}
    h.update(headers or {})
    return json_response({"type": "error", "error": {"type": type_, "message": message}}, status, h)


def check_auth(ctx: Ctx, request: Request) -> Response | None:
    key = request.headers.get("x-api-key")
    if not key:
        return error(401, "x-api-key header is required")
    if key != ctx.creds.anthropic_key:
        return error(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return error(400, "anthropic-version: header is required")
    return None


async def models(ctx: Ctx, request: Request) -> Response:
    if (refused := await listing_refusal(ctx, request, FAMILY, check_auth(ctx, request), error)) is not None:
        return refused
    ids = ctx.models[FAMILY]
    data = [
        {
            "type": "model",
            "id": m,
            "display_name": DISPLAY.get(m, (m, ""))[0],
            "created_at": DISPLAY.get(m, ("", "2025-01-01T00:00:00Z"))[1],
        }
        for m in ids
    ]
    return json_response(
        {"data": data, "has_more": False, "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
    )


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") == "text":
        return block.get("text", "")
    if block.get("type") == "tool_result":
        c = block.get("content")
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return " ".join(b.get("text", "") for b in c if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _msg_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_block_text(b) for b in content if isinstance(b, dict))
    return ""


MESSAGE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
COUNT_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management"}
)


def _validate(ctx: Ctx, body: dict[str, Any], count: bool = False) -> Response | None:
    """Anthropic's request checks; `count`: the count_tokens variant (no max_tokens, fewer fields)."""
    allowed = COUNT_FIELDS if count else MESSAGE_FIELDS
    for f in body:
        if f not in allowed:
            return error(400, f"{f}: Extra inputs are not permitted")
    meta = body.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            return error(400, "metadata: Input should be a valid dictionary")
        for f in meta:
            if f != "user_id":
                return error(400, f"metadata.{f}: Extra inputs are not permitted")
    for f in ("model", "messages") if count else ("model", "max_tokens", "messages"):
        if f not in body:
            return error(400, f"{f}: Field required")
    if not count and (
        not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1
    ):
        return error(400, "max_tokens: Input should be a valid integer greater than or equal to 1")
    msgs = body["messages"]
    if not isinstance(msgs, list):
        return error(400, "messages: Input should be a valid list")
    if not msgs:
        return error(400, "messages: at least one message is required")
    prev_role = None
    prev_tool_ids: set[str] = set()
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            return error(400, f"messages.{i}: Input should be a valid dictionary")
        role = m.get("role")
        if role == "system":
            return error(
                400,
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.',
            )
        if role not in ("user", "assistant"):
            return error(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            return error(400, 'messages: first message must use the "user" role')
        if role == prev_role:
            return error(
                400,
                f'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row',
            )
        content = m.get("content")
        if content is None or content == "" or content == []:
            if not (role == "assistant" and i == len(msgs) - 1):
                return error(
                    400,
                    f"messages.{i}: all messages must have non-empty content except for "
                    "the optional final assistant message",
                )
        if isinstance(content, list):
            for j, b in enumerate(content):
                if not isinstance(b, dict) or "type" not in b:
                    return error(400, f"messages.{i}.content.{j}.type: Field required")
                if b["type"] == "tool_result" and b.get("tool_use_id") not in prev_tool_ids:
                    return error(
                        400,
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        "`tool_result` blocks. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message.",
                    )
        prev_tool_ids = (
            {b.get("id") for b in content or [] if isinstance(b, dict) and b.get("type") == "tool_use"}
            if isinstance(content, list)
            else set()
        )
        prev_role = role
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return error(400, "system: Input should be a valid string or list")
    if body["model"] not in ctx.models[FAMILY]:
        return error(404, f"model: {body['model']}")
    return None


def prompt_tokens(body: dict[str, Any]) -> int:
    """The fake's input tokens: words of the system prompt and of every message's text."""
    system = body.get("system")
    prompt = rules.words(_msg_text(system)) if system else 0
    return prompt + sum(rules.words(_msg_text(m.get("content"))) for m in body["messages"])


def _decide(body: dict[str, Any]) -> rules.Outcome:
    prompt = prompt_tokens(body)
    tools = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    tc = body.get("tool_choice") or {}
    choice = {"auto": "auto", "any": "required", "none": "none"}.get(tc.get("type"), tc.get("name"))
    return rules.decide(
        prompt_tokens=prompt,
        last_text=_msg_text(body["messages"][-1].get("content")),
        tool_names=tools,
        tool_choice=choice,
        max_tokens=body["max_tokens"],
    )


async def count_tokens(ctx: Ctx, request: Request) -> Response:
    """`/v1/messages/count_tokens`: the input tokens `/v1/messages` would report (tools not counted)."""
    body = await read_call(
        ctx, request, FAMILY, check_auth, error, "There was an error parsing the body of your request: invalid JSON"
    )
    if isinstance(body, Response):
        return body
    if (bad := _validate(ctx, body, count=True)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, body["model"], error)
    if isinstance(fault, Response):
        return fault
    return reply({"input_tokens": prompt_tokens(body)}, fault)


def _stop(o: rules.Outcome) -> str:
    return "tool_use" if o.tool_call else ("max_tokens" if o.truncated else "end_turn")


async def messages(ctx: Ctx, request: Request) -> Response:
    body = await read_call(
        ctx, request, FAMILY, check_auth, error, "There was an error parsing the body of your request: invalid JSON"
    )
    if isinstance(body, Response):
        return body
    if (bad := _validate(ctx, body)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, body["model"], error)
    if isinstance(fault, Response):
        return fault
    o = _decide(body)
    mid = "msg_01" + uuid.uuid4().hex[:22]
    if body.get("stream"):
        return stream(
            _events(o, mid, body["model"]),
            "text/event-stream",
            fault,
            headers={"request-id": "req_" + uuid.uuid4().hex[:24]},
        )
    return reply(message_payload(o, mid, body["model"]), fault)


def message_payload(o: rules.Outcome, mid: str, model: str) -> dict[str, Any]:
    """A non-streamed Messages answer (shared with Claude on Bedrock's InvokeModel)."""
    content: list[dict[str, Any]]
    if o.tool_call:
        content = [
            {
                "type": "tool_use",
                "id": "toolu_01" + uuid.uuid4().hex[:22],
                "name": o.tool_call.name,
                "input": o.tool_call.arguments,
            }
        ]
    else:
        content = [{"type": "text", "text": o.text}]
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop(o),
        "stop_sequence": None,
        "usage": {
            "input_tokens": o.plain_in,
            "cache_creation_input_tokens": o.cache_write,
            "cache_read_input_tokens": o.cache_read,
            "output_tokens": o.tokens_out,
            "service_tier": "standard",
        },
    }


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _events(o: rules.Outcome, mid: str, model: str):
    yield _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": o.plain_in,
                    "cache_creation_input_tokens": o.cache_write,
                    "cache_read_input_tokens": o.cache_read,
                    "output_tokens": 1,
                    "service_tier": "standard",
                },
            },
        },
    )
    if o.tool_call:
        yield _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01" + uuid.uuid4().hex[:22],
                    "name": o.tool_call.name,
                    "input": {},
                },
            },
        )
        yield _sse("ping", {"type": "ping"})
        args = o.tool_call.arguments_json
        yield _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
        )
        for i in range(0, len(args), 8):
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": args[i : i + 8]},
                },
            )
    else:
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        yield _sse("ping", {"type": "ping"})
        for piece in o.chunks:
            yield _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _stop(o), "stop_sequence": None},
            "usage": {"output_tokens": o.tokens_out},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})
