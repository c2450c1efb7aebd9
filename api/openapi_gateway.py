"""OpenAPI paths and schemas of the `/v1` gateway, which is a raw ASGI app outside FastAPI.

The paths come from the gateway's own route table (`producers.gateway.app.ROUTES`), so a
surface that is served is documented; the texts and schemas per surface are here. Request
schemas name the fields Tollgate reads and allow the rest (they are passed to the provider).
"""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"
_OPEN = {"type": "object", "additionalProperties": True}

_SCHEMAS: dict[str, Any] = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "AnthropicError": {
        "type": "object",
        "required": ["type", "error"],
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "ChatCompletionRequest": {
        **_OPEN,
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "description": "`provider/model`, `<config name>/model` or a bare model name"},
            "messages": {"type": "array", "items": _OPEN},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "tools": {"type": "array", "items": _OPEN},
            "response_format": _OPEN,
            "max_tokens": {"type": "integer"},
            "max_completion_tokens": {"type": "integer"},
            "metadata": {
                "type": "object",
                "properties": {"user_id": {"type": "string"}, "conversation_id": {"type": "string"}},
            },
        },
    },
    "Usage": {
        "type": "object",
        "properties": {
            "prompt_tokens": {"type": "integer"},
            "completion_tokens": {"type": "integer"},
            "total_tokens": {"type": "integer"},
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "message": _OPEN,
                        "finish_reason": {"type": ["string", "null"]},
                    },
                },
            },
            "usage": {"$ref": _REF + "Usage"},
        },
    },
    "EmbeddingsRequest": {
        **_OPEN,
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array"}]},
            "encoding_format": {"enum": ["float", "base64"]},
        },
    },
    "EmbeddingsResponse": {
        "type": "object",
        "required": ["object", "data", "model"],
        "properties": {
            "object": {"const": "list"},
            "model": {"type": "string"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "object": {"const": "embedding"},
                        "index": {"type": "integer"},
                        "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]},
                    },
                },
            },
            "usage": {"$ref": _REF + "Usage"},
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "object"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": _REF + "Model"}}},
    },
    "ResponsesRequest": {
        **_OPEN,
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array"}]},
            "stream": {"type": "boolean"},
            "instructions": {"type": "string"},
            "max_output_tokens": {"type": "integer"},
        },
    },
    "MessagesRequest": {
        **_OPEN,
        "required": ["model", "messages", "max_tokens"],
        "properties": {
            "model": {"type": "string"},
            "messages": {"type": "array", "items": _OPEN},
            "max_tokens": {"type": "integer"},
            "system": {"oneOf": [{"type": "string"}, {"type": "array"}]},
            "stream": {"type": "boolean"},
        },
    },
    "CountTokensRequest": {
        **_OPEN,
        "required": ["model", "messages"],
        "properties": {"model": {"type": "string"}, "messages": {"type": "array", "items": _OPEN}},
    },
    "CountTokensResponse": {
        "type": "object",
        "required": ["input_tokens"],
        "properties": {"input_tokens": {"type": "integer"}},
    },
}

_ERRORS_TEXT = {
    400: "Bad request",
    401: "Missing or invalid repository key",
    403: "Blocked by a policy (named in the message)",
    404: "Unknown model",
    413: "Request body too large",
    429: "Rate or budget limit (with Retry-After), or the provider's 429 after fallbacks",
    502: "Upstream failure after fallbacks",
    503: "Gateway starting, or no configuration available",
    504: "Upstream timeout after fallbacks",
}
_CALL_ERRORS = (400, 401, 403, 404, 413, 429, 502, 503, 504)

# endpoint name in ROUTES -> (summary, request schema, response schema, streams, error schema, errors)
_SURFACES: dict[str, tuple[str, str | None, str, bool, str, tuple[int, ...]]] = {
    "models": (
        "Models reachable through the repository's configurations",
        None,
        "ModelList",
        False,
        "OpenAIError",
        (401, 503),
    ),
    "models.get": ("One model, if the repository reaches it", None, "Model", False, "OpenAIError", (401, 404, 503)),
    "chat.completions": (
        "OpenAI Chat Completions, plain or streamed (SSE)",
        "ChatCompletionRequest",
        "ChatCompletion",
        True,
        "OpenAIError",
        _CALL_ERRORS,
    ),
    "embeddings": (
        "OpenAI Embeddings, where the provider offers them",
        "EmbeddingsRequest",
        "EmbeddingsResponse",
        False,
        "OpenAIError",
        _CALL_ERRORS,
    ),
    "responses": (
        "OpenAI Responses API, plain or streamed (typed SSE events)",
        "ResponsesRequest",
        "",
        True,
        "OpenAIError",
        _CALL_ERRORS,
    ),
    "messages": (
        "Anthropic Messages API, plain or streamed (Anthropic SSE events)",
        "MessagesRequest",
        "",
        True,
        "AnthropicError",
        _CALL_ERRORS,
    ),
    "messages.count_tokens": (
        "Anthropic token count",
        "CountTokensRequest",
        "CountTokensResponse",
        False,
        "AnthropicError",
        (400, 401, 404, 413),
    ),
}


def gateway_schemas() -> dict[str, Any]:
    return dict(_SCHEMAS)


def _operation(endpoint: str) -> dict[str, Any]:
    summary, req, resp, streams, err, errors = _SURFACES.get(
        endpoint, (f"Gateway endpoint `{endpoint}`", None, "", False, "OpenAIError", _CALL_ERRORS)
    )
    ok_content: dict[str, Any] = {"application/json": {"schema": {"$ref": _REF + resp} if resp else _OPEN}}
    if streams:
        ok_content["text/event-stream"] = {
            "schema": {"type": "string", "description": "when the request sets `stream: true`"}
        }
    security = [{"repoKey": []}] + ([{"anthropicKey": []}] if err == "AnthropicError" else [])
    op: dict[str, Any] = {
        "tags": ["gateway"],
        "summary": summary,
        "operationId": "gateway_" + endpoint.replace(".", "_"),
        "security": security,
        "responses": {"200": {"description": "Success; every answer carries `x-request-id`", "content": ok_content}},
    }
    for code in errors:
        op["responses"][str(code)] = {
            "description": _ERRORS_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": _REF + err}}},
        }
    if req:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": _REF + req}}}}
    return op


def gateway_paths() -> dict[str, Any]:
    """`/v1/...` path items for every (method, path) the gateway serves."""
    from producers.gateway.app import ROUTES

    paths: dict[str, Any] = {}
    for (method, sub), endpoint in sorted(ROUTES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        path = "/v1" + _template(sub)
        op = _operation(endpoint)
        if "{" in path:
            op["parameters"] = [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}]
        paths.setdefault(path, {})[method.lower()] = op
    return paths


def _template(sub: str) -> str:
    """The route table's path, with a `{model}` template where it matches a model id."""
    return sub.replace("<model>", "{model}").replace("{id}", "{model}")
