"""Gemini API wire format (`/v1beta/models...`): list, generateContent, streamGenerateContent
(`alt=sse` or JSON array), embedContent, batchEmbedContents. Key via `x-goog-api-key` or `?key=`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import rules
from .common import Ctx, apply_faults, json_response, listing_refusal, read_call, reply, reworded, stream

FAMILY = "google"
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FAULT_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}


def error(
    status: int, message: str, headers: dict[str, str] | None = None, details: list[dict[str, Any]] | None = None
) -> Response:
    err: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"),
    }
    if details:
        err["details"] = details
    return json_response({"error": err}, status, headers)


_fault_error = reworded(error, FAULT_MESSAGES)


def check_auth(ctx: Ctx, request: Request) -> Response | None:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        return error(
            403,
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )
    if key != ctx.creds.google_key:
        return error(
            400,
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                },
            ],
        )
    return None


def _model_info(m: str) -> dict[str, Any]:
    embed = "embedding" in m
    return {
        "name": f"models/{m}",
        "version": "001" if embed else "2.0",
        "displayName": m.replace("-", " ").title(),
        "description": f"Fake {m}",
        "inputTokenLimit": 2048 if embed else 1048576,
        "outputTokenLimit": 1 if embed else 8192,
        "supportedGenerationMethods": ["embedContent"]
        if embed
        else ["generateContent", "countTokens", "createCachedContent"],
    }


async def list_models(ctx: Ctx, request: Request) -> Response:
    if (refused := await listing_refusal(ctx, request, FAMILY, check_auth(ctx, request), _fault_error)) is not None:
        return refused
    return json_response({"models": [_model_info(m) for m in ctx.models[FAMILY]]})


async def model_call(ctx: Ctx, request: Request) -> Response:
    """POST /v1beta/models/{model}:{method}."""
    model, _, method = request.path_params["rest"].partition(":")
    body = await read_call(ctx, request, FAMILY, check_auth, error, "Invalid JSON payload received. Unexpected token.")
    if isinstance(body, Response):
        return body
    if method not in ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents"):
        return error(404, f"Method not found: {method}")
    embed = method in ("embedContent", "batchEmbedContents")
    if model not in ctx.models[FAMILY] or (("embedding" in model) != embed):
        return error(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their "
            "supported methods.",
        )
    if embed:
        return await _embed(ctx, model, method, body)
    if (bad := _validate(body)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, model, _fault_error)
    if isinstance(fault, Response):
        return fault
    o = _decide(body)
    rid = uuid.uuid4().hex[:22]
    if method == "streamGenerateContent":
        sse = request.query_params.get("alt") == "sse"
        return stream(_stream_chunks(o, model, rid, sse), "text/event-stream" if sse else "application/json", fault)
    payload = _response(o, model, rid, parts=_parts(o), finish=_finish(o), out=o.tokens_out)
    return reply(payload, fault)


def _validate(body: dict[str, Any]) -> Response | None:
    contents = body.get("contents")
    if not contents:
        return error(400, "* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        return error(
            400,
            'Invalid JSON payload received. Unknown name "contents": Proto field is not repeating, cannot start list.',
        )
    for i, c in enumerate(contents):
        if not isinstance(c, dict):
            return error(400, f"Invalid value at 'contents[{i}]'.")
        role = c.get("role")
        if role is not None and role not in ("user", "model", "function"):
            return error(400, "Please use a valid role: user, model.")
        parts = c.get("parts")
        if not parts or not isinstance(parts, list):
            return error(400, f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
    return None


def _parts_text(parts: list[Any]) -> tuple[int, str]:
    n, texts = 0, []
    for p in parts:
        if not isinstance(p, dict):
            continue
        if "text" in p:
            n += rules.words(p["text"])
            texts.append(p["text"])
        elif "functionResponse" in p:
            resp = (p["functionResponse"] or {}).get("response")
            n += rules.words_in(resp)
            texts.append(" ".join(_strings(resp)))
    return n, " ".join(texts)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _decide(body: dict[str, Any]) -> rules.Outcome:
    prompt = 0
    si = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(si, dict):
        prompt += _parts_text(si.get("parts") or [])[0]
    last = ""
    for c in body["contents"]:
        n, last = _parts_text(c.get("parts") or [])
        prompt += n
    tools = [
        f.get("name")
        for t in body.get("tools") or []
        if isinstance(t, dict)
        for f in t.get("functionDeclarations") or t.get("function_declarations") or []
        if f.get("name")
    ]
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = fcc.get("mode")
    allowed = fcc.get("allowedFunctionNames") or []
    choice = None
    if mode == "NONE":
        choice = "none"
    elif mode == "ANY":
        choice = allowed[0] if len(allowed) == 1 else "required"
    gc = body.get("generationConfig") or {}
    return rules.decide(
        prompt_tokens=prompt,
        last_text=last,
        tool_names=tools,
        tool_choice=choice,
        max_tokens=gc.get("maxOutputTokens"),
        json_mode=gc.get("responseMimeType") == "application/json",
    )


def _parts(o: rules.Outcome) -> list[dict[str, Any]]:
    if o.tool_call:
        return [{"functionCall": {"name": o.tool_call.name, "args": o.tool_call.arguments}}]
    return [{"text": o.text}]


def _finish(o: rules.Outcome) -> str:
    return "MAX_TOKENS" if o.truncated else "STOP"


def _response(
    o: rules.Outcome, model: str, rid: str, *, parts: list[dict[str, Any]], finish: str | None, out: int
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    usage: dict[str, Any] = {
        "promptTokenCount": o.tokens_in,
        "totalTokenCount": o.tokens_in + out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": o.tokens_in}],
    }
    if o.cache_read:
        usage["cachedContentTokenCount"] = o.cache_read
    if o.reasoning and out == o.tokens_out:  # thoughts are reported apart from the candidates
        usage["thoughtsTokenCount"] = o.reasoning
        out -= o.reasoning
    if out:
        usage["candidatesTokenCount"] = out
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": rid}


def _stream_chunks(o: rules.Outcome, model: str, rid: str, sse: bool):
    objs: list[dict[str, Any]] = []
    if o.tool_call:
        objs.append(_response(o, model, rid, parts=_parts(o), finish="STOP", out=o.tokens_out))
    else:
        pieces = o.chunks or [""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            objs.append(
                _response(
                    o,
                    model,
                    rid,
                    parts=[{"text": piece}],
                    finish=_finish(o) if last else None,
                    out=o.tokens_out if last else i + 1,
                )
            )
    if sse:
        for obj in objs:
            yield b"data: " + orjson.dumps(obj) + b"\r\n\r\n"
    else:
        for i, obj in enumerate(objs):
            yield (b"[" if i == 0 else b",\r\n") + orjson.dumps(obj)
        yield b"]"


async def _embed(ctx: Ctx, model: str, method: str, body: dict[str, Any]) -> Response:
    if method == "embedContent":
        reqs = [body]
    else:
        reqs = body.get("requests")
        if not isinstance(reqs, list) or not reqs:
            return error(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
    texts = []
    for i, r in enumerate(reqs):
        parts = ((r or {}).get("content") or {}).get("parts") if isinstance(r, dict) else None
        if not parts:
            where = "EmbedContentRequest" if method == "embedContent" else f"BatchEmbedContentsRequest.requests[{i}]"
            return error(400, f"* {where}.content: content is not specified\n")
        if method == "batchEmbedContents" and r.get("model") not in (f"models/{model}", None):
            return error(400, f"Model names should match: models/{model} != {r.get('model')}.")
        texts.append(" ".join(p.get("text", "") for p in parts if isinstance(p, dict)))
    fault = await apply_faults(ctx, FAMILY, model, _fault_error)
    if isinstance(fault, Response):
        return fault
    vecs = [{"values": rules.embedding(t)} for t in texts]
    payload = {"embedding": vecs[0]} if method == "embedContent" else {"embeddings": vecs}
    return reply(payload, fault)
