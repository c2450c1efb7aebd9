"""Plumbing shared by the family modules: credentials, JSON I/O, faults, streaming."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .control import Control, Fault


@dataclass(frozen=True)
class Credentials:
    """The only credentials the fake accepts, per family (test values, not real secrets)."""

    openai_key: str = "sk-fake-openai-0123456789abcdef"
    anthropic_key: str = "sk-ant-fake-0123456789abcdef"
    google_key: str = "AIzaFakeGoogleKey0123456789abcdef"
    aws_access_key_id: str = "AKIAFAKEACCESSKEY01"
    aws_secret_key: str = "fakeSecretAccessKey/0123456789abcdefABCDEF"


DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"],
    "anthropic": ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"],
    "google": ["gemini-2.0-flash", "text-embedding-004"],
    "bedrock": [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.titan-embed-text-v2:0",
        "meta.llama3-8b-instruct-v1:0",
    ],
}


@dataclass
class Ctx:
    """Everything a handler needs: accepted credentials, models, the fault switchboard."""

    creds: Credentials
    control: Control
    models: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_MODELS.items()})
    stored: dict[str, Any] = field(default_factory=dict)  # OpenAI Responses kept for previous_response_id


class BadBody(Exception):
    """The request body is not a JSON object."""


ErrorFn = Callable[[int, str, dict[str, str]], Response]
"""A family's error answer: (status, message, extra headers) -> Response in its error shape."""


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=headers, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    """Parse the body as a JSON object; raise BadBody otherwise."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadBody(str(exc)) from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body


async def read_call(
    ctx: Ctx,
    request: Request,
    family: str,
    check_auth: Callable[[Ctx, Request], Response | None],
    error: Callable[[int, str], Response],
    bad_json: str,
) -> dict[str, Any] | Response:
    """Authenticate, parse the JSON body and count the call (keeping the body once it parsed).

    Returns the body, or the Response to send: the auth failure, or a 400 saying `bad_json`.
    """
    path = request.url.path
    if (denied := check_auth(ctx, request)) is not None:
        ctx.control.record(path, family)
        return denied
    try:
        body = await read_json(request)
    except BadBody:
        ctx.control.record(path, family)
        return error(400, bad_json)
    ctx.control.record(path, family, body)
    return body


async def listing_refusal(
    ctx: Ctx, request: Request, family: str, denied: Response | None, error: ErrorFn
) -> Response | None:
    """Count a model-listing call; the answer to give instead of the list, if any: `denied`
    (the family's auth failure) or an injected error. A drop fault is used up but not honoured."""
    ctx.control.record(request.url.path, family)
    if denied is not None:
        return denied
    outcome = await apply_faults(ctx, family, None, error)
    return outcome if isinstance(outcome, Response) else None


def reply(payload: dict[str, Any], drop: Fault | None, headers: dict[str, str] | None = None) -> Response:
    """The JSON answer; with a drop fault, a body cut off halfway (sent without `headers`)."""
    if drop is not None:
        return dropped_body(orjson.dumps(payload))
    return json_response(payload, headers=headers)


async def apply_faults(ctx: Ctx, family: str, model: str | None, error: ErrorFn) -> Response | Fault | None:
    """Latency, then the first armed fault matching (family, model).

    Returns an error Response to send, a "drop" Fault for the handler to honour, or None.
    Blocks (asynchronously) for latency and hangs.
    """
    delay = ctx.control.latency_for(family)
    if delay > 0:
        await asyncio.sleep(delay)
    fault = ctx.control.take(family, model)
    if fault is None:
        return None
    if fault.kind == "hang":
        await asyncio.sleep(fault.seconds)
        return None
    if fault.kind == "status":
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = (
                str(int(fault.retry_after)) if float(fault.retry_after).is_integer() else str(fault.retry_after)
            )
        return error(fault.status, fault.message or _default_message(fault.status), headers)
    return fault  # drop


_DEFAULT_MESSAGES = {
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    529: "Overloaded",
}


def _default_message(status: int) -> str:
    return _DEFAULT_MESSAGES.get(status, f"Injected error {status}.")


def reworded(error: ErrorFn, own_messages: Mapping[int, str]) -> ErrorFn:
    """An `apply_faults` error for a provider with its own wording: the default 429/500/503 texts
    and "Injected error N." become `own_messages[status]` where it has one; a message the test
    chose is kept."""
    generic = {_DEFAULT_MESSAGES[s] for s in (429, 500, 503)}

    def fault_error(status: int, message: str, headers: dict[str, str]) -> Response:
        if message.startswith("Injected") or message in generic:
            message = own_messages.get(status, message)
        return error(status, message, headers)

    return fault_error


class DroppedConnection(Exception):
    """Raised inside a response body to make the server cut the connection."""


class ChunkedResponse(Response):
    """Streams pre-built chunks with plain ASGI sends (cheaper than StreamingResponse's task
    group per request); with `drop_after`, the connection is cut after that many chunks."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        media_type: str,
        drop_after: int | None = None,
        headers: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        super().__init__(None, status_code=status_code, headers=headers, media_type=media_type)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._chunks = chunks
        self._drop_after = drop_after

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[override]
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for i, chunk in enumerate(self._chunks):
            if self._drop_after is not None and i >= self._drop_after:
                raise DroppedConnection("injected drop")
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if self._drop_after is not None:
                await asyncio.sleep(0)  # let the server flush what was sent before dropping
        if self._drop_after is not None:
            raise DroppedConnection("injected drop")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def stream(
    chunks: Iterable[bytes], media_type: str, drop: Fault | None, headers: dict[str, str] | None = None
) -> Response:
    """Stream `chunks`; with a drop fault, cut the connection after `after_chunks` of them."""
    return ChunkedResponse(chunks, media_type, drop.after_chunks if drop is not None else None, headers)


def dropped_body(body: bytes, status: int = 200) -> Response:
    """Non-streaming drop: announce the full length, send half, then cut the connection."""
    resp = ChunkedResponse([body[: len(body) // 2]], "application/json", drop_after=1, status_code=status)
    resp.headers["content-length"] = str(len(body))
    return resp
