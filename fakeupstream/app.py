"""The ASGI app: one port serving the four families (paths differ; `/v1/models` is shared by
OpenAI and Anthropic and told apart by the auth header), plus `/_control` for fault injection.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import anthropic, bedrock, google, openai, responses
from .common import Credentials, Ctx, json_response
from .control import Control


def build_app(
    creds: Credentials | None = None, control: Control | None = None, models: dict[str, list[str]] | None = None
) -> Starlette:
    """Build the fake; `app.state.ctx` holds credentials, models and the Control."""
    ctx = Ctx(creds=creds or Credentials(), control=control or Control())
    if models:
        ctx.models.update({k: list(v) for k, v in models.items()})

    async def v1_models(request: Request) -> Response:
        if "x-api-key" in request.headers or "anthropic-version" in request.headers:
            return await anthropic.models(ctx, request)
        return await openai.models(ctx, request)

    async def control_get(request: Request) -> Response:
        return json_response({"counts": ctx.control.counts(), "pending": ctx.control.pending()})

    async def control_post(request: Request) -> Response:
        try:
            cmd = orjson.loads(await request.body())
            return json_response(ctx.control.apply(cmd))
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"ok": False, "message": str(exc)}, 400)

    def bind(fn):
        async def handler(request: Request) -> Response:
            return await fn(ctx, request)

        return handler

    routes = [
        Route("/v1/models", v1_models, methods=["GET"]),
        Route("/models", bind(openai.models), methods=["GET"]),
        Route("/v1/chat/completions", bind(openai.chat), methods=["POST"]),
        Route("/chat/completions", bind(openai.chat), methods=["POST"]),
        Route("/v1/embeddings", bind(openai.embeddings), methods=["POST"]),
        Route("/v1/responses", bind(responses.create), methods=["POST"]),
        Route("/responses", bind(responses.create), methods=["POST"]),
        Route("/embeddings", bind(openai.embeddings), methods=["POST"]),
        Route("/v1/messages", bind(anthropic.messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", bind(anthropic.count_tokens), methods=["POST"]),
        Route("/v1beta/models", bind(google.list_models), methods=["GET"]),
        Route("/v1beta/models/{rest:path}", bind(google.model_call), methods=["POST"]),
        Route("/foundation-models", bind(bedrock.list_models), methods=["GET"]),
        Route("/model/{model_id:path}/converse", bind(bedrock.converse), methods=["POST"]),
        Route("/model/{model_id:path}/converse-stream", bind(bedrock.converse), methods=["POST"]),
        Route("/model/{model_id:path}/invoke", bind(bedrock.invoke), methods=["POST"]),
        Route("/model/{model_id:path}/invoke-with-response-stream", bind(bedrock.invoke), methods=["POST"]),
        Route("/_control", control_get, methods=["GET"]),
        Route("/_control", control_post, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.ctx = ctx
    return app
