"""OpenAI wire format: `/v1/models`, `/v1/chat/completions` (incl. streaming), `/v1/embeddings`.

Also serves OTHER (any OpenAI-compatible endpoint): same paths, same shapes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import rules
from .common import Ctx, apply_faults, json_response, listing_refusal, read_call, reply, stream

FAMILY = "openai"
ROLES = ("system", "assistant", "user", "function", "tool", "developer")


def error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> Response:
    if type_ is None:
        type_ = {429: "requests", 401: "invalid_request_error"}.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
    if code is None and status == 429:
        code = "rate_limit_exceeded"
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(body, status, headers)


def _fault_error(status: int, message: str, headers: dict[str, str]) -> Response:
    return error(status, message, headers)


def check_auth(ctx: Ctx, request: Request) -> Response | None:
    auth = request.headers.get("authorization")
    if not auth:
        return error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != ctx.creds.openai_key:
        return error(
            401,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


async def models(ctx: Ctx, request: Request) -> Response:
    if (refused := await listing_refusal(ctx, request, FAMILY, check_auth(ctx, request), _fault_error)) is not None:
        return refused
    data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in ctx.models[FAMILY]]
    return json_response({"object": "list", "data": data})


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _validate_chat(ctx: Ctx, body: dict[str, Any]) -> Response | None:
    model = body.get("model")
    if not model or not isinstance(model, str):
        return error(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        return error(
            400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list):
        return error(400, "Invalid type for 'messages': expected an array.", param="messages", code="invalid_type")
    if not messages:
        return error(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    pending_tool_ids: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return error(
                400,
                f"Invalid type for 'messages[{i}]': expected an object.",
                param=f"messages[{i}]",
                code="invalid_type",
            )
        role = m.get("role")
        if role not in ROLES:
            return error(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'function', 'tool', and 'developer'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if role == "assistant":
            pending_tool_ids = {tc.get("id") for tc in m.get("tool_calls") or [] if isinstance(tc, dict)}
        elif role == "tool":
            if m.get("tool_call_id") not in pending_tool_ids:
                return error(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
        else:
            pending_tool_ids = set()
    if model not in ctx.models[FAMILY]:
        return error(
            404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
        )
    if model.startswith("text-embedding"):
        return error(
            404,
            "This is not a chat model and thus not supported in the v1/chat/completions "
            "endpoint. Did you mean to use v1/completions?",
            code="model_not_found",
        )
    return None


def _decide(body: dict[str, Any]) -> rules.Outcome:
    messages = body["messages"]
    prompt = sum(rules.words(_text_of(m.get("content"))) for m in messages)
    tools = [t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    tools = [t for t in tools if t]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name")
    fmt = (body.get("response_format") or {}).get("type")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return rules.decide(
        prompt_tokens=prompt,
        last_text=_text_of(messages[-1].get("content")),
        tool_names=tools,
        tool_choice=choice,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        json_mode=fmt in ("json_object", "json_schema"),
    )


def _usage(o: rules.Outcome) -> dict[str, Any]:
    return {
        "prompt_tokens": o.tokens_in,
        "completion_tokens": o.tokens_out,
        "total_tokens": o.tokens_in + o.tokens_out,
        "prompt_tokens_details": {"cached_tokens": o.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": o.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(o: rules.Outcome) -> str:
    return "tool_calls" if o.tool_call else ("length" if o.truncated else "stop")


async def chat(ctx: Ctx, request: Request) -> Response:
    body = await read_call(
        ctx,
        request,
        FAMILY,
        check_auth,
        error,
        "We could not parse the JSON body of your request. (HINT: This likely means "
        "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
        "payload, but what was sent was not valid JSON.",
    )
    if isinstance(body, Response):
        return body
    if (bad := _validate_chat(ctx, body)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, body["model"], _fault_error)
    if isinstance(fault, Response):
        return fault
    o = _decide(body)
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    model = body["model"]
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return stream(_chunks(o, cid, created, model, include_usage), "text/event-stream", fault)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": o.text if not o.tool_call else None,
        "refusal": None,
        "annotations": [],
    }
    if o.tool_call:
        message["tool_calls"] = [
            {
                "id": "call_" + uuid.uuid4().hex[:24],
                "type": "function",
                "function": {"name": o.tool_call.name, "arguments": o.tool_call.arguments_json},
            }
        ]
    payload = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(o)}],
        "usage": _usage(o),
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }
    return reply(payload, fault)


def _chunks(o: rules.Outcome, cid: str, created: int, model: str, include_usage: bool):
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }

    def ev(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
        if include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    if o.tool_call:
        args = o.tool_call.arguments_json
        yield ev(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_" + uuid.uuid4().hex[:24],
                        "type": "function",
                        "function": {"name": o.tool_call.name, "arguments": ""},
                    }
                ],
                "refusal": None,
            }
        )
        for i in range(0, len(args), 8):
            yield ev({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 8]}}]})
    else:
        yield ev({"role": "assistant", "content": "", "refusal": None})
        for piece in o.chunks:
            yield ev({"content": piece})
    yield ev({}, _finish(o))
    if include_usage:
        yield b"data: " + orjson.dumps(dict(base, choices=[], usage=_usage(o))) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def embeddings(ctx: Ctx, request: Request) -> Response:
    body = await read_call(ctx, request, FAMILY, check_auth, error, "We could not parse the JSON body of your request.")
    if isinstance(body, Response):
        return body
    model = body.get("model")
    if not model:
        return error(400, "you must provide a model parameter")
    inp = body.get("input")
    if inp is None:
        return error(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    if isinstance(inp, str):
        texts = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
        texts = inp
    elif isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp):
        texts = [" ".join(str(x) for x in inp)]
    elif isinstance(inp, list) and inp and all(isinstance(x, list) for x in inp):
        texts = [" ".join(str(y) for y in x) for x in inp]
    else:
        return error(
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            param="input",
        )
    if any(t == "" for t in texts):
        return error(
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            param="input",
        )
    if model not in ctx.models[FAMILY]:
        return error(
            404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
        )
    if not model.startswith("text-embedding"):
        return error(400, f"The model `{model}` does not support embeddings.", param="model")
    fault = await apply_faults(ctx, FAMILY, model, _fault_error)
    if isinstance(fault, Response):
        return fault
    dims = body.get("dimensions")
    b64 = body.get("encoding_format") == "base64"
    data = []
    for i, t in enumerate(texts):
        vec = rules.embedding(t)
        if isinstance(dims, int) and 0 < dims < len(vec):
            vec = vec[:dims]
        data.append({"object": "embedding", "index": i, "embedding": rules.embedding_base64(vec) if b64 else vec})
    tokens = sum(rules.words(t) for t in texts)
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return reply(payload, fault)
