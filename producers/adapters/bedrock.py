"""AWS: OpenAI chat <-> Bedrock Converse / ConverseStream (pure; SigV4 via `sigv4.sign`).

Request mapping: system/developer -> `system` [{text}]; user text/images (data URLs only) and
assistant text/`toolUse` -> content blocks; tool messages -> `toolResult` blocks in a user turn
(same-role turns merged); `tools` -> `toolConfig.tools[].toolSpec` (`inputSchema.json`);
`tool_choice` auto/required/named -> auto/any/tool ("none" cannot be expressed: the tools stay,
no choice is sent); max_tokens/temperature/top_p/stop -> `inferenceConfig`; JSON
`response_format` -> an instruction appended to `system`.
Response mapping: stopReason end_turn/stop_sequence -> stop, max_tokens -> length, tool_use ->
tool_calls, guardrail_intervened/content_filtered -> content_filter. Usage: prompt = input +
cache read + cache write tokens; cached = cache read. ConverseStream frames are decoded with
botocore's EventStreamBuffer. Embeddings: InvokeModel for Titan (one input per call) and Cohere.
Endpoints: `cfg.endpoint` if set, else bedrock-runtime / bedrock `.{region}.amazonaws.com`.
"""

from __future__ import annotations

import re
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
    loads,
    loads_object,
    openai_error_type,
    parse_retry_after,
    require_messages,
)
from .common import (
    assistant_message,
    client_message,
    content_parts,
    embeddings_list,
    json_instruction,
    model_ids,
    split_data_url,
    text_of,
    tool_arguments,
    tool_call,
)
from .sigv4 import sign

STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
EXCEPTION_STATUS = {
    "validationException": 400,
    "accessDeniedException": 403,
    "resourceNotFoundException": 404,
    "modelTimeoutException": 408,
    "modelStreamErrorException": 424,
    "modelErrorException": 424,
    "throttlingException": 429,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
    "modelNotReadyException": 429,
}
_NAME = re.compile(r"^(arn:aws[a-z-]*:bedrock:|((us|eu|apac|global|us-gov|jp|au)\.)?[a-z][a-z0-9]*\.[a-z0-9])")
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def _region(cfg: ProviderConfig) -> str:
    if not cfg.region:
        raise TranslationError("the AWS configuration has no region")
    return cfg.region


def runtime_base(cfg: ProviderConfig) -> str:
    return cfg.endpoint.rstrip("/") if cfg.endpoint else f"https://bedrock-runtime.{_region(cfg)}.amazonaws.com"


def control_base(cfg: ProviderConfig) -> str:
    return cfg.endpoint.rstrip("/") if cfg.endpoint else f"https://bedrock.{_region(cfg)}.amazonaws.com"


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for p in content_parts(content, "Bedrock"):
        if p["type"] == "text":
            if p.get("text"):
                blocks.append({"text": p["text"]})
            continue
        iu = p.get("image_url")
        url = iu.get("url") if isinstance(iu, dict) else iu
        if not isinstance(url, str) or not url.startswith("data:"):
            raise TranslationError("Bedrock accepts images only as data URLs (base64)")
        media, data = split_data_url(url)
        fmt = _IMAGE_FORMATS.get(media)
        if fmt is None:
            raise TranslationError("image format must be png, jpeg, gif or webp")
        blocks.append({"image": {"format": fmt, "source": {"bytes": data}}})
    return blocks


def translate_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for m in messages:
        role, content = m["role"], m.get("content")
        if role in ("system", "developer"):
            text = text_of(content)
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _user_blocks(content))
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = text_of(content)
            if text:
                blocks.append({"text": text})
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function") or {}
                if not fn.get("name") or not tc.get("id"):
                    raise TranslationError("assistant tool_calls need an id and a function name")
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": tc["id"],
                            "name": fn["name"],
                            "input": tool_arguments(fn.get("arguments")),
                        }
                    }
                )
            add("assistant", blocks)
        elif role == "tool":
            if not m.get("tool_call_id"):
                raise TranslationError("tool messages need a tool_call_id")
            add(
                "user",
                [{"toolResult": {"toolUseId": m["tool_call_id"], "content": [{"text": text_of(content) or " "}]}}],
            )
        else:
            raise TranslationError(f"message role {role!r} is not supported")
    for t in turns:
        if t["role"] == "user":
            t["content"].sort(key=lambda b: 0 if "toolResult" in b else 1)
    return system, turns


def build_body(ob: dict[str, Any]) -> dict[str, Any]:
    """The Converse request body for an OpenAI chat body (pure)."""
    system, turns = translate_messages(require_messages(ob))
    if (ob.get("n") or 1) != 1:
        raise TranslationError("n > 1 is not supported by Bedrock Converse")
    hint = json_instruction(ob)
    if hint:
        system.append({"text": hint})
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    ic: dict[str, Any] = {}
    mt = ob.get("max_completion_tokens") or ob.get("max_tokens")
    if mt:
        ic["maxTokens"] = mt
    if ob.get("temperature") is not None:
        ic["temperature"] = min(max(float(ob["temperature"]), 0.0), 1.0)
    if ob.get("top_p") is not None:
        ic["topP"] = ob["top_p"]
    stop = ob.get("stop")
    if stop:
        ic["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if ic:
        body["inferenceConfig"] = ic
    if ob.get("tools"):
        specs = []
        for t in ob["tools"]:
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(fn, dict) or not fn.get("name"):
                raise TranslationError("only function tools with a name are supported")
            spec: dict[str, Any] = {
                "name": fn["name"],
                "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}},
            }
            if fn.get("description"):
                spec["description"] = fn["description"]
            specs.append({"toolSpec": spec})
        tc: dict[str, Any] = {"tools": specs}
        choice = ob.get("tool_choice")
        if choice == "auto":
            tc["toolChoice"] = {"auto": {}}
        elif choice == "required":
            tc["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
            tc["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        elif choice not in (None, "none"):
            raise TranslationError("tool_choice must be 'auto', 'required', 'none' or a named function")
        body["toolConfig"] = tc
    return body


def usage_of(u: Mapping[str, Any] | None) -> Usage | None:
    if not isinstance(u, Mapping):
        return None
    read = int(u.get("cacheReadInputTokens") or 0)
    write = int(u.get("cacheWriteInputTokens") or 0)
    return Usage(
        int(u.get("inputTokens") or 0) + read + write, int(u.get("outputTokens") or 0), read, cache_write=write
    )


def _model_path(model: str, action: str) -> str:
    return f"/model/{quote(model, safe='')}/{action}"


class BedrockAdapter(Adapter):
    ai_types = (AiType.AWS,)
    supports_embeddings = True

    def serves(self, model_name: str) -> bool:
        return bool(_NAME.match(model_name))

    def _signed(self, cfg: ProviderConfig, req: UpstreamRequest, now: datetime | None) -> UpstreamRequest:
        if not cfg.key:
            raise TranslationError("the AWS configuration has no access key id")
        return sign(req, cfg.key, cfg.secret, _region(cfg), now=now)

    def models_request(self, cfg: ProviderConfig, *, now: datetime | None = None) -> UpstreamRequest:
        req = UpstreamRequest("GET", join_url(control_base(cfg), "/foundation-models"), {"accept": "application/json"})
        return self._signed(cfg, req, now)

    def models_response(self, body: bytes) -> list[str]:
        return model_ids(body, "modelSummaries", "modelId")

    def chat_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        body = build_body(openai_body)
        if isinstance(openai_body.get("thinking"), dict) and "anthropic." in provider_model:
            # Anthropic's `thinking` (from the Messages surface) reaches Claude on Bedrock
            body["additionalModelRequestFields"] = {"thinking": openai_body["thinking"]}
        stream = bool(openai_body.get("stream"))
        url = join_url(runtime_base(cfg), _model_path(provider_model, "converse-stream" if stream else "converse"))
        headers = {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        req = UpstreamRequest("POST", url, headers, dumps(body))
        return self._signed(cfg, req, now)

    def chat_response(
        self, status: int, body: bytes, model: str, *, request_id: str = ""
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body) or {}
        msg = (obj.get("output") or {}).get("message")
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            raise bad_gateway("the provider's answer is not a Converse response")
        texts, calls = [], []
        for b in msg["content"]:
            if not isinstance(b, dict):
                continue
            if "text" in b:
                texts.append(b["text"])
            elif "toolUse" in b:
                tu = b["toolUse"] or {}
                calls.append(tool_call(tu.get("toolUseId"), tu.get("name"), tu.get("input")))
        message = assistant_message(texts, calls)
        usage = usage_of(obj.get("usage")) or Usage(0, 0)
        finish = STOP.get(obj.get("stopReason") or "", "stop")
        return completion(request_id or uuid.uuid4().hex, model, message, finish, usage), usage

    def stream_translator(self, model: str, request_id: str, include_usage: bool = True) -> StreamTranslator:
        return BedrockStream(model, request_id, include_usage)

    def embeddings_request(
        self, cfg: ProviderConfig, provider_model: str, openai_body: dict[str, Any], *, now: datetime | None = None
    ) -> UpstreamRequest:
        inp = openai_body.get("input")
        texts = [inp] if isinstance(inp, str) else inp
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise TranslationError("'input' must be a non-empty string or array of strings")
        if provider_model.startswith(("cohere.embed", "us.cohere.embed", "eu.cohere.embed")):
            body: dict[str, Any] = {"texts": texts, "input_type": "search_document"}
        elif "titan-embed" in provider_model:
            if len(texts) != 1:
                raise TranslationError("Titan embedding models take one input per request")
            body = {"inputText": texts[0]}
            if isinstance(openai_body.get("dimensions"), int):
                body["dimensions"] = openai_body["dimensions"]
        else:
            raise TranslationError(f"embeddings are not supported for Bedrock model {provider_model!r}")
        url = join_url(runtime_base(cfg), _model_path(provider_model, "invoke"))
        req = UpstreamRequest(
            "POST", url, {"content-type": "application/json", "accept": "application/json"}, dumps(body)
        )
        return self._signed(cfg, req, now)

    def embeddings_response(
        self, status: int, body: bytes, model: str, openai_body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Usage | None]:
        obj = loads_object(body)
        if obj is None:
            raise bad_gateway("the provider's embeddings answer is not readable")
        usage: Usage | None = None
        if isinstance(obj.get("embedding"), list):
            vecs = [obj["embedding"]]
            if isinstance(obj.get("inputTextTokenCount"), int):
                usage = Usage(obj["inputTextTokenCount"], 0)
        elif isinstance(obj.get("embeddings"), list):
            vecs = obj["embeddings"]
        else:
            raise bad_gateway("the provider's embeddings answer is not readable")
        return embeddings_list(vecs, model, openai_body, usage.tokens_in if usage else 0), usage

    def error(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        obj = loads_object(body) or {}
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        etype = (lower.get("x-amzn-errortype") or str(obj.get("__type") or "")).split(":")[0].split("#")[-1]
        return _error(status, etype, obj.get("message") or obj.get("Message"), headers)


def _error(status: int, etype: str, message: Any, headers: Mapping[str, str] | None = None) -> UpstreamError:
    cred = status in (401, 403) or etype in (
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
    )
    text = client_message(status, message or None, credentials=cred)  # an empty message counts as none
    return UpstreamError(
        status,
        is_retryable(status),
        text,
        "authentication_error" if cred else openai_error_type(status),
        parse_retry_after(headers),
        etype or None,
    )


class BedrockStream(StreamTranslator):
    """ConverseStream event-stream frames -> OpenAI chunks."""

    def __init__(self, model: str, request_id: str, include_usage: bool = True) -> None:
        super().__init__(model, request_id, include_usage)
        # botocore (~8 MB of modules) is imported when an AWS stream is first read, not at start.
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._parser_error = ParserError
        self._buf = EventStreamBuffer()
        self._tool_index: dict[int, int] = {}
        self._sent_finish = False

    def feed(self, raw: bytes) -> list[bytes]:
        if self.error is not None:
            return []
        out: list[bytes] = []
        self._buf.add_data(raw)
        try:
            for msg in self._buf:
                out.extend(self._message(msg.headers, msg.payload))
                if self.error is not None:
                    break
        except self._parser_error:
            self.error = bad_gateway("the provider sent a corrupt event-stream frame")
        return out

    def _tail(self) -> list[bytes]:
        if self.error is None and not self._sent_finish and self.finish_reason:
            self._sent_finish = True
            return [self._chunk({}, self.finish_reason)]
        return []

    def _message(self, headers: Mapping[str, Any], payload: bytes) -> list[bytes]:
        mtype = headers.get(":message-type")
        try:
            d = loads(payload) if payload else {}
        except ValueError:
            self.error = bad_gateway("the provider sent an unreadable stream event")
            return []
        if mtype == "exception":
            etype = str(headers.get(":exception-type") or "")
            self.error = _error(EXCEPTION_STATUS.get(etype, 500), etype[:1].upper() + etype[1:], d.get("message"))
            return []
        if mtype == "error":
            self.error = _error(
                500, str(headers.get(":error-code") or "InternalServerException"), headers.get(":error-message")
            )
            return []
        kind = headers.get(":event-type")
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            tu = (d.get("start") or {}).get("toolUse")
            if tu:
                k = len(self._tool_index)
                self._tool_index[int(d.get("contentBlockIndex", 0))] = k
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": k,
                                    "id": tu.get("toolUseId"),
                                    "type": "function",
                                    "function": {"name": tu.get("name"), "arguments": ""},
                                }
                            ]
                        }
                    )
                ]
            return []
        if kind == "contentBlockDelta":
            delta = d.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": delta["text"]})]
            if "toolUse" in delta:
                k = self._tool_index.get(int(d.get("contentBlockIndex", 0)), 0)
                piece = (delta["toolUse"] or {}).get("input") or ""
                return [self._chunk({"tool_calls": [{"index": k, "function": {"arguments": piece}}]})] if piece else []
            return []
        if kind == "messageStop":
            self.finish_reason = STOP.get(d.get("stopReason") or "", "stop")
            self._sent_finish = True
            return [self._chunk({}, self.finish_reason)]
        if kind == "metadata":
            u = usage_of(d.get("usage"))
            if u is not None:
                self.usage = u
        return []


AWS = BedrockAdapter()
