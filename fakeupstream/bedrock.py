"""AWS Bedrock wire format: ListFoundationModels (`GET /foundation-models`), Converse,
ConverseStream (event-stream frames), InvokeModel[WithResponseStream] for Claude's Messages body
(`bedrock_claude`) and InvokeModel for Titan embeddings.

Every request must carry a valid SigV4 signature: the fake recomputes it with botocore over
the received request (raw path, query, signed headers, body) using the known secret.
"""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials
from starlette.requests import Request
from starlette.responses import Response

from . import bedrock_claude, rules
from .common import Ctx, apply_faults, json_response, listing_refusal, reply, reworded, stream
from .eventstream import event_frame

FAMILY = "bedrock"
ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
FAULT_MESSAGES = {
    429: "Too many requests, please wait before trying again.",
    500: "The system encountered an unexpected error during processing. Try your request again.",
    503: "Bedrock is unable to process your request.",
}
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$"
)
MAX_SKEW_S = 15 * 60


def error(status: int, message: str, headers: dict[str, str] | None = None, type_: str | None = None) -> Response:
    type_ = type_ or ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    h = {
        "x-amzn-ErrorType": f"{type_}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    h.update(headers or {})
    return json_response({"message": message}, status, h)


_fault_error = reworded(error, FAULT_MESSAGES)


def verify_sigv4(ctx: Ctx, request: Request, body: bytes, now: datetime | None = None) -> Response | None:
    """None when the SigV4 signature is valid for the known credentials, else the AWS error."""
    auth = request.headers.get("authorization")
    if not auth:
        return error(403, "Missing Authentication Token", type_="MissingAuthenticationTokenException")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        return error(
            403,
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
            type_="IncompleteSignatureException",
        )
    akid, date, region, service, signed, signature = m.groups()
    if akid != ctx.creds.aws_access_key_id:
        return error(403, "The security token included in the request is invalid.", type_="UnrecognizedClientException")
    amz_date = request.headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return error(
            403,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            type_="IncompleteSignatureException",
        )
    now = now or datetime.now(UTC)
    if abs((now - when).total_seconds()) > MAX_SKEW_S or amz_date[:8] != date:
        return error(
            403,
            f"Signature expired: {amz_date} is now earlier than "
            f"{now.strftime('%Y%m%dT%H%M%SZ')} (15 min skew allowed).",
            type_="InvalidSignatureException",
        )
    names = signed.split(";")
    headers = {}
    for name in names:
        if name not in request.headers:
            return error(403, _MISMATCH, type_="InvalidSignatureException")
        headers[name] = request.headers[name]
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    url = f"http://{request.headers.get('host', 'localhost')}{raw_path.decode('latin-1')}"
    if query:
        url += "?" + query.decode("latin-1")
    aws_req = AWSRequest(method=request.method, url=url, headers=headers, data=body)
    aws_req.context["timestamp"] = amz_date
    signer = SigV4Auth(AwsCredentials(akid, ctx.creds.aws_secret_key), service, region)
    canonical = signer.canonical_request(aws_req)
    expected = signer.signature(signer.string_to_sign(aws_req, canonical), aws_req)
    if not hmac.compare_digest(expected, signature):
        return error(403, _MISMATCH, type_="InvalidSignatureException")
    return None


_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


async def list_models(ctx: Ctx, request: Request) -> Response:
    denied = verify_sigv4(ctx, request, await request.body())
    if (refused := await listing_refusal(ctx, request, FAMILY, denied, _fault_error)) is not None:
        return refused
    summaries = []
    for mid in ctx.models[FAMILY]:
        embed = "embed" in mid
        summaries.append(
            {
                "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{mid}",
                "modelId": mid,
                "modelName": mid.split(".", 1)[-1],
                "providerName": mid.split(".", 1)[0].title(),
                "inputModalities": ["TEXT"],
                "outputModalities": ["EMBEDDING" if embed else "TEXT"],
                "responseStreamingSupported": not embed,
                "customizationsSupported": [],
                "inferenceTypesSupported": ["ON_DEMAND"],
                "modelLifecycle": {"status": "ACTIVE"},
            }
        )
    return json_response({"modelSummaries": summaries})


async def _prologue(ctx: Ctx, request: Request) -> tuple[str, dict[str, Any] | None, Response | None]:
    path = request.url.path
    model = request.path_params["model_id"]
    raw = await request.body()
    if (denied := verify_sigv4(ctx, request, raw)) is not None:
        ctx.control.record(path, FAMILY)
        return model, None, denied
    try:
        body = orjson.loads(raw)
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        ctx.control.record(path, FAMILY)
        return model, None, error(400, "Malformed input request, please reformat your input and try again.")
    ctx.control.record(path, FAMILY, body)
    if model not in ctx.models[FAMILY]:
        return model, body, error(400, "The provided model identifier is invalid.")
    return model, body, None


def _block_text(b: dict[str, Any]) -> tuple[int, str]:
    if "text" in b:
        return rules.words(b["text"]), b["text"]
    if "toolResult" in b:
        n, texts = 0, []
        for c in (b["toolResult"] or {}).get("content") or []:
            if "text" in c:
                n += rules.words(c["text"])
                texts.append(c["text"])
            elif "json" in c:
                n += rules.words_in(c["json"])
                texts.append(orjson.dumps(c["json"]).decode())
        return n, " ".join(texts)
    return 0, ""


def _validate(body: dict[str, Any]) -> Response | None:
    msgs = body.get("messages")
    if msgs is None:
        return error(
            400,
            "1 validation error detected: Value null at 'messages' failed to satisfy "
            "constraint: Member must not be null",
        )
    if not isinstance(msgs, list) or not msgs:
        return error(
            400,
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message.",
        )
    prev_role, prev_tools = None, 0
    for i, m in enumerate(msgs):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            return error(
                400,
                f"1 validation error detected: Value '{role}' at 'messages.{i + 1}.member.role' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[user, assistant]",
            )
        if i == 0 and role != "user":
            return error(
                400,
                "A conversation must start with a user message. Try again with a "
                "conversation that starts with a user message.",
            )
        if role == prev_role:
            return error(
                400,
                "A conversation must alternate between user and assistant roles. Make sure "
                "the conversation alternates between user and assistant roles and try again.",
            )
        content = m.get("content")
        if not isinstance(content, list) or not content:
            return error(
                400,
                f"The content field in the Message object at messages.{i} is empty. Add a "
                "ContentBlock object to the content field and try again.",
            )
        results = sum(1 for b in content if isinstance(b, dict) and "toolResult" in b)
        if results > prev_tools:
            return error(
                400,
                f"The number of toolResult blocks at messages.{i}.content exceeds the number "
                "of toolUse blocks of previous turn.",
            )
        prev_tools = sum(1 for b in content if isinstance(b, dict) and "toolUse" in b)
        prev_role = role
    return None


def _decide(body: dict[str, Any]) -> rules.Outcome:
    prompt = sum(rules.words(s.get("text", "")) for s in body.get("system") or [] if isinstance(s, dict))
    last = ""
    for m in body["messages"]:
        texts = []
        for b in m["content"]:
            n, t = _block_text(b) if isinstance(b, dict) else (0, "")
            prompt += n
            if t:
                texts.append(t)
        last = " ".join(texts)
    tc = body.get("toolConfig") or {}
    tools = [(t.get("toolSpec") or {}).get("name") for t in tc.get("tools") or [] if isinstance(t, dict)]
    tools = [t for t in tools if t]
    ch = tc.get("toolChoice") or {}
    choice = "required" if "any" in ch else (ch["tool"].get("name") if "tool" in ch else None)
    ic = body.get("inferenceConfig") or {}
    return rules.decide(
        prompt_tokens=prompt, last_text=last, tool_names=tools, tool_choice=choice, max_tokens=ic.get("maxTokens")
    )


def _stop(o: rules.Outcome) -> str:
    return "tool_use" if o.tool_call else ("max_tokens" if o.truncated else "end_turn")


def _usage(o: rules.Outcome) -> dict[str, int]:
    u = {"inputTokens": o.plain_in, "outputTokens": o.tokens_out, "totalTokens": o.tokens_in + o.tokens_out}
    if o.cache_read or o.cache_write:
        u.update(cacheReadInputTokens=o.cache_read, cacheWriteInputTokens=o.cache_write)
    return u


async def converse(ctx: Ctx, request: Request) -> Response:
    model, body, bad = await _prologue(ctx, request)
    if bad is not None:
        return bad
    assert body is not None
    if "embed" in model:
        return error(
            400,
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        )
    if (bad := _validate(body)) is not None:
        return bad
    fault = await apply_faults(ctx, FAMILY, model, _fault_error)
    if isinstance(fault, Response):
        return fault
    o = _decide(body)
    if request.url.path.endswith("/converse-stream"):
        return stream(
            _frames(o), "application/vnd.amazon.eventstream", fault, headers={"x-amzn-RequestId": str(uuid.uuid4())}
        )
    if o.tool_call:
        content = [
            {
                "toolUse": {
                    "toolUseId": "tooluse_" + uuid.uuid4().hex[:22],
                    "name": o.tool_call.name,
                    "input": o.tool_call.arguments,
                }
            }
        ]
    else:
        content = [{"text": o.text}]
    payload = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _stop(o),
        "usage": _usage(o),
        "metrics": {"latencyMs": 1},
    }
    return reply(payload, fault, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _frames(o: rules.Outcome):
    pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

    def ev(kind: str, data: dict[str, Any], i: int) -> bytes:
        return event_frame(kind, orjson.dumps(dict(data, p=pad[: 3 + i % 20])))

    yield ev("messageStart", {"role": "assistant"}, 0)
    if o.tool_call:
        yield ev(
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": "tooluse_" + uuid.uuid4().hex[:22], "name": o.tool_call.name}},
            },
            1,
        )
        args = o.tool_call.arguments_json
        for i in range(0, len(args), 8):
            yield ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": args[i : i + 8]}}}, i)
    else:
        for i, piece in enumerate(o.chunks):
            yield ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}, i)
    yield ev("contentBlockStop", {"contentBlockIndex": 0}, 2)
    yield ev("messageStop", {"stopReason": _stop(o)}, 3)
    yield ev("metadata", {"usage": _usage(o), "metrics": {"latencyMs": 1}}, 4)


async def invoke(ctx: Ctx, request: Request) -> Response:
    """InvokeModel (and InvokeModelWithResponseStream) for Claude's Messages body and for Titan
    text embeddings."""
    model, body, bad = await _prologue(ctx, request)
    if bad is not None:
        return bad
    assert body is not None
    if "anthropic.claude" in model:
        probe, bad = bedrock_claude.check(ctx, body, error)
        if bad is not None:
            return bad
        fault = await apply_faults(ctx, FAMILY, model, _fault_error)
        if isinstance(fault, Response):
            return fault
        return bedrock_claude.answer(model, probe, request.url.path.endswith("-with-response-stream"), fault)
    if "embed" not in model or request.url.path.endswith("-with-response-stream"):
        return error(400, "The fake upstream implements InvokeModel only for Claude and embedding models.")
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        return error(
            400,
            "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.",
        )
    fault = await apply_faults(ctx, FAMILY, model, _fault_error)
    if isinstance(fault, Response):
        return fault
    vec = rules.embedding(text)
    payload = {"embedding": vec, "embeddingsByType": {"float": vec}, "inputTextTokenCount": rules.words(text)}
    return reply(payload, fault)
