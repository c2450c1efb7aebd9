"""OpenAI wire format: `/v1/responses` (the Responses API), plain and streamed (typed SSE events).

Checks what the real API refuses (unknown parameters, roles and item types, a
`function_call_output` without its `function_call`, unknown `previous_response_id`,
`max_output_tokens` below 16, nameless function tools, non-string metadata values) with
OpenAI's messages and `param`s. Stored responses (`store` not false) can be continued with
`previous_response_id`: their input and output words count as prompt tokens, their call ids
answer later `function_call_output` items. Tokens and replies follow `rules`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import rules
from .common import Ctx, apply_faults, read_call, reply, stream
from .openai import FAMILY, _fault_error, check_auth, error

PARAMS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "max_output_tokens",
        "temperature",
        "top_p",
        "metadata",
        "stream",
        "store",
        "previous_response_id",
        "include",
        "truncation",
        "reasoning",
        "user",
        "service_tier",
        "background",
        "prompt",
        "prompt_cache_key",
        "safety_identifier",
        "stream_options",
        "top_logprobs",
        "max_tool_calls",
        "conversation",
    }
)
ROLES = ("user", "assistant", "system", "developer")
ITEMS = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
TOOL_TYPES = (
    "function",
    "web_search",
    "web_search_preview",
    "file_search",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
)


def _bad(message: str, param: str | None, code: str | None = None) -> Response:
    return error(400, message, param=param, code=code)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _item_text(item: dict[str, Any]) -> str:
    if item.get("type") == "function_call_output":
        return _text(item.get("output"))
    if item.get("type") in (None, "message"):
        return _text(item.get("content"))
    return ""


def _validate(ctx: Ctx, body: dict[str, Any]) -> Response | None:
    for k in body:
        if k not in PARAMS:
            return _bad(f"Unknown parameter: '{k}'.", k, "unknown_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    prev = body.get("previous_response_id")
    if prev is not None and prev not in ctx.stored:
        return _bad(
            f"Previous response with id '{prev}' not found.", "previous_response_id", "previous_response_not_found"
        )
    inp = body.get("input")
    if inp is None and prev is None:
        return _bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    calls = set(ctx.stored[prev]["calls"]) if prev else set()
    for i, item in enumerate(inp if isinstance(inp, list) else []):
        if not isinstance(item, dict):
            return _bad(f"Invalid type for 'input[{i}]': expected an object.", f"input[{i}]", "invalid_type")
        kind = item.get("type", "message")
        if kind not in ITEMS:
            return _bad(
                f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
                "'function_call_output', 'reasoning' and 'item_reference'.",
                f"input[{i}].type",
                "invalid_value",
            )
        if kind == "message" and item.get("role") not in ROLES:
            return _bad(
                f"Invalid value: '{item.get('role')}'. Supported values are: 'assistant', 'system', "
                "'developer', and 'user'.",
                f"input[{i}].role",
                "invalid_value",
            )
        if kind == "function_call":
            calls.add(item.get("call_id"))
        if kind == "function_call_output" and item.get("call_id") not in calls:
            return _bad(f"No tool call found for function call output with call_id {item.get('call_id')}.", "input")
    for k, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or t.get("type") not in TOOL_TYPES:
            return _bad(f"Invalid value: '{(t or {}).get('type')}'.", f"tools[{k}].type", "invalid_value")
        if t["type"] == "function" and not t.get("name"):
            return _bad(
                f"Missing required parameter: 'tools[{k}].name'.", f"tools[{k}].name", "missing_required_parameter"
            )
    mot = body.get("max_output_tokens")
    if mot is not None and (not isinstance(mot, int) or mot < 16):
        return _bad(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {mot} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema" and not fmt.get("name"):
        return _bad("Missing required parameter: 'text.format.name'.", "text.format.name", "missing_required_parameter")
    for k, v in (body.get("metadata") or {}).items():
        if not isinstance(v, str):
            return _bad(f"Invalid type for 'metadata.{k}': expected a string.", f"metadata.{k}", "invalid_type")
    if body["model"] not in ctx.models[FAMILY] or body["model"].startswith("text-embedding"):
        return _bad(f"The requested model '{body['model']}' does not exist.", "model", "model_not_found")
    return None


def _decide(ctx: Ctx, body: dict[str, Any]) -> rules.Outcome:
    inp = body.get("input")
    items = [{"type": "message", "role": "user", "content": inp}] if isinstance(inp, str) else list(inp or [])
    prompt = rules.words(body.get("instructions") or "") + sum(rules.words(_item_text(i)) for i in items)
    prev = body.get("previous_response_id")
    if prev:
        prompt += ctx.stored[prev]["words"]
    tools = [t["name"] for t in body.get("tools") or [] if t.get("type") == "function"]
    tc = body.get("tool_choice")
    choice = tc.get("name") if isinstance(tc, dict) else tc
    fmt = ((body.get("text") or {}).get("format") or {}).get("type")
    return rules.decide(
        prompt_tokens=prompt,
        last_text=_item_text(items[-1]) if items else "",
        tool_names=tools,
        tool_choice=choice,
        max_tokens=body.get("max_output_tokens"),
        json_mode=fmt in ("json_object", "json_schema"),
    )


def _usage(o: rules.Outcome) -> dict[str, Any]:
    return {
        "input_tokens": o.tokens_in,
        "input_tokens_details": {"cached_tokens": o.cache_read},
        "output_tokens": o.tokens_out,
        "output_tokens_details": {"reasoning_tokens": o.reasoning},
        "total_tokens": o.tokens_in + o.tokens_out,
    }


def _response(body: dict[str, Any], rid: str, status: str, output: list, o: rules.Outcome | None) -> dict[str, Any]:
    incomplete = o is not None and o.truncated
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete and status == "completed" else status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete and status == "completed" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _usage(o) if o is not None and status == "completed" else None,
        "user": None,
    }


def _output(o: rules.Outcome) -> list[dict[str, Any]]:
    if o.tool_call:
        return [
            {
                "id": "fc_" + uuid.uuid4().hex,
                "type": "function_call",
                "status": "completed",
                "arguments": o.tool_call.arguments_json,
                "call_id": "call_" + uuid.uuid4().hex[:24],
                "name": o.tool_call.name,
            }
        ]
    return [
        {
            "id": "msg_" + uuid.uuid4().hex,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": o.text, "annotations": [], "logprobs": []}],
        }
    ]


async def create(ctx: Ctx, request: Request) -> Response:
    body = await read_call(ctx, request, FAMILY, check_auth, error, "We could not parse the JSON body of your request.")
    if isinstance(body, Response):
        return body
    if (bad := _validate(ctx, body)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, body["model"], _fault_error)
    if isinstance(fault, Response):
        return fault
    o = _decide(ctx, body)
    rid = "resp_" + uuid.uuid4().hex
    output = _output(o)
    if body.get("store", True) is not False:
        calls = [i["call_id"] for i in output if i["type"] == "function_call"]
        ctx.stored[rid] = {"words": o.tokens_in + o.tokens_out, "calls": calls}
    if body.get("stream"):
        return stream(_events(body, rid, output, o), "text/event-stream", fault)
    return reply(_response(body, rid, "completed", output, o), fault)


def _events(body: dict[str, Any], rid: str, output: list[dict[str, Any]], o: rules.Outcome):
    seq = iter(range(1_000_000))

    def ev(kind: str, **data: Any) -> bytes:
        return (
            b"event: "
            + kind.encode()
            + b"\ndata: "
            + orjson.dumps({"type": kind, "sequence_number": next(seq), **data})
            + b"\n\n"
        )

    start = _response(body, rid, "in_progress", [], None)
    yield ev("response.created", response=start)
    yield ev("response.in_progress", response=start)
    item = output[0]
    if item["type"] == "function_call":
        yield ev("response.output_item.added", output_index=0, item=dict(item, arguments="", status="in_progress"))
        args = item["arguments"]
        for i in range(0, len(args), 8):
            yield ev(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=0, delta=args[i : i + 8]
            )
        yield ev("response.function_call_arguments.done", item_id=item["id"], output_index=0, arguments=args)
    else:
        yield ev("response.output_item.added", output_index=0, item=dict(item, content=[], status="in_progress"))
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield ev("response.content_part.added", item_id=item["id"], output_index=0, content_index=0, part=empty)
        for piece in o.chunks:
            yield ev(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        yield ev(
            "response.output_text.done", item_id=item["id"], output_index=0, content_index=0, text=o.text, logprobs=[]
        )
        yield ev(
            "response.content_part.done", item_id=item["id"], output_index=0, content_index=0, part=item["content"][0]
        )
    yield ev("response.output_item.done", output_index=0, item=item)
    final = _response(body, rid, "completed", output, o)
    yield ev("response.completed" if final["status"] == "completed" else "response.incomplete", response=final)
