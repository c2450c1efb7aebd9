"""The OpenAPI document and `/docs`, true to what the server answers.

FastAPI derives paths, parameters and request bodies from the routes; this module replaces
what it cannot know: the status codes each operation really answers (400 for bad input, never
422), typed response schemas (`api.openapi_models`), bearer security, and the `/v1` gateway,
which is a raw ASGI app outside FastAPI (`api.openapi_gateway`). `/docs` is Swagger UI from
assets shipped in the `fastapi-offline` wheel: nothing is loaded from another host.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import openapi_models as m
from api.openapi_gateway import gateway_paths, gateway_schemas

DOCS_ASSETS = "/docs/assets"
PUBLIC = {
    ("POST", "/user/login"),
    ("POST", "/user/refresh"),
    ("POST", "/user/logout"),
    ("GET", "/health"),
    ("GET", "/metrics"),
}
ERROR_TEXT = {
    400: "Bad parameters or body (validation errors included)",
    401: "Missing, invalid or expired credentials",
    403: "Role too low, or the object is in use",
    404: "Not found, or not visible to the caller",
    409: "Name or email already used; at login: the email and password open accounts in several orgs (send orgId)",
    413: "Request body too large",
    429: "Too many failed sign-ins (Retry-After says how long to wait)",
    503: "Usage statistics are unavailable (analytics store down or not in this process)",
}

# (method, path) -> (success status, response model, error statuses). Every management route
# is listed (a test checks both directions), with the statuses its handler really answers.
_READ = (401, 404)
_WRITE = (400, 401, 403, 404, 413)
_STATS = (400, 401, 404, 503)
OPERATIONS: dict[tuple[str, str], tuple[int, type[BaseModel] | None, tuple[int, ...]]] = {
    ("GET", "/health"): (200, m.HealthResponse, (503,)),
    ("GET", "/metrics"): (200, None, ()),
    ("POST", "/user/login"): (200, m.LoginResponse, (400, 401, 409, 413, 429)),
    ("POST", "/user/refresh"): (200, m.LoginResponse, (400, 401, 413)),
    ("POST", "/user/logout"): (200, m.MessageResponse, (400, 413)),
    ("POST", "/user"): (201, m.UserResponse, (400, 401, 403, 409, 413)),
    ("GET", "/user/me"): (200, m.UserResponse, (401,)),
    ("PUT", "/user/{user_id}"): (200, m.MessageResponse, _WRITE),
    ("POST", "/user/token"): (201, m.ApiTokenCreated, (400, 401, 413)),
    ("GET", "/user/token"): (200, m.ApiTokenList, (401,)),
    ("DELETE", "/user/token/{token_id}"): (200, m.MessageResponse, _READ),
    ("POST", "/workspace"): (201, m.WorkspaceResponse, (400, 401, 409, 413)),
    ("GET", "/workspace"): (200, m.WorkspaceList, (401,)),
    ("GET", "/workspace/{workspace_id}"): (200, m.WorkspaceResponse, _READ),
    ("PUT", "/workspace/{workspace_id}"): (200, m.WorkspaceResponse, _WRITE + (409,)),
    ("DELETE", "/workspace/{workspace_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("POST", "/workspace/{workspace_id}/users"): (200, m.MessageResponse, _WRITE + (409,)),
    ("PUT", "/workspace/{workspace_id}/users/{user_id}"): (200, m.MessageResponse, _WRITE),
    ("DELETE", "/workspace/{workspace_id}/users/{user_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("GET", "/ai/llm/stats"): (200, m.AiLlmStatsResponse, _STATS),
    ("GET", "/aistats/minute"): (200, m.AiStatsResponse, _STATS),
    ("GET", "/aistats/daily"): (200, m.AiStatsResponse, _STATS),
    ("POST", "/ai/llm"): (200, m.AiLlmChanged, _WRITE + (409,)),
    ("GET", "/ai/llm"): (200, m.AiLlmList, (400, 401, 404)),
    ("GET", "/ai/llm/available"): (200, m.AiLlmList, (401,)),
    ("PUT", "/ai/llm/{ai_llm_id}"): (200, m.AiLlmChanged, _WRITE + (409,)),
    ("DELETE", "/ai/llm/{ai_llm_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("POST", "/ai/llm/{ai_llm_id}/validate"): (200, m.ValidateResponse, (401, 403, 404)),
    ("POST", "/repo"): (200, m.RepoCreated, _WRITE + (409,)),
    ("GET", "/repo"): (200, m.RepoList, (400, 401, 404)),
    ("PUT", "/repo/{repo_id}"): (200, m.MessageResponse, _WRITE + (409,)),
    ("DELETE", "/repo/{repo_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("POST", "/repo/{repo_id}/ai/apikey"): (201, m.RepoApiKeyCreated, _WRITE),
    ("GET", "/repo/{repo_id}/ai/apikey"): (200, m.RepoApiKeyList, _READ),
    ("PUT", "/repo/{repo_id}/ai/apikey/{key_id}"): (200, m.MessageResponse, _WRITE),
    ("DELETE", "/repo/{repo_id}/ai/apikey/{key_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("GET", "/policy/violations"): (200, m.ViolationPage, _STATS),
    ("GET", "/policy/alerts"): (200, m.AlertPage, _STATS),
    ("POST", "/policy"): (200, m.PolicyResponse, _WRITE),
    ("GET", "/policy"): (200, m.PolicyList, (400, 401, 404)),
    ("GET", "/policy/{policy_id}"): (200, m.PolicyResponse, _READ),
    ("PUT", "/policy/{policy_id}"): (200, m.PolicyResponse, _WRITE),
    ("DELETE", "/policy/{policy_id}"): (200, m.MessageResponse, (401, 403, 404)),
    ("GET", "/policy/{policy_id}/violations"): (200, m.ViolationPage, _STATS),
    ("GET", "/policy/{policy_id}/alerts"): (200, m.AlertPage, _STATS),
}

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A login access token (JWT from POST /user/login) or a management "
        "API token (`tgm_...`, from POST /user/token).",
    },
    "repoKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A repository AI API key secret (`tg_...`), for /v1.",
    },
    "anthropicKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A repository AI API key secret, as Anthropic SDKs send it (/v1/messages).",
    },
}


def _component_schemas() -> dict[str, Any]:
    models = {model for _, model, _ in OPERATIONS.values() if model is not None} | {m.ErrorResponse}
    _, defs = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda c: c.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    return defs.get("$defs", {})


def _json_ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _responses(status: int, model: type[BaseModel] | None, errors: tuple[int, ...]) -> dict[str, Any]:
    if model is None:
        ok = {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
    else:
        ok = {"description": "Success", "content": _json_ref(model.__name__)}
    out: dict[str, Any] = {str(status): ok}
    for code in sorted(set(errors)):
        out[str(code)] = {"description": ERROR_TEXT[code], "content": _json_ref("ErrorResponse")}
    return out


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole document: management routes from `app`, `/v1` from the gateway's route table."""
    doc = get_openapi(
        title="Tollgate",
        version=app.version,
        routes=app.routes,
        description="Management API (workspaces, AI LLM configurations, repositories and "
        "their AI API keys, policies, statistics, tokens) and the OpenAI/"
        "Anthropic-compatible gateway under `/v1`. Errors of the management API are "
        "`{success:false,message}`; validation errors are 400, never 422.",
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_component_schemas())
    schemas.update(gateway_schemas())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            status, model, errors = OPERATIONS.get((method.upper(), path), (200, None, (400, 401)))
            op["responses"] = _responses(status, model, errors)
            op["security"] = [] if (method.upper(), path) in PUBLIC else [{"bearerAuth": []}]
    doc["paths"].update(gateway_paths())
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    doc["tags"] = [
        {
            "name": "gateway",
            "description": "OpenAI- and Anthropic-compatible surfaces; errors in the surface's own shape",
        }
    ]
    return doc


def install_docs(app: FastAPI) -> None:
    """`/openapi.json` (built once, on first request) and `/docs` from bundled assets."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = build_openapi(app)
        return cache["doc"]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(openapi())

    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Tollgate API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )


def document() -> dict[str, Any]:
    """The document without a running process (for `scripts/gen_docs.py` and the clients)."""
    from api.app import _routers

    app = FastAPI(title="Tollgate", version="0.1.0")
    for router in _routers():
        app.include_router(router)
    return build_openapi(app)
