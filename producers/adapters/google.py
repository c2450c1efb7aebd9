"""GOOGLE: OpenAI chat <-> Gemini API `generateContent` / `streamGenerateContent?alt=sse` (pure).

Request mapping: system/developer -> `systemInstruction`; user -> role `user` (text, images as
`inlineData` for data URLs or `fileData` for URLs); assistant -> role `model` (text,
`functionCall` for tool_calls); tool -> role `user` with `functionResponse` {name (looked up
from the earlier tool call id), response: {"content": text}}; consecutive same-role turns are
merged. `tools` -> `functionDeclarations` (JSON-schema keys Gemini rejects are dropped);
`tool_choice` auto/required/none/named -> AUTO/ANY/NONE/ANY+allowedFunctionNames; sampling
params -> `generationConfig`; JSON `response_format` -> `responseMimeType: application/json`.
Response mapping: finishReason STOP -> stop (tool_calls when the answer holds function calls),
MAX_TOKENS -> length, safety-type reasons -> content_filter. Usage from `usageMetadata`
(thinking tokens count as output; cachedContentTokenCount as cached). Embeddings use
`batchEmbedContents`; Gemini reports no usage for them (Usage None -> gateway estimates).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from schemas.enums import AiType

from .base import (
    Adapter,
    ProviderConfig,
    StreamTranslator,
    TranslationError,
    UpstreamError,
    UpstreamRequest,
    Usage,
    bad_gateway,
    completion,
    dumps,
    is_retryable,
    join_url,
    loads_object,
    openai_error_type,
    parse_retry_after,
    require_messages,
)
from .common import (
    SSEStream,
    assistant_message,
    client_message,
    content_parts,
    embeddings_list,
    error_object,
    model_ids,
    split_data_url,
    text_of,
    tool_arguments,
    tool_call,
)
from .sse import Event

FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}
_DROP_SCHEMA_KEYS = {"additionalProperties", "$schema", "strict", "$id", "$defs", "definitions"}
_NAME_PREFIXES = ("gemini-", "gemma-", "learnlm-", "text-embedding-00", "embedding-", "gemini-embedding-")


def _clean_schema(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean_schema(v) for k, v in obj.items() if k not in _DROP_SCHEMA_KEYS}
    if isinstance(obj, list):
        return [_clean_schema(v) for v in obj]
    return obj


def _user_parts(content: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for p in content_parts(content, "Gemini"):
        if p["type"] == "text":
            parts.append({"text": p.get("text", "")})
            continue
        iu = p.get("image_url")
        url = iu.get("url") if isinstance(iu, dict) else iu
        if not isinstance(url, str):
            raise TranslationError("image_url.url must be a string")
        if url.startswith("data:"):
            media, data = split_data_url(url)
            parts.append({"inlineData": {"mimeType": media or "image/png", "data": data}})
        else:
            ext = url.rsplit(".", 1)[-1].lower()
            mime = {"png": "image/png", "webp": "image/webp", "gif": "image/gif"}.get(ext, "image/jpeg")
            parts.append({"fileData": {"mimeType": mime, "fileUri": url}})
    return parts


def translate_messages(messages: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": list(parts)})

    for m in messages:
        role, content = m["role"], m.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "user":
            add("user", _user_parts(content))
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            text = text_of(content)
            if text:
                parts.append({"text": text})
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function") or {}
                if not fn.get("name"):
                    raise TranslationError("assistant tool_calls need a function name")
                if tc.get("id"):
                    names[tc["id"]] = fn["name"]
                parts.append({"functionCall": {"name": fn["name"], "args": tool_arguments(fn.get("arguments"))}})
            if parts:
                add("model", parts)
        elif role == "tool":
            name = names.get(m.get("tool_call_id") or "") or m.get("name")
            if not name:
                raise TranslationError("tool message does not answer a known tool call (tool_call_id)")
            add("user", [{"functionResponse": {"name": name, "response": {"content": text_of(content)}}}])
        else:
            raise TranslationError(f"message role {role!r} is not supported")
    si = {"parts": [{"text": "\n\n".join(s for s in system if s)}]} if any(system) else None
    return si, contents


def build_body(ob: dict[str, Any]) -> dict[str, Any]:
    """The Gemini generateContent body for an OpenAI chat body (pure)."""
    si, contents = translate_messages(require_messages(ob))
    if not contents:
        raise TranslationError("at least one user or assistant message is required")
    body: dict[str, Any] = {"contents": contents}
    if si:
        body["systemInstruction"] = si
    gc: dict[str, Any] = {}
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if ob.get(src) is not None:
            gc[dst] = ob[src]
    mt = ob.get("max_completion_tokens") or ob.get("max_tokens")
    if mt:
        gc["maxOutputTokens"] = mt
    if ob.get("n") and ob["n"] != 1:
        gc["candidateCount"] = ob["n"]
    stop = ob.get("stop")
    if stop:
        gc["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    raw_fmt = ob.get("response_format")
    fmt: dict[str, Any] = raw_fmt if isinstance(raw_fmt, dict) else {}
    if fmt.get("type") in ("json_object", "json_schema"):
        gc["responseMimeType"] = "application/json"
    if gc:
        body["generationConfig"] = gc
    if ob.get("tools"):
        decls = []
        for t in ob["tools"]:
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(fn, dict) or not fn.get("name"):
                raise TranslationError("only function tools with a name are supported")
            d: dict[str, Any] = {"name": fn["name"]}
            if fn.get("description"):
                d["description"] = fn["description"]
            if fn.get("parameters"):
                d["parameters"] = _clean_schema(fn["parameters"])
            decls.append(d)
        body["tools"] = [{"functionDeclarations": decls}]
        choice = ob.get("tool_choice")
        fcc: dict[str, Any] | None = None
        if choice == "auto":
            fcc = {"mode": "AUTO"}
        elif choice == "required":
            fcc = {"mode": "ANY"}
        elif choice == "none":
            fcc = {"mode": "NONE"}
        elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
            fcc = {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
        elif choice is not None:
            raise TranslationError("tool_choice must be 'auto', 'required', 'none' or a named function")
        if fcc:
            body["toolConfig"] = {"functionCallingConfig": fcc}
    return body


def usage_of(um: Mapping[str, Any] | None) -> Usage | None:
    if not isinstance(um, Mapping):
        return None
    thoughts = int(um.get("thoughtsTokenCount") or 0)
    out = int(um.get("candidatesTokenCount") or 0) + thoughts
    return Usage(
        int(um.get("promptTokenCount") or 0), out, int(um.get("cachedContentTokenCount") or 0), reasoning=thoughts
    )


def _call(fc: Mapping[str, Any], index: int) -> dict[str, Any]:
    call_id = fc.get("id") or "call_" + uuid.uuid4().hex[:24]
    return {"index": index, **tool_call(call_id, fc.get("name"), fc.get("args"))}


class GoogleAdapter(Adapter):
    ai_types = (AiType.GOOGLE,)
    supports_embeddings = True

    def serves(self, model_name: str) -> bool:
        return model_name.startswith(_NAME_PREFIXES)

    def _headers(self, cfg: ProviderConfig) -> dict[str, str]:
        return {"x-goog-api-key": cfg.secret, "content-type": "application/json", "accept": "application/json"}

    def _model_url(self, cfg: ProviderConfig, model: str, method: str) -> str:
        model = model.removeprefix("models/")
        return join_url(cfg.endpoint, f"/v1beta/models/{quote(model, safe='-._')}:{method}")

    def models_request(self, cfg: ProviderConfig, *, now: datetime | None = None) -> UpstreamRequest:
        h = self._headers(cfg)
        del h["content-type"]
        return UpstreamRequest("GET", join_url(cfg.endpoint, "/v1beta/models?pageSize=1000"), h)

    def models_response(self, body: bytes) -> list[str]:
        return [name.removeprefix("models/") for name in model_ids(body, "models", "name")]

    def chat_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        body = build_body(openai_body)
        h = self._headers(cfg)
        if openai_body.get("stream"):
            url = self._model_url(cfg, provider_model, "streamGenerateContent") + "?alt=sse"
            h["accept"] = "text/event-stream"
        else:
            url = self._model_url(cfg, provider_model, "generateContent")
        return UpstreamRequest("POST", url, h, dumps(body))

    def chat_response(
        self, status: int, body: bytes, model: str, *, request_id: str = ""
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        if obj is None or ("candidates" not in obj and "promptFeedback" not in obj):
            raise bad_gateway("the provider's answer is not a Gemini response")
        cands = obj.get("candidates") or []
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        finish = "content_filter" if not cands else "stop"
        if cands:
            c = cands[0]
            for p in (c.get("content") or {}).get("parts") or []:
                if "text" in p and not p.get("thought"):
                    texts.append(p["text"])
                elif "functionCall" in p:
                    calls.append(_call(p["functionCall"], len(calls)))
            finish = FINISH.get(c.get("finishReason") or "STOP", "stop")
            if calls and finish == "stop":
                finish = "tool_calls"
        message = assistant_message(texts, [{k: v for k, v in tc.items() if k != "index"} for tc in calls])
        usage = usage_of(obj.get("usageMetadata")) or Usage(0, 0)
        return completion(request_id or str(obj.get("responseId", "")), model, message, finish, usage), usage

    def stream_translator(self, model: str, request_id: str, include_usage: bool = True) -> StreamTranslator:
        return GoogleStream(model, request_id, include_usage)

    def embeddings_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        texts = _embedding_inputs(openai_body.get("input"))
        m = provider_model.removeprefix("models/")
        reqs = []
        for t in texts:
            r: dict[str, Any] = {"model": f"models/{m}", "content": {"parts": [{"text": t}]}}
            if isinstance(openai_body.get("dimensions"), int):
                r["outputDimensionality"] = openai_body["dimensions"]
            reqs.append(r)
        return UpstreamRequest(
            "POST", self._model_url(cfg, m, "batchEmbedContents"), self._headers(cfg), dumps({"requests": reqs})
        )

    def embeddings_response(
        self, status: int, body: bytes, model: str, openai_body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        embs = obj.get("embeddings") if obj else None
        if embs is None and obj and isinstance(obj.get("embedding"), dict):
            embs = [obj["embedding"]]
        if not isinstance(embs, list):
            raise bad_gateway("the provider's answer is not an embeddings list")
        vectors = [(e or {}).get("values") or [] for e in embs]
        return embeddings_list(vectors, model, openai_body, 0), None

    def error(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return _error(status, error_object(body), headers)


def _embedding_inputs(inp: Any) -> list[str]:
    if isinstance(inp, str) and inp:
        return [inp]
    if isinstance(inp, list) and inp and all(isinstance(x, str) and x for x in inp):
        return list(inp)
    raise TranslationError("'input' must be a non-empty string or array of strings for Gemini embeddings")


def _error(status: int, err: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> UpstreamError:
    reasons = {d.get("reason") for d in err.get("details") or [] if isinstance(d, dict)}
    cred = status in (401, 403) or "API_KEY_INVALID" in reasons
    message = client_message(status, err.get("message"), credentials=cred)
    code = err.get("status") if isinstance(err.get("status"), str) else None
    return UpstreamError(
        status,
        is_retryable(status),
        message,
        "authentication_error" if cred else openai_error_type(status),
        parse_retry_after(headers),
        code,
    )


class GoogleStream(SSEStream):
    """Gemini SSE (`alt=sse`) GenerateContentResponse events -> OpenAI chunks."""

    def __init__(self, model: str, request_id: str, include_usage: bool = True) -> None:
        super().__init__(model, request_id, include_usage)
        self._started = False
        self._calls = 0
        self._sent_finish = False

    def _tail(self) -> list[bytes]:
        out = self._handle(self._sse.flush())
        if self.error is None and not self._sent_finish and self._started:
            out.append(self._chunk({}, self.finish_reason or "stop"))
            self._sent_finish = True
        return out

    def _handle(self, events: list[Event]) -> list[bytes]:
        out: list[bytes] = []
        for _, d in self._json_events(events):
            if isinstance(d.get("error"), dict):
                e = d["error"]
                self.error = _error(int(e.get("code") or 500), e)
                break
            if not self._started:
                self._started = True
                out.append(self._chunk({"role": "assistant", "content": ""}))
            u = usage_of(d.get("usageMetadata"))
            if u is not None:
                self.usage = u
            for c in (d.get("candidates") or [])[:1]:
                for p in (c.get("content") or {}).get("parts") or []:
                    if "text" in p and not p.get("thought") and p["text"]:
                        out.append(self._chunk({"content": p["text"]}))
                    elif "functionCall" in p:
                        out.append(self._chunk({"tool_calls": [_call(p["functionCall"], self._calls)]}))
                        self._calls += 1
                if c.get("finishReason"):
                    reason = FINISH.get(c["finishReason"], "stop")
                    self.finish_reason = "tool_calls" if self._calls and reason == "stop" else reason
            if not d.get("candidates") and (d.get("promptFeedback") or {}).get("blockReason"):
                self.finish_reason = "content_filter"
            if self.finish_reason and not self._sent_finish:
                out.append(self._chunk({}, self.finish_reason))
                self._sent_finish = True
        return out


GOOGLE = GoogleAdapter()
